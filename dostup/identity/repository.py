"""Account look-ups and writes; every method takes the caller's unit of work."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from dostup.core.crypto import random_id
from dostup.persistence.db import Database, Raw
from dostup.persistence.models import Account


async def by_phone(db: AsyncSession, e164: str) -> Account | None:
    return (await db.execute(select(Account).where(Account.phone == e164))).scalar_one_or_none()


async def by_email(db: AsyncSession, email: str) -> Account | None:
    return (await db.execute(select(Account).where(Account.email == email))).scalar_one_or_none()


async def by_login(db: AsyncSession, login: str) -> Account | None:
    return (await db.execute(select(Account).where(Account.login == login))).scalar_one_or_none()


_BY_COLUMN: dict[str, Select[Any]] = {}


async def detached_by(db: Database, column: InstrumentedAttribute[str | None], value: str) -> Account | None:
    """The account whose unique ``column`` is ``value``, read without an ORM session (sign-in's
    hot look-up): a detached copy, for reading only."""
    stmt = _BY_COLUMN.get(column.key)
    if stmt is None:
        stmt = _BY_COLUMN[column.key] = select(Account.__table__).where(column == bindparam("value"))
    row = await db.first(stmt, {"value": value})
    return Account(**row._mapping) if row is not None else None


async def by_id(db: AsyncSession, account_id: str) -> Account | None:
    return await db.get(Account, account_id)


async def identifier_taken(db: AsyncSession, *, phone: str | None = None, email: str | None = None) -> bool:
    if phone and await by_phone(db, phone):
        return True
    return bool(email and await by_email(db, email))


BLOCKED = "blocked"  # an account's state while support has it blocked (dostup.admin.accounts); else "active" or "deleted"


def new_account(now: dt.datetime, **fields: object) -> Account:
    values: dict[str, object] = {"state": "active", "role": "customer", **fields}
    return Account(id=random_id(), created_at=now, updated_at=now, **values)


@dataclass(frozen=True, slots=True)
class AccountSummary:
    """What a sign-in answers about its account, read by plain SQL (no ORM object)."""

    id: str
    phone: str | None
    email: str | None
    login: str | None
    segment: str | None
    state: str
    created_at: dt.datetime


_SUMMARY = "SELECT id, phone, email, login, segment, state, created_at FROM accounts WHERE id = :id"


def summary_in(raw: Raw, account_id: str) -> AccountSummary | None:
    """The account in the caller's plain SQL unit of work (``dostup.persistence.db.Raw``)."""
    row = raw.one(_SUMMARY, {"id": account_id})
    if row is None:
        return None
    return AccountSummary(row[0], row[1], row[2], row[3], row[4], row[5], raw.read_time(row[6]))
