"""Phone numbers (SPEC §3): parsed with ``phonenumbers``, stored E.164.

``+7 912 345-67-89``, ``89123456789`` and ``+79123456789`` are one number.  Letters, lists and
control characters are refused before parsing, so a single request can never address more than
one number (SECURITY.md: at most one SMS per request).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import phonenumbers
from phonenumbers import PhoneNumberType

from dostup.core.errors import ValidationFailed

_ALLOWED = re.compile(r"^[0-9+()\-. \u00a0]{1,32}$")
_MOBILE_TYPES = {PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE}


@dataclass(frozen=True, slots=True)
class Phone:
    e164: str
    region: str
    number_type: int

    @property
    def is_mobile(self) -> bool:
        return self.number_type in _MOBILE_TYPES

    def sms_capable(self, sms_countries: Sequence[str]) -> bool:
        """SMS only to mobile numbers of the allowed countries (SECURITY.md: SMS pumping)."""
        return self.is_mobile and self.region in sms_countries


def parse_phone(raw: str | None, region: str = "RU", *, field: str = "phone") -> Phone:
    value = (raw or "").strip()
    if not value:
        raise ValidationFailed("phone.required", field=field, code="required")
    if not _ALLOWED.match(value) or value.count("+") > 1 or (value.count("+") == 1 and not value.startswith("+")):
        raise ValidationFailed("phone.invalid", field=field)
    region = (region or "RU").upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise ValidationFailed("phone.country_invalid", field="country")
    try:
        number = phonenumbers.parse(value, None if value.startswith("+") else region)
    except phonenumbers.NumberParseException:
        raise ValidationFailed("phone.invalid", field=field) from None
    if not phonenumbers.is_valid_number(number):
        raise ValidationFailed("phone.invalid", field=field)
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    real_region = phonenumbers.region_code_for_number(number) or region
    return Phone(e164=e164, region=real_region, number_type=phonenumbers.number_type(number))


def format_national(e164: str) -> str:
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return e164
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


@lru_cache(maxsize=2)
def country_choices(locale: str) -> list[tuple[str, str, int]]:
    """(region, localised name, dial code), Russia first, then by name."""
    from babel import Locale

    names = Locale.parse(locale).territories
    rows = [
        (r, names.get(r, r), phonenumbers.country_code_for_region(r))
        for r in phonenumbers.SUPPORTED_REGIONS
        if r != "001"
    ]
    rows.sort(key=lambda row: (row[0] != "RU", row[1]))
    return rows
