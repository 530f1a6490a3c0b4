"""What a bank says about a person (OpenID Connect for Identity Assurance ``verified_claims`` or plain claims) and
how it is compared with the checked profile: names case-, ё/е-, dash- and spacing-insensitively, the birth date
exactly, SNILS and passport by their digits where the bank gives them."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from pydantic import ValidationError

from dostup.core.crypto import Keyring
from dostup.federation.assurance import Asserted, asserted, claims_request
from dostup.persistence.models import Account
from dostup.persistence.models_levels import IdentityProfile
from dostup.selfservice.verification.bank import compare as compare_with
from dostup.selfservice.verification.bank import same_name
from dostup.selfservice.verification.passport import PassportSeal
from dostup.settings import SocialProvider


def compare(bank: Asserted, account: Account, profile: IdentityProfile) -> tuple[list[str], list[str]]:
    """The bank's comparison with the profile's passport as the service reads it (sealed or, as here, not yet)."""
    return compare_with(bank, account, profile, PassportSeal(Keyring("k" * 32)).read(profile))


def _profile(**kw: Any) -> tuple[Account, IdentityProfile]:
    account = Account(family_name="Семёнова-Ким", given_name="Анна", middle_name="Сергеевна", snils="11223344595")
    profile = IdentityProfile(level=2, no_middle_name=False, birth_date=dt.date(1990, 5, 17), passport_series="4508",
                              passport_number="123456")
    for k, v in kw.items():
        setattr(account if hasattr(Account, k) and k not in ("no_middle_name",) else profile, k, v)
    return account, profile


def test_the_request_asks_verified_and_plain_claims_essential_names_and_birthdate() -> None:
    req = claims_request()
    assert req["id_token"]["verified_claims"]["verification"] == {"trust_framework": None}
    assert set(req["userinfo"]["verified_claims"]["claims"]) == {"family_name", "given_name", "middle_name",
                                                                 "birthdate", "snils", "passport"}
    assert req["userinfo"]["birthdate"] == {"essential": True} and req["userinfo"]["snils"] is None


@pytest.mark.parametrize(("a", "b", "same"), [
    ("СЕМЁНОВА", "семенова", True), ("Семёнова\u2011Ким", "семенова-ким", True), ("  Анна  Мария ", "анна мария", True),
    ("Ａнна", "анна", False), ("Анна", "Анн", False), (None, "", True),
])
def test_names_compare_as_a_person_reads_them(a: str | None, b: str | None, same: bool) -> None:
    assert same_name(a, b) is same


def test_verified_claims_stand_over_plain_ones_and_need_a_trust_framework() -> None:
    claims = {"sub": "1", "family_name": "Иванова", "birthdate": "1970-01-01", "given_name": 5,
              "verified_claims": [
                  {"verification": {}, "claims": {"family_name": "Без рамки"}},  # no trust_framework: says nothing
                  {"verification": {"trust_framework": "ru_bank", "evidence": [
                      {"type": "document", "document": {"type": "passport", "number": "4508 123456"}}]},
                   "claims": {"family_name": "Семёнова", "birthdate": "1990-05-17", "snils": ["not", "text"]}},
                  "garbage"]}
    got = asserted(claims)
    assert got == Asserted(family_name="Семёнова", birthdate="1990-05-17", passport="4508 123456", verified=True)


def test_plain_claims_alone_are_read_unverified() -> None:
    got = asserted({"family_name": " Семёнова ", "given_name": "", "snils": "112-233-445 95"})
    assert got == Asserted(family_name="Семёнова", snils="112-233-445 95", verified=False)


def test_compare_names_missing_and_differing_fields() -> None:
    account, profile = _profile()
    bank = Asserted(family_name="СЕМЕНОВА-КИМ", given_name="анна", middle_name="Сергеевна", birthdate="1990-05-17",
                    snils="112-233-445 95", passport="4508 № 123456")
    assert compare(bank, account, profile) == ([], [])
    assert compare(Asserted(), account, profile) == (["family_name", "given_name", "birthdate", "middle_name"], [])
    wrong = Asserted(family_name="Семёнова", given_name="Анна", middle_name="Петровна", birthdate="17.05.1990",
                     snils="11223344596", passport="4508123457")
    assert compare(wrong, account, profile)[1] == ["family_name", "middle_name", "birthdate", "snils", "passport"]
    account, profile = _profile(middle_name=None, no_middle_name=True)  # «Нет отчества»: none expected, none given
    assert compare(Asserted(family_name="Семёнова-Ким", given_name="Анна", birthdate="1990-05-17"),
                   account, profile) == ([], [])
    assert compare(Asserted(family_name="Семёнова-Ким", given_name="Анна", middle_name="Сергеевна",
                            birthdate="1990-05-17"), account, profile) == ([], ["middle_name"])


@pytest.mark.parametrize("kind", ["yandex", "vk"])
def test_only_an_openid_provider_may_confirm_identity(kind: str) -> None:
    """A bank's claims must come in a signed ID token: an OAuth-only kind cannot be a confirmer (the start stops)."""
    entry = {"id": "b", "kind": kind, "name": "B", "client_id": "c", "client_secret": "s", "confirms_identity": True}
    with pytest.raises(ValidationError, match="confirms_identity needs an OpenID Connect kind"):
        SocialProvider(**entry)
    assert SocialProvider(**{**entry, "kind": "oidc", "issuer": "https://id.bank.example"}).confirms_identity


def test_a_provider_that_neither_signs_in_nor_confirms_is_refused() -> None:
    entry = {"id": "b", "kind": "oidc", "name": "B", "client_id": "c", "client_secret": "s",
             "issuer": "https://id.bank.example", "sign_in": False}
    with pytest.raises(ValidationError, match="sign_in false is for a bank that confirms_identity"):
        SocialProvider(**entry)
    assert not SocialProvider(**{**entry, "confirms_identity": True}).sign_in
