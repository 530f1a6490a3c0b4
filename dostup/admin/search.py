"""Operator search: find a customer's account by what the customer tells support (SPEC §4.14: «search
by phone, email, login, INN, SNILS, contract»; and a card number, which the ``sber`` cabinet signs in by).

Each search is an exact match on one identifier, read through its own index (a million customers
answer as fast as a thousand: ``tests/flows/test_query_plans.py``, ``bench/scale.py``).  The value is
normalised as the customer's own forms normalise it (``8 912 345-67-89`` is ``+79123456789``, an email
is case-insensitive, a SNILS and an INN are checked), so a typo gets a field error rather than an
empty list.  The operator says why (``reason``), and the search, what it looked for (masked) and the
accounts it showed are written to the audit trail in the same transaction as the read: nothing is
shown unrecorded (SECURITY.md: every operator view of personal data is audited).  The value travels
in a request body, never in a URL (SECURITY.md: SNILS never in URLs or logs).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Connection, select

from dostup.accounts.contracts import number_key, parse_number
from dostup.core.clock import Clock, UtcTime
from dostup.core.context import Context
from dostup.core.crypto import Keyring, random_id
from dostup.core.errors import FormErrors, ValidationFailed
from dostup.core.masking import mask_email, mask_phone
from dostup.identity.documents import mask_card, parse_inn, parse_snils
from dostup.identity.email import parse_email
from dostup.identity.login import normalize_login
from dostup.identity.phone import parse_phone
from dostup.persistence.db import Appends, Database
from dostup.persistence.models import Account
from dostup.persistence.models_admin import OperatorAction
from dostup.persistence.models_companies import Company
from dostup.persistence.models_contracts import ContractLink

T = TypeVar("T")
KINDS = ("phone", "email", "login", "snils", "inn", "contract", "card")
MAX_FOUND = 20  # an INN may be in several cabinets; more than this and the operator should narrow it
REASON_MAX = 300


@dataclass(frozen=True)
class SearchInput:
    by: str | None = None  # one of KINDS
    value: str | None = None
    reason: str | None = None  # why the operator looks (the audit trail's «why»)


@dataclass(frozen=True)
class FoundAccount:
    """What support sees first: enough to tell the right customer, not their documents."""

    id: str
    phone: str | None
    email: str | None
    login: str | None
    family_name: str | None
    given_name: str | None
    middle_name: str | None
    state: str
    role: str
    created_at: UtcTime


_CARD = (Account.id, Account.phone, Account.email, Account.login, Account.family_name, Account.given_name,
         Account.middle_name, Account.state, Account.role, Account.created_at)  # FoundAccount's fields, in order


def operator_reason(raw: str | None) -> str:
    """The operator's «why», spaces folded: 3 to :data:`REASON_MAX` characters."""
    reason = " ".join((raw or "").split())
    if len(reason) < 3:
        raise ValidationFailed("operator.reason_required", field="reason", code="required")
    if len(reason) > REASON_MAX:
        raise ValidationFailed("operator.reason_length", field="reason", params={"max": REASON_MAX})
    return reason


class AccountSearch:
    def __init__(self, db: Database, keyring: Keyring, clock: Clock) -> None:
        self._db = db
        self._keyring = keyring
        self._clock = clock

    def _where(self, by: str, raw: str | None) -> tuple[Any, str]:
        """The condition for ``by`` and the value as the audit trail shows it."""
        if by == "phone":
            phone = parse_phone(raw, field="value").e164
            return Account.phone == phone, mask_phone(phone)
        if by == "email":
            email = parse_email(raw, field="value")
            return Account.email == email, mask_email(email)
        if by == "login":
            login = normalize_login(raw, field="value")
            return Account.login == login, login
        if by == "snils":
            snils = parse_snils(raw, field="value")
            return Account.snils == snils, f"***-***-*** {snils[-2:]}"
        if by == "inn":
            digits = "".join(ch for ch in (raw or "") if ch.isdigit())
            inn = parse_inn(raw, length=12 if len(digits) == 12 else 10, field="value")
            return Account.id.in_(select(Company.account_id).where(Company.inn == inn)), inn
        number = parse_number(by, raw, field="value")  # contract, card
        key = number_key(self._keyring, by, number)
        linked = select(ContractLink.account_id).where(ContractLink.registry_key == key, ContractLink.kind == by)
        return Account.id.in_(linked), mask_card(number) if by == "card" else number

    async def find(self, operator_id: str, inp: SearchInput, ctx: Context) -> list[FoundAccount]:
        """The accounts ``inp`` names (at most :data:`MAX_FOUND`, oldest first), recorded as seen."""
        by = inp.by
        if by is None or by not in KINDS:
            raise ValidationFailed("operator.search_kind", field="by", params={"kinds": ", ".join(KINDS)})
        errors: list[ValidationFailed] = []

        def checked(check: Callable[[], T]) -> T | None:  # every field's error at once
            try:
                return check()
            except ValidationFailed as exc:
                errors.append(exc)
                return None

        condition, reason = checked(lambda: self._where(by, inp.value)), checked(lambda: operator_reason(inp.reason))
        if condition is None or reason is None:
            raise errors[0] if len(errors) == 1 else FormErrors(errors)
        where, shown = condition
        # No ORDER BY: every identifier but an INN is unique, and an INN's few cabinets come in its
        # index's order, cut at MAX_FOUND (a sort would read all of them first), then ordered here.
        stmt = select(*_CARD).where(where).limit(MAX_FOUND)
        now = self._clock.now()

        def read_and_record(conn: Connection, batch: Appends) -> list[FoundAccount]:
            found = sorted((FoundAccount(**row._mapping) for row in conn.execute(stmt)), key=lambda a: (a.created_at, a.id))
            batch.add(OperatorAction(id=random_id(), operator_id=operator_id, action="search", reason=reason,
                                     ip=ctx.ip[:64], detail={"by": by, "value": shown, "found": [a.id for a in found]},
                                     created_at=now))
            return found

        return await self._db.run_write(read_and_record)
