"""Unit tests for the password policy (NIST SP 800-63B §3.1.1): lengths, blocklists, context words.

No database, no HTTP, no hashing: the policy decides before anything expensive is done.
"""

from __future__ import annotations

import time
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dostup.core.errors import ValidationFailed
from dostup.core.i18n import Catalog
from dostup.credentials.password import PasswordPolicy, common_passwords
from dostup.presets import PRESETS
from dostup.settings import PasswordSettings

GOOD = "Tundra-Lantern-42"
PHONE = "+79123456789"


@pytest.fixture(scope="module")
def policy() -> PasswordPolicy:
    return PasswordPolicy(PasswordSettings(), PRESETS["kit"].operator_names)


def refused(policy: PasswordPolicy, raw: str | None, **kw: object) -> ValidationFailed:
    with pytest.raises(ValidationFailed) as exc:
        policy.validate(raw, **kw)  # type: ignore[arg-type]
    return exc.value


def test_a_good_password_passes_unchanged(policy):
    assert policy.validate(GOOD, personal=(PHONE, "ivan@example.com")) == GOOD


@pytest.mark.parametrize("raw", [None, ""])
def test_empty_password_is_required(policy, raw):
    err = refused(policy, raw)
    assert (err.message_id, err.code, err.field) == ("password.required", "required", "password")


def test_seven_characters_are_too_short_eight_are_enough(policy):
    err = refused(policy, "Tundra7")
    assert err.message_id == "password.too_short" and err.params == {"min": 8}
    assert policy.validate("Tundra78") == "Tundra78"


def test_spaces_count_and_are_kept(policy):
    assert policy.validate("tundra lantern") == "tundra lantern"
    assert policy.validate("  tundra  ") == "  tundra  "


def test_128_code_points_pass_129_are_too_long(policy):
    assert policy.validate("Ab1-" * 32) == "Ab1-" * 32
    err = refused(policy, "Ab1-" * 32 + "x")
    assert err.message_id == "password.too_long" and err.params == {"max": 128}


def test_length_is_counted_in_code_points_not_bytes(policy):
    emoji = "🦊🐻🐺🦉" * 32  # 128 code points, 512 bytes
    assert len(policy.validate(emoji)) == 128
    cyr = "ТундраФонарь" * 10 + "Тундра-1"  # 128 Cyrillic code points, 2 bytes each
    assert len(cyr) == 128
    assert policy.validate(cyr) == cyr


def test_length_is_counted_after_nfkc(policy):
    # «ﬁ» is one code point that NFKC turns into two: 64 of them are 128, 65 are 130.
    assert policy.validate("ﬁ" * 64) == "fi" * 64
    err = refused(policy, "ﬁ" * 65)
    assert err.message_id == "password.too_long"
    # Full-width letters normalise one to one.
    assert policy.validate("Ｔｕｎｄｒａ－４２") == "Tundra-42"


def test_minimum_is_counted_after_nfkc_too(policy):
    # Seven code points that NFKC expands to more than eight are long enough...
    assert policy.validate("㎏㎏㎏㎏") == unicodedata.normalize("NFKC", "㎏㎏㎏㎏")
    # ...and combining marks that compose away make a password shorter.
    err = refused(policy, "e\u0301" * 4 + "xyz")  # 11 code points, 7 after NFKC
    assert err.message_id == "password.too_short"


def test_over_the_byte_limit_is_refused_before_any_normalisation(policy):
    huge = "a" * 4097
    start = time.perf_counter()
    err = refused(policy, huge)
    assert time.perf_counter() - start < 0.05
    assert err.message_id == "password.too_long" and err.params == {"max": 128}


def test_check_size_alone_is_cheap_and_names_the_field(policy):
    assert policy.check_size("x") == "x"
    with pytest.raises(ValidationFailed) as exc:
        policy.check_size("я" * 2049, field="password_repeat")  # 4098 bytes
    assert exc.value.field == "password_repeat" and exc.value.message_id == "password.too_long"
    with pytest.raises(ValidationFailed) as exc:
        policy.check_size(None)
    assert exc.value.message_id == "password.required"


@pytest.mark.parametrize("raw", ["password123", "qwertyuiop", "PASSWORD123", "QwErTyUiOp", "12345678", "iloveyou"])
def test_common_passwords_are_refused_whatever_the_case(policy, raw):
    assert refused(policy, raw).message_id == "password.common"


def test_the_common_list_is_loaded():
    common = common_passwords()
    assert len(common) >= 10_000 - 100
    assert "password123" in common and "qwertyuiop" in common


@pytest.mark.parametrize(
    "raw",
    [
        "dostup123",
        "Dostup2024!",
        "my-dostup-pass",
        "DOSTUP_DOSTUP",
        "KIT-12345",  # only letters: «kit»
        "kit_2024_kit",
        "kitkitkit",  # the product name repeated
        "KitKitKit!",
        "kit kit kit 42",
        "кит12345678",  # the Cyrillic spelling of the product name
        "КИТкиткит",
        "tk-kit-2024",
    ],
)
def test_product_and_operator_names_are_refused(policy, raw):
    assert refused(policy, raw).message_id == "password.operator_name"


@pytest.mark.parametrize("raw", ["skittles-42", "kitten-lantern", "Tundra-Lantern-42", "кит-и-медведь-7"])
def test_words_that_merely_contain_a_short_name_are_allowed(policy, raw):
    assert policy.validate(raw) == raw


@pytest.mark.parametrize(
    "raw",
    [
        "79123456789",  # the phone's digits
        "x79123456789x",
        "Pass9123456789",  # the last ten digits (national number)
        "ivan@example.com!",  # the email address
    ],
)
def test_the_users_own_phone_and_email_are_refused(policy, raw):
    err = refused(policy, raw, personal=(PHONE, "ivan@example.com"))
    assert err.message_id == "password.personal"


def test_personal_check_skips_missing_identifiers(policy):
    assert policy.validate(GOOD, personal=("", "")) == GOOD


@pytest.mark.parametrize("raw", ["Abcdefgh\ud800xyz", "\udfff" * 10, "Tundra-\udc80-Lantern"])
def test_lone_surrogates_are_refused_not_passed_on_to_the_hasher(policy, raw):
    # Valid JSON ("\ud800") but not encodable as UTF-8: argon2 would crash on it (500).
    err = refused(policy, raw)
    assert err.field == "password"
    assert err.message_id == "password.invalid_characters"


def test_every_message_the_policy_uses_is_in_both_catalogs(policy):
    catalog = Catalog.load()
    samples = [None, "Tundra7", "a" * 200, "password123", "dostup123", "Abcdefgh\ud800"]
    ids = set()
    for raw in samples:
        try:
            policy.validate(raw)
        except ValidationFailed as exc:
            ids.add(exc.message_id)
    ids.add(refused(policy, "79123456789x", personal=(PHONE,)).message_id)
    assert ids == {"password.required", "password.too_short", "password.too_long", "password.common",
                   "password.operator_name", "password.invalid_characters", "password.personal"}
    for message_id in ids:
        for locale in ("ru", "en"):
            assert catalog.has(message_id, locale), (message_id, locale)
        assert any("а" <= ch <= "я" for ch in catalog.text(message_id, "ru", min=8, max=128).lower())


# Any code point, lone surrogates included (Hypothesis leaves them out unless asked by category).
ANY_CHAR = st.one_of(st.characters(codec=None, exclude_categories=()), st.characters(categories=["Cs"]))


def any_text(max_size: int) -> st.SearchStrategy[str]:
    """``st.text`` drops surrogates even from an alphabet that has them: build strings by hand."""
    return st.lists(ANY_CHAR, max_size=max_size).map("".join)


@settings(max_examples=300, deadline=None)
@given(
    raw=st.one_of(any_text(max_size=200), st.text(st.characters(codec=None, exclude_categories=()), min_size=8,
                                                   max_size=40),
                  st.text("ﬁ㎏a1-", min_size=60, max_size=140), st.none()),
    personal=st.tuples(any_text(max_size=20), any_text(max_size=20)),
)
def test_validate_raises_only_validation_failed_and_accepts_only_hashable(policy, raw, personal):
    try:
        value = policy.validate(raw, personal=personal)
    except ValidationFailed as exc:
        assert exc.field == "password"
        assert exc.message_id.startswith("password.")
        return
    assert 8 <= len(value) <= 128
    assert value == unicodedata.normalize("NFKC", raw)
    value.encode("utf-8")  # argon2 will be able to hash it


async def test_the_default_cost_is_security_md_argon2id_19_mib_two_passes() -> None:
    # The in-process tests hash at a test cost (tests/support.py TEST_HASHING); what ships is this one.
    from dostup.credentials.password import PasswordHasher

    hasher = PasswordHasher(PasswordSettings())
    stored = await hasher.hash("correct horse battery")
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$"), stored
    assert await hasher.verify(stored, "correct horse battery") == (True, False)
