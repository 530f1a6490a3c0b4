"""Russian document numbers: valid and invalid INN/KPP/OGRN/OGRNIP/SNILS/card/passport values."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dostup.core.errors import ValidationFailed
from dostup.core.i18n import Catalog
from dostup.identity import documents as D


def _fails(fn, *args, **kw) -> str:
    with pytest.raises(ValidationFailed) as err:
        fn(*args, **kw)
    assert Catalog.load().has(err.value.message_id, "ru"), err.value.message_id
    return err.value.message_id


@pytest.mark.parametrize("value", ["7707083893", "7702070139", " 7707 083 893 "])
def test_legal_inn_valid(value):
    assert D.parse_inn(value, length=10) == value.replace(" ", "")


@pytest.mark.parametrize("value", ["500100732259", "773370857141"])
def test_person_inn_valid(value):
    assert D.parse_inn(value, length=12) == value


@pytest.mark.parametrize(("value", "length", "message"), [
    ("7707083894", 10, "inn.checksum"), ("770708389", 10, "inn.length_10"), ("500100732259", 10, "inn.length_10"),
    ("500100732258", 12, "inn.checksum"), ("77O7083893", 10, "inn.format"), ("", 10, "inn.required"),
    ("７７０７０８３８９３", 10, "inn.format"),
])
def test_inn_invalid(value, length, message):
    assert _fails(D.parse_inn, value, length=length) == message


def test_kpp():
    assert D.parse_kpp("773601001") == "773601001"
    assert D.parse_kpp("7736ab001") == "7736AB001"
    for bad in ("77360100", "7736010011", "77360100Z", "А73601001"):
        assert _fails(D.parse_kpp, bad) == "kpp.format"


def test_ogrn_and_ogrnip():
    assert D.parse_ogrn("1027700132195") == "1027700132195"
    assert D.parse_ogrn("304500116000157", length=15) == "304500116000157"
    assert _fails(D.parse_ogrn, "1027700132194") == "ogrn.checksum"
    assert _fails(D.parse_ogrn, "102770013219") == "ogrn.length"
    assert _fails(D.parse_ogrn, "304500116000158", length=15) == "ogrnip.checksum"
    assert _fails(D.parse_ogrn, "1027700132195", length=15) == "ogrnip.length"


def test_snils_checksum_and_format():
    assert D.parse_snils("112-233-445 95") == "11223344595"
    assert D.format_snils("11223344595") == "112-233-445 95"
    assert _fails(D.parse_snils, "112-233-445 96") == "snils.checksum"
    assert _fails(D.parse_snils, "1122334459") == "snils.length"
    assert _fails(D.parse_snils, "112-233-445 9x") == "snils.format"


def test_card_numbers_by_luhn_and_masking():
    assert D.parse_card("4276 3800 1234 5679") == "4276380012345679"
    assert _fails(D.parse_card, "4276 3800 1234 5678") == "card.checksum"
    assert _fails(D.parse_card, "4276380012") == "card.length"
    assert D.mask_card("4276380012345679") == "4276 **** **** 5679"


def test_passport_and_department_code():
    assert D.parse_passport("45 09", "123456") == ("4509", "123456")
    assert _fails(D.parse_passport, "450", "123456") == "passport_series.format"
    assert _fails(D.parse_passport, "4509", "12345") == "passport_number.format"
    assert D.parse_department_code("770001") == "770-001"
    assert _fails(D.parse_department_code, "77-0001") == "department_code.format"


@given(st.text(max_size=60))
def test_parsers_raise_only_validation_errors(text):
    for fn in (lambda v: D.parse_inn(v, length=10), lambda v: D.parse_inn(v, length=12), D.parse_kpp,
               D.parse_ogrn, lambda v: D.parse_ogrn(v, length=15), D.parse_snils, D.parse_card,
               D.parse_department_code):
        try:
            fn(text)
        except ValidationFailed:
            pass
