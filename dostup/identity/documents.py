"""Russian document numbers (SPEC §3): INN, KPP, OGRN, OGRNIP, SNILS, passport, card numbers.

Check digits by ``python-stdnum`` where it covers them (INN, OGRN/OGRNIP), by the published
algorithms otherwise (SNILS: the ПФР checksum); card numbers by Luhn (stdnum).  Separators (spaces, hyphens) are
accepted on input and dropped; everything else that is not a digit is refused.
"""

from __future__ import annotations

import re

from stdnum import luhn
from stdnum.exceptions import ValidationError as StdnumError
from stdnum.ru import inn as _inn
from stdnum.ru import ogrn as _ogrn

from dostup.core.errors import ValidationFailed

_SEPARATORS = re.compile(r"[\s\-]")


def _digits(raw: str | None, field: str, message: str, max_len: int = 40) -> str:
    value = _SEPARATORS.sub("", (raw or "").strip())
    if not value:
        raise ValidationFailed(f"{message}.required", field=field, code="required")
    if len(value) > max_len or not (value.isascii() and value.isdigit()):
        raise ValidationFailed(f"{message}.format", field=field)
    return value


def parse_inn(raw: str | None, *, length: int, field: str = "inn") -> str:
    """INN of an organisation (10 digits) or of a person / sole trader (12 digits)."""
    value = _digits(raw, field, "inn")
    if len(value) != length:
        raise ValidationFailed(f"inn.length_{length}", field=field)
    try:
        _inn.validate(value)
    except StdnumError:
        raise ValidationFailed("inn.checksum", field=field) from None
    return value


def parse_kpp(raw: str | None, *, field: str = "kpp") -> str:
    """KPP: 4 digits (tax office), 2 digits or capital Latin letters (reason), 3 digits."""
    value = _SEPARATORS.sub("", (raw or "").strip()).upper()
    if not value:
        raise ValidationFailed("kpp.required", field=field, code="required")
    if not re.fullmatch(r"\d{4}[\dA-Z]{2}\d{3}", value):
        raise ValidationFailed("kpp.format", field=field)
    return value


def parse_ogrn(raw: str | None, *, length: int = 13, field: str = "ogrn") -> str:
    """OGRN (13 digits, organisations) or OGRNIP (15 digits, sole traders) with its check digit."""
    name = "ogrn" if length == 13 else "ogrnip"
    value = _digits(raw, field, name)
    if len(value) != length:
        raise ValidationFailed(f"{name}.length", field=field)
    try:
        _ogrn.validate(value)
    except StdnumError:
        raise ValidationFailed(f"{name}.checksum", field=field) from None
    return value


def snils_checksum(first9: str) -> str:
    total = sum(int(d) * (9 - i) for i, d in enumerate(first9))
    if total < 100:
        return f"{total:02d}"
    if total in (100, 101):
        return "00"
    rest = total % 101
    return "00" if rest == 100 else f"{rest:02d}"


def parse_snils(raw: str | None, *, field: str = "snils") -> str:
    """SNILS: 11 digits; the last two are the checksum of the first nine (numbers above 001-001-998)."""
    value = _digits(raw, field, "snils")
    if len(value) != 11:
        raise ValidationFailed("snils.length", field=field)
    if int(value[:9]) > 1001998 and snils_checksum(value[:9]) != value[9:]:
        raise ValidationFailed("snils.checksum", field=field)
    return value


def format_snils(value: str) -> str:
    return f"{value[:3]}-{value[3:6]}-{value[6:9]} {value[9:]}"


def parse_card(raw: str | None, *, field: str = "card") -> str:
    """A payment card number: 13–19 digits with a valid Luhn check digit."""
    value = _digits(raw, field, "card")
    if not 13 <= len(value) <= 19:
        raise ValidationFailed("card.length", field=field)
    if not luhn.is_valid(value):
        raise ValidationFailed("card.checksum", field=field)
    return value


def mask_card(value: str) -> str:
    """``2202 **** **** 1234``: the first four and the last four digits only."""
    return f"{value[:4]} **** **** {value[-4:]}"


def parse_passport(raw_series: str | None, raw_number: str | None) -> tuple[str, str]:
    series = _digits(raw_series, "passport_series", "passport_series")
    number = _digits(raw_number, "passport_number", "passport_number")
    if len(series) != 4:
        raise ValidationFailed("passport_series.format", field="passport_series")
    if len(number) != 6:
        raise ValidationFailed("passport_number.format", field="passport_number")
    return series, number


def parse_department_code(raw: str | None, *, field: str = "department_code") -> str:
    """Код подразделения: ``NNN-NNN``."""
    value = (raw or "").strip()
    if not value:
        raise ValidationFailed("department_code.required", field=field, code="required")
    if not re.fullmatch(r"\d{3}-?\d{3}", value):
        raise ValidationFailed("department_code.format", field=field)
    digits = value.replace("-", "")
    return f"{digits[:3]}-{digits[3:]}"
