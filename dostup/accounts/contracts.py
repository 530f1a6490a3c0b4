"""Service contracts and cards: normalisation and the company's registry (SPEC §4.7).

A number is normalised once, here, and everything else works with the normalised form:

- **card**: 13–19 digits with a valid Luhn check digit (:func:`parse_card`); spaces and hyphens
  are dropped.  Never stored, logged or shown whole: only :func:`number_key` (a keyed hash) and
  the masked form ``2202 **** **** 1234`` leave this module.
- **contract** (лицевой счёт): NFKC, whitespace removed, at most 40 characters, no control
  characters.  Nothing else is refused: a number with SQL or HTML in it is kept literally and
  escaped on output (SECURITY.md: bad input); it simply matches no contract.

The customer's secret (a PIN, or the amount of the last bill) is normalised by
:func:`normalize_secret` and kept only as a keyed hash bound to the number.

:class:`ContractRegistry` is the adapter the flows ask: ``lookup(kind, number)`` with a normalised
number gives a :class:`RegistryEntry` or ``None``.  :class:`TableRegistry` reads the built-in table
(``dostup admin import-contracts``); :class:`HttpRegistry` asks the company's billing system.
Registration and sign-in by card number (the ``sber`` preset) use the same call::

    entry = await registry.lookup("card", parse_number("card", typed))
    if entry is not None and entry.owner_phone: ...  # send the SMS code there
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import ssl
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Protocol

import httpx
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from dostup.core.crypto import Keyring
from dostup.core.errors import ServiceUnavailable, ValidationFailed
from dostup.identity.documents import mask_card, parse_card
from dostup.identity.phone import parse_phone
from dostup.persistence.db import Database
from dostup.persistence.models_contracts import ContractLink, RegistryContract
from dostup.settings import ContractSettings

KINDS = ("contract", "card")
PROOFS = ("sms", "secret")  # how ownership is proven: a code to the phone on file, or a secret
CONTRACT_MAX = 40
SECRET_MAX = 64
_WHITESPACE = re.compile(r"\s+")
_AMOUNT = re.compile(r"\d{1,12}[.,]\d{1,2}")


class RegistryUnavailable(ServiceUnavailable):
    """The billing system did not answer (or answered nonsense): fail closed, try again later."""

    code = "registry_unavailable"
    message_id = "contracts.registry_unavailable"


# -- normalisation ---------------------------------------------------------------------------

def parse_kind(raw: str | None, *, field: str = "kind") -> str:
    value = (raw or "").strip()
    if not value:
        raise ValidationFailed("contracts.kind_required", field=field, code="required")
    if value not in KINDS:
        raise ValidationFailed("contracts.kind_invalid", field=field)
    return value


def _printable(value: str) -> bool:
    return all(unicodedata.category(ch)[0] != "C" for ch in value)


def parse_contract_number(raw: str | None, *, field: str = "number") -> str:
    value = _WHITESPACE.sub("", unicodedata.normalize("NFKC", raw or ""))
    if not value:
        raise ValidationFailed("contracts.number_required", field=field, code="required")
    if len(value) > CONTRACT_MAX:
        raise ValidationFailed("contracts.number_length", field=field, params={"max": CONTRACT_MAX})
    if not _printable(value):
        raise ValidationFailed("contracts.number_format", field=field)
    return value


def parse_number(kind: str, raw: str | None, *, field: str = "number") -> str:
    """The normalised number of a contract or card, or a field error saying what is wrong."""
    if kind == "card":
        return parse_card(raw, field=field)
    return parse_contract_number(raw, field=field)


def normalize_secret(raw: str | None, *, field: str = "secret") -> str:
    """NFKC, whitespace removed, case-folded; an amount becomes ``1520.40`` (``1 520,4``) or ``1520``
    (``1520,00``), so the customer may type it as the bill shows it.  Billing systems that answer
    ``secret_sha256`` hash this form."""
    value = _WHITESPACE.sub("", unicodedata.normalize("NFKC", raw or "")).casefold()
    if not value:
        raise ValidationFailed("contracts.secret_required", field=field, code="required")
    if len(value) > SECRET_MAX or not _printable(value):
        raise ValidationFailed("contracts.secret_format", field=field, params={"max": SECRET_MAX})
    if _AMOUNT.fullmatch(value):
        try:
            amount = Decimal(value.replace(",", ".")).quantize(Decimal("0.01"))
        except InvalidOperation:  # pragma: no cover - the pattern admits only numbers
            return value
        value = str(amount.to_integral_value()) if amount == amount.to_integral_value() else str(amount)
    return value


def mask_number(kind: str, number: str) -> str:
    """What events and logs may carry: the last four characters only."""
    if kind == "card":
        return mask_card(number)
    return "****" + number[-4:] if len(number) > 4 else "****"


def display_number(kind: str, number: str) -> str:
    """What the owner sees in their list: a contract number as it is, a card masked."""
    return mask_card(number) if kind == "card" else number


def number_key(keyring: Keyring, kind: str, number: str) -> str:
    """The registry key of a number: a keyed hash, so a table leak gives no card numbers.

    It depends on ``DOSTUP_SECRET_KEY``: importing and serving must use the same key, and a new
    key needs the registry imported again.
    """
    return keyring.mac("contract-number", kind, number)


def secret_hash(keyring: Keyring, key: str, secret: str) -> str:
    """The keyed hash of a normalised secret, bound to its number (equal PINs hash differently)."""
    return keyring.mac("contract-secret", key, secret)


# -- the registry ----------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class RegistryEntry:
    """A contract the registry knows.  ``key`` is the same whichever registry answered."""

    kind: str
    key: str
    display: str
    owner_phone: str | None  # E.164, where the SMS code goes
    _secret_check: Callable[[str], bool] | None = field(default=None, repr=False, compare=False)

    @property
    def has_secret(self) -> bool:
        return self._secret_check is not None

    def secret_matches(self, secret: str) -> bool:
        """Compare a normalised secret in constant time; an entry without a secret matches nothing."""
        return self._secret_check(secret) if self._secret_check is not None else False


class ContractRegistry(Protocol):
    async def lookup(self, kind: str, number: str) -> RegistryEntry | None:
        """The entry for a normalised number (:func:`parse_number`), or None if there is none."""


def _phone_or_none(value: object) -> str | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return parse_phone(value).e164
    except ValidationFailed:
        return None


class TableRegistry:
    """The built-in registry: the ``contract_registry`` table, found by keyed hash."""

    def __init__(self, db: Database, keyring: Keyring) -> None:
        self._db = db
        self._keyring = keyring

    async def lookup(self, kind: str, number: str) -> RegistryEntry | None:
        key = number_key(self._keyring, kind, number)
        async with self._db.read() as s:
            row = (
                await s.execute(select(RegistryContract).where(RegistryContract.number_hash == key))
            ).scalar_one_or_none()
        if row is None or row.kind != kind:
            return None
        stored = row.secret_hash
        check = None
        if stored:
            def check(secret: str) -> bool:
                return self._keyring.check("contract-secret", stored, key, secret)
        return RegistryEntry(kind, key, row.display, row.owner_phone, check)


class HttpRegistry:
    """Asks the company's billing system about one number.

    Request: ``POST <url>`` with ``Content-Type: application/json`` and, if configured, the
    ``auth_header``; body ``{"kind": "contract" | "card", "number": "<normalised number>"}``.

    Answer: ``200`` with ``{"found": false}``, or ``{"found": true, "owner_phone": "+79…" | null,
    "secret_sha256": "<hex SHA-256 of the normalised secret>" | null}`` (see
    :func:`normalize_secret`).  A ``404`` also means not found.  Anything else — another status,
    a timeout, a body that is not that JSON — is :class:`RegistryUnavailable` (fail closed: a
    contract is never linked on a guess).  An ``owner_phone`` that is not a valid number is
    treated as absent.  Nothing of the request or answer is logged.
    """

    def __init__(self, settings: ContractSettings, keyring: Keyring) -> None:
        self._s = settings
        self._keyring = keyring
        self._tls = ssl.create_default_context()  # loaded once, not at every request

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._s.auth_header:
            name, _, value = self._s.auth_header.partition(":")
            headers[name.strip()] = value.strip()
        return headers

    async def lookup(self, kind: str, number: str) -> RegistryEntry | None:
        try:
            async with httpx.AsyncClient(timeout=self._s.timeout_seconds, verify=self._tls) as client:
                resp = await client.post(self._s.url, json={"kind": kind, "number": number}, headers=self._headers())
            if resp.status_code == 404:
                return None
            if resp.status_code != 200:
                raise RegistryUnavailable()
            body = resp.json()
        except (httpx.HTTPError, ValueError):
            raise RegistryUnavailable() from None
        if not isinstance(body, dict) or not isinstance(body.get("found"), bool):
            raise RegistryUnavailable()
        if not body["found"]:
            return None
        key = number_key(self._keyring, kind, number)
        digest = body.get("secret_sha256")
        check = None
        if isinstance(digest, str) and re.fullmatch(r"[0-9a-fA-F]{64}", digest):
            expected = digest.lower()

            def check(secret: str) -> bool:
                return hmac.compare_digest(hashlib.sha256(secret.encode()).hexdigest(), expected)
        return RegistryEntry(kind, key, display_number(kind, number), _phone_or_none(body.get("owner_phone")), check)


def make_registry(settings: ContractSettings, db: Database, keyring: Keyring) -> ContractRegistry:
    if settings.registry == "http":
        return HttpRegistry(settings, keyring)
    return TableRegistry(db, keyring)


async def erase_links(db: AsyncSession, account_id: str, now: dt.datetime) -> None:
    """An ``Eraser`` for account deletion (SPEC §4.11: «linked contracts unlinked»): frees the
    account's contracts for another cabinet.  The security events keep the (masked) history."""
    await db.execute(delete(ContractLink).where(ContractLink.account_id == account_id))

__all__ = [
    "KINDS", "PROOFS", "ContractRegistry", "HttpRegistry", "RegistryEntry", "RegistryUnavailable", "TableRegistry",
    "display_number", "erase_links", "make_registry", "mask_number", "normalize_secret", "number_key", "parse_kind", "parse_number",
    "secret_hash",
]
