"""Account look-ups and writes; every method takes the caller's unit of work."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from dostup.core.crypto import random_id
from dostup.persistence.models import Account


async def by_phone(db: AsyncSession, e164: str) -> Account | None:
    return (await db.execute(select(Account).where(Account.phone == e164))).scalar_one_or_none()


async def by_email(db: AsyncSession, email: str) -> Account | None:
    return (await db.execute(select(Account).where(Account.email == email))).scalar_one_or_none()


async def by_login(db: AsyncSession, login: str) -> Account | None:
    return (await db.execute(select(Account).where(Account.login == login))).scalar_one_or_none()


async def by_id(db: AsyncSession, account_id: str) -> Account | None:
    return await db.get(Account, account_id)


async def identifier_taken(db: AsyncSession, *, phone: str | None = None, email: str | None = None) -> bool:
    if phone and await by_phone(db, phone):
        return True
    return bool(email and await by_email(db, email))


def new_account(now: dt.datetime, **fields: object) -> Account:
    values: dict[str, object] = {"state": "active", "role": "customer", **fields}
    return Account(id=random_id(), created_at=now, updated_at=now, **values)
