"""Unit tests for identifier parsing (SPEC §3): phone, email, login, and their masking.

No database, no HTTP: these are the functions both surfaces call before anything is written.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dostup.core.errors import ValidationFailed
from dostup.core.masking import mask_destination, mask_email, mask_phone
from dostup.identity.email import parse_email
from dostup.identity.login import normalize_login
from dostup.identity.phone import Phone, parse_phone

# Any code point at all, lone surrogates and control characters included: the kind of string a
# JSON body can carry ("\ud800" is valid JSON).
# Hypothesis leaves out surrogates unless asked for them by category.
ANY_CHAR = st.one_of(st.characters(codec=None, exclude_categories=()), st.characters(categories=["Cs"]))


def any_text(max_size: int) -> st.SearchStrategy[str]:
    """``st.text`` drops surrogates even from an alphabet that has them: build strings by hand."""
    return st.lists(ANY_CHAR, max_size=max_size).map("".join)


ANY_TEXT = any_text(max_size=80)


# -- phone -----------------------------------------------------------------------------------

@pytest.mark.parametrize("spelling", ["+7 912 345-67-89", "89123456789", "+79123456789", "8 (912) 345-67-89",
                                      " +7 912 345 67 89 ", "+7\u00a0912\u00a0345\u00a067\u00a089"])
def test_spellings_of_one_russian_number_give_one_e164(spelling):
    assert parse_phone(spelling, "RU").e164 == "+79123456789"


def test_region_is_case_insensitive_and_defaults_to_russia():
    assert parse_phone("89123456789", "ru").e164 == "+79123456789"
    assert parse_phone("89123456789", "").e164 == "+79123456789"


def test_russian_mobile_is_sms_capable():
    phone = parse_phone("+7 912 345-67-89")
    assert phone.region == "RU"
    assert phone.is_mobile
    assert phone.sms_capable(["RU"])


def test_russian_landline_is_not_sms_capable():
    phone = parse_phone("+7 495 123-45-67")
    assert phone.e164 == "+74951234567"
    assert phone.region == "RU"
    assert not phone.is_mobile
    assert not phone.sms_capable(["RU"])


def test_foreign_mobile_is_not_sms_capable_unless_its_country_is_allowed():
    phone = parse_phone("+49 151 23456789", "RU")
    assert phone.e164 == "+4915123456789"
    assert phone.region == "DE"
    assert phone.is_mobile
    assert not phone.sms_capable(["RU"])
    assert phone.sms_capable(["RU", "DE"])


def test_kazakh_mobile_shares_plus_seven_but_is_not_russian():
    phone = parse_phone("+7 701 123 4567", "RU")
    assert phone.region == "KZ"
    assert phone.is_mobile
    assert not phone.sms_capable(["RU"])


def test_international_number_ignores_the_chosen_country():
    assert parse_phone("+49 151 23456789", "FR").e164 == "+4915123456789"


@pytest.mark.parametrize(
    "raw",
    [
        "+7 912 ABC-67-89",  # letters
        "+7 912 345-67-89 доб. 12",  # Cyrillic letters
        "+7912\r\n3456789",  # CR/LF inside
        "+79120000001\r\nX-Injected: 1",
        "+79120000001,+79120000002",  # a list: never two numbers in one request
        "+79120000001;+79120000002",
        "+79120000001 +79120000002",  # two numbers separated by a space: too long / two pluses
        "+7" + "9" * 40,  # too long
        "++79123456789",
        "7+9123456789",
        "+7 000 000-00-00",  # not a valid number
        "123",
        "+",
        "()",
        "+7 912 345-67-8\x00",  # NUL
        "+7 ９１２ 345-67-89",  # full-width digits are refused, not silently converted
        "+7 ٩١٢ 345-67-89",  # Arabic-Indic digits
    ],
)
def test_bad_phone_is_refused_as_phone_invalid(raw):
    with pytest.raises(ValidationFailed) as exc:
        parse_phone(raw, "RU")
    assert exc.value.message_id == "phone.invalid"
    assert exc.value.field == "phone"


@pytest.mark.parametrize("raw", [None, "", "   ", "\t\r\n"])
def test_empty_phone_is_required(raw):
    with pytest.raises(ValidationFailed) as exc:
        parse_phone(raw)
    assert exc.value.message_id == "phone.required"
    assert exc.value.code == "required"
    assert exc.value.field == "phone"


@pytest.mark.parametrize("region", ["XX", "RUS", "001", "ZZ", "\x00\x00"])
def test_unknown_country_names_the_country_field(region):
    with pytest.raises(ValidationFailed) as exc:
        parse_phone("89123456789", region)
    assert exc.value.message_id == "phone.country_invalid"
    assert exc.value.field == "country"


def test_field_name_is_the_callers():
    with pytest.raises(ValidationFailed) as exc:
        parse_phone("abc", field="new_phone")
    assert exc.value.field == "new_phone"


@settings(max_examples=300, deadline=None)
@given(raw=st.one_of(ANY_TEXT, st.text("0123456789+()-. \u00a0", max_size=40), st.none()),
       region=st.one_of(st.sampled_from(["RU", "DE", "KZ", "US", "XX", "", "ru"]), any_text(max_size=4)))
def test_parse_phone_raises_only_validation_failed(raw, region):
    try:
        phone = parse_phone(raw, region)
    except ValidationFailed as exc:
        assert exc.field in ("phone", "country")
        return
    assert isinstance(phone, Phone)
    assert phone.e164.startswith("+") and phone.e164[1:].isdigit() and phone.e164.isascii()
    assert len(phone.e164) <= 16  # E.164: at most 15 digits
    assert parse_phone(phone.e164).e164 == phone.e164  # stable


# -- email -----------------------------------------------------------------------------------

def test_email_is_lower_cased_and_trimmed():
    assert parse_email("  Ivan.Petrov@Example.COM ") == "ivan.petrov@example.com"


@pytest.mark.parametrize(
    "raw",
    [
        "ivan@example.com\r\nBcc: victim@example.com",  # header injection
        "ivan@example.com\nBcc: victim@example.com",
        "ivan\r\n@example.com",
        "ivan@exa\rmple.com",
        "ivan@example.com\x00",
        "ivan.example.com",  # no @
        "ivan@",
        "@example.com",
        "ivan@@example.com",
        "ivan@example.com,petr@example.com",  # a list
        "ivan@example.com;petr@example.com",
        "Ivan <ivan@example.com>",  # display name
        "ivan @example.com",
        "a" * 65 + "@example.com",  # local part over 64 (RFC 5321 §4.5.3.1.1)
        "ivan@" + "a" * 250 + ".ru",  # over 254 in total
        "ivan@example",  # no dot in the domain
        "ivan@exam_ple.com",
    ],
)
def test_bad_email_is_refused(raw):
    with pytest.raises(ValidationFailed) as exc:
        parse_email(raw)
    assert exc.value.message_id == "email.invalid"
    assert exc.value.field == "email"


@pytest.mark.parametrize("raw", [None, "", "   "])
def test_empty_email_is_required(raw):
    with pytest.raises(ValidationFailed) as exc:
        parse_email(raw)
    assert exc.value.message_id == "email.required"
    assert exc.value.code == "required"


@settings(max_examples=300, deadline=None)
@given(raw=st.one_of(ANY_TEXT, st.builds(lambda a, b: f"{a}@{b}", ANY_TEXT, ANY_TEXT), st.none()))
def test_parse_email_raises_only_validation_failed(raw):
    try:
        value = parse_email(raw)
    except ValidationFailed as exc:
        assert exc.field == "email"
        return
    assert value == value.lower()
    assert not any(ch in value for ch in "\r\n\x00,;")
    value.encode("utf-8")  # storable


# -- login -----------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("ivan", "ivan"),
        ("IVAN", "ivan"),  # case folding
        ("Ivan.Petrov-2_0", "ivan.petrov-2_0"),
        ("ｉｖａｎ", "ivan"),  # full-width → NFKC
        ("ＩＶＡＮ", "ivan"),
        ("  ivan  ", "ivan"),
        ("\u212aitty", "kitty"),  # KELVIN SIGN → K → k
        ("ﬁsh", "fish"),  # ligature → NFKC
        ("abc", "abc"),  # 3: the shortest
        ("a" * 64, "a" * 64),  # 64: the longest
        ("i..v", "i..v"),
    ],
)
def test_login_normalisation(raw, expected):
    assert normalize_login(raw) == expected


@pytest.mark.parametrize(
    ("raw", "message_id"),
    [
        (None, "login.required"),
        ("", "login.required"),
        ("   ", "login.required"),
        ("ab", "login.length"),
        ("a" * 65, "login.length"),
        ("ivаn", "login.confusable"),  # Cyrillic «а»
        ("іvan", "login.confusable"),  # Ukrainian «і»
        ("ivαn", "login.confusable"),  # Greek alpha
        ("иван", "login.confusable"),
        ("iv@n", "login.alphabet"),
        ("iv an", "login.alphabet"),
        ("ivan!", "login.alphabet"),
        ("iv\x00an", "login.alphabet"),
        ("iv\r\nan", "login.alphabet"),
        ("ivan'--", "login.alphabet"),
        ("<b>ivan", "login.alphabet"),
        (".ivan", "login.alphabet"),  # edges
        ("ivan.", "login.alphabet"),
        ("-ivan", "login.alphabet"),
        ("ivan_", "login.alphabet"),
        ("İvan", "login.alphabet"),  # dotted capital I folds to i + combining dot
        ("iv\u200ban", "login.alphabet"),  # zero-width space
        ("ivan\u0301", "login.confusable"),  # combining accent: NFKC composes «ń», not ASCII
        ("١٢٣", "login.alphabet"),  # Arabic-Indic digits are not ASCII digits
    ],
)
def test_bad_login_is_refused_with_its_reason(raw, message_id):
    with pytest.raises(ValidationFailed) as exc:
        normalize_login(raw)
    assert exc.value.message_id == message_id
    assert exc.value.field == "login"


@settings(max_examples=300, deadline=None)
@given(raw=st.one_of(ANY_TEXT, st.text("abcXYZ019._-аеорсхі ", max_size=70), st.none()))
def test_normalize_login_raises_only_validation_failed(raw):
    try:
        value = normalize_login(raw)
    except ValidationFailed as exc:
        assert exc.field == "login"
        return
    assert value.isascii() and 3 <= len(value) <= 64
    assert normalize_login(value) == value  # idempotent


# -- masking ---------------------------------------------------------------------------------

def test_mask_russian_phone_shows_last_four_digits():
    assert mask_phone("+79123451823") == "+7 *** ***-18-23"


def test_mask_foreign_phone_shows_last_four_digits():
    assert mask_phone("+4915123456789") == "+*********6789"
    assert mask_phone("") == ""


@pytest.mark.parametrize(
    ("email", "masked"),
    [("ivan@example.com", "i***@example.com"), ("a@example.com", "***@example.com"), ("broken", "***")],
)
def test_mask_email(email, masked):
    assert mask_email(email) == masked


def test_mask_destination_by_channel():
    assert mask_destination("sms", "+79123451823") == "+7 *** ***-18-23"
    assert mask_destination("email", "ivan@example.com") == "i***@example.com"
