"""What a partner learns, by scope (OpenID Connect Core §5.4), and the consent screen's lines.

``sub`` is the account id for ``public`` clients; for ``pairwise`` ones it is an HMAC of the
client's sector and the account id (Core §8.1), so two partners cannot join their users by it.
``ru_documents`` (СНИЛС, ИНН) is given only to clients registered with it (issue 12 §1).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from sqlalchemy import bindparam, select

from dostup.core.crypto import Keyring
from dostup.core.masking import mask_email, mask_phone
from dostup.oidc.provider.clients import Client
from dostup.oidc.provider.records import epoch
from dostup.persistence.db import Database, Raw
from dostup.persistence.models import Account
from dostup.persistence.models_companies import Company

#: Claims released per scope; the order is the consent screen's.
SCOPE_CLAIMS: dict[str, tuple[str, ...]] = {
    "profile": ("family_name", "given_name", "middle_name", "name", "locale", "updated_at"),
    "email": ("email", "email_verified"),
    "phone": ("phone_number", "phone_number_verified"),
    "ru_documents": ("snils", "inn"),
}
CLAIMS_SUPPORTED = ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "sid",
                    *[c for claims in SCOPE_CLAIMS.values() for c in claims]]


def subject_id(keyring: Keyring, client: Client, account_id: str) -> str:
    if client.subject_type == "pairwise":
        return keyring.mac("oidc-pairwise", client.sector, account_id)[:40]
    return account_id


_ACCOUNT = select(Account).where(Account.id == bindparam("account_id"))


@dataclass(frozen=True, slots=True)
class Person:
    account: Any  # an Account's columns (a Core row on the userinfo path)
    inn: str | None


async def load_person(db: Database, account_id: str, *, documents: bool = True) -> Person | None:
    """The account's claims; the INN (a confirmed private-person profile) only when asked for."""
    account = await db.first(_ACCOUNT, {"account_id": account_id})
    if account is None or account.state != "active":
        return None
    inn = None
    if documents:
        row = await db.first(select(Company.inn).where(
            Company.account_id == account_id, Company.kind == "individual", Company.confirmed_at.is_not(None),
            Company.inn.is_not(None)).limit(1))
        inn = row[0] if row is not None else None
    return Person(account, inn)


_PERSON = ("SELECT state, given_name, middle_name, family_name, locale, updated_at, email, email_verified_at, phone, "
           "phone_verified_at, snils FROM accounts WHERE id = :id")
_PERSON_FIELDS = ("state", "given_name", "middle_name", "family_name", "locale", "updated_at", "email",
                  "email_verified_at", "phone", "phone_verified_at", "snils")
_INN = ("SELECT inn FROM companies WHERE account_id = :id AND kind = 'individual' AND confirmed_at IS NOT NULL "
        "AND inn IS NOT NULL LIMIT 1")


def person_in(raw: Raw, account_id: str, *, documents: bool) -> Person | None:
    """:func:`load_person` in a plain SQL read (``Database.read_raw``), for userinfo."""
    row = raw.one(_PERSON, {"id": account_id})
    if row is None or row[0] != "active":
        return None
    account = SimpleNamespace(**dict(zip(_PERSON_FIELDS, row, strict=True)))
    account.updated_at = raw.read_time(account.updated_at)
    inn = raw.one(_INN, {"id": account_id}) if documents else None
    return Person(account, inn[0] if inn is not None else None)


def userinfo(person: Person, scope: str, sub: str) -> dict[str, Any]:
    a = person.account
    scopes = set(scope.split())
    info: dict[str, Any] = {"sub": sub}
    if "profile" in scopes:
        name = " ".join(p for p in (a.given_name, a.middle_name, a.family_name) if p)
        info.update({"family_name": a.family_name, "given_name": a.given_name, "middle_name": a.middle_name,
                     "name": name or None, "locale": a.locale, "updated_at": epoch(a.updated_at)})
    if "email" in scopes and a.email:
        info.update({"email": a.email, "email_verified": a.email_verified_at is not None})
    if "phone" in scopes and a.phone:
        info.update({"phone_number": a.phone, "phone_number_verified": a.phone_verified_at is not None})
    if "ru_documents" in scopes:
        info.update({"snils": a.snils, "inn": person.inn})
    return {k: v for k, v in info.items() if v is not None}


def consent_lines(person: Person, scopes: list[str]) -> list[tuple[str, dict[str, str]]]:
    """The consent screen's «which data exactly»: (message id, params) per scope, values masked."""
    a = person.account
    lines: list[tuple[str, dict[str, str]]] = []
    for scope in scopes:
        if scope == "profile":
            lines.append(("oidc.data.profile", {"value": " ".join(p for p in (a.family_name, a.given_name) if p)}))
        elif scope == "email":
            lines.append(("oidc.data.email", {"value": mask_email(a.email) if a.email else "—"}))
        elif scope == "phone":
            lines.append(("oidc.data.phone", {"value": mask_phone(a.phone) if a.phone else "—"}))
        elif scope == "ru_documents":
            lines.append(("oidc.data.documents", {"value": ""}))
        elif scope == "offline_access":
            lines.append(("oidc.data.offline", {"value": ""}))
    return lines
