"""The full profile of «Стандартная учётная запись» (SPEC §4.8): every field's bad input is refused with its
own message and field, all problems of a form at once; good input is normalised."""

from __future__ import annotations

import datetime as dt

import pytest

from dostup.core.errors import FormErrors
from dostup.core.i18n import Catalog
from dostup.identity.person import parse_person

TODAY = dt.date(2026, 12, 4)
GOOD = {"family_name": "Петрова", "given_name": "Анна", "middle_name": "Сергеевна", "no_middle_name": False,
        "gender": "female", "birth_date": "1990-05-17", "birth_place": "гор. Тверь", "citizenship": "RU",
        "passport_series": "45 08", "passport_number": "123456", "passport_issued_on": "17.06.2010",
        "passport_division_code": "770001", "passport_issuer": "ОВД района Арбат гор. Москвы",
        "snils": "112-233-445 95"}


def _errors(**changes: object) -> dict[str, str]:
    with pytest.raises(FormErrors) as caught:
        parse_person({**GOOD, **changes}, TODAY)
    catalog = Catalog.load()
    return {e.field or "": catalog.text(e.message_id, "ru", **e.params) for e in caught.value.errors}


def test_a_complete_profile_is_normalised():
    person = parse_person(GOOD, TODAY)
    assert (person.passport_series, person.passport_division_code, person.snils) == ("4508", "770-001", "11223344595")
    assert person.birth_date == dt.date(1990, 5, 17) and person.passport_issued_on == dt.date(2010, 6, 17)
    assert person.snapshot()["birth_date"] == "1990-05-17" and person.middle_name == "Сергеевна"


def test_no_patronymic_is_a_tick_instead_of_a_name():
    person = parse_person({**GOOD, "middle_name": "", "no_middle_name": True}, TODAY)
    assert person.middle_name is None and person.no_middle_name
    assert _errors(middle_name="") == {"middle_name": "Введите отчество или поставьте отметку «Нет отчества»"}
    assert _errors(no_middle_name=True) == {
        "middle_name": "Отчество указано, а отмечено «Нет отчества»: оставьте что-то одно"}


@pytest.mark.parametrize(("field", "value", "message"), [
    ("family_name", "", "Введите фамилию"),
    ("family_name", None, "Введите фамилию"),
    ("family_name", "Петров\r\nBcc: x", "должно содержать буквы"),
    ("family_name", "Я" * 101, "100"),
    ("given_name", "  ", "Введите имя"),
    ("given_name", "123", "должно содержать буквы"),
    ("middle_name", "\u202eвонавИ", "должно содержать буквы"),
    ("gender", "", "Укажите пол"),
    ("gender", "other", "Укажите пол"),
    ("gender", 1, "Укажите пол"),
    ("birth_date", "", "Введите дату"),
    ("birth_date", "17/05/1990", "ДД.ММ.ГГГГ"),
    ("birth_date", "31.02.1990", "ДД.ММ.ГГГГ"),
    ("birth_date", "2020-01-01", "с 14 лет"),
    ("birth_date", "1899-12-31", "с 14 лет"),
    ("birth_place", "", "Укажите место рождения"),
    ("birth_place", "12345", "должно содержать буквы"),
    ("birth_place", "Тверь\x00", "должно содержать буквы"),
    ("birth_place", "Т" * 201, "Не длиннее 200"),
    ("citizenship", "", "Выберите гражданство"),
    ("citizenship", "XX", "Выберите гражданство"),
    ("citizenship", "Россия", "Выберите гражданство"),
    ("passport_series", "", "серию"),
    ("passport_series", "45O8", "4 цифр"),
    ("passport_series", "450", "4 цифр"),
    ("passport_number", "", "номер"),
    ("passport_number", "12345", "6 цифр"),
    ("passport_issued_on", "", "Введите дату"),
    ("passport_issued_on", "2010-13-01", "ДД.ММ.ГГГГ"),
    ("passport_issued_on", "2027-01-01", "в будущем"),
    ("passport_issued_on", "2003-05-16", "не раньше 14 лет"),
    ("passport_division_code", "", "код подразделения"),
    ("passport_division_code", "77-0001", "000-000"),
    ("passport_issuer", "", "кем выдан"),
    ("passport_issuer", "№ 12", "должно содержать буквы"),
    ("passport_issuer", "О" * 201, "Не длиннее 200"),
    ("snils", "", "СНИЛС"),
    ("snils", "112-233-445 00", "контрольное число"),
    ("snils", "1122334459", "11 цифр"),
])
def test_each_bad_field_is_named_with_its_message(field: str, value: object, message: str):
    errors = _errors(**{field: value})
    assert list(errors) == [field], errors
    assert message.lower() in errors[field].lower(), errors[field]


def test_every_problem_of_a_form_is_reported_at_once():
    errors = _errors(family_name="", gender="", birth_date="x", passport_series="1", snils="1")
    assert set(errors) == {"family_name", "gender", "birth_date", "passport_series", "snils"}
    with pytest.raises(FormErrors) as caught:
        parse_person({}, TODAY)
    assert len(caught.value.errors) == 13  # every field but «Нет отчества»
