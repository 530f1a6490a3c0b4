"""Erasing an account (SPEC §4.11; 152-ФЗ ст. 21): personal data goes, a tombstone stays.

What is erased: phone, email, login, names, password hash; the destinations and texts of its
messages; its live codes; its sessions (revoked).  What stays: the account row as a tombstone
(id, state ``deleted``, dates), the consent history and the security events (masked details),
which are the audit trail.  Other packages plug in an :data:`Eraser` for what they hold
(company profiles, linked contracts).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from dostup.core.masking import mask_destination
from dostup.persistence.models import Account, OneTimeCode, OutboxMessage, Session

Eraser = Callable[[AsyncSession, str, dt.datetime], Awaitable[None]]


async def erase_account(db: AsyncSession, account: Account, now: dt.datetime, erasers: list[Eraser]) -> None:
    messages = (
        await db.execute(
            update(OutboxMessage)
            .where(OutboxMessage.account_id == account.id)
            .values(body="[erased]", code=None, subject="")
            .returning(OutboxMessage.id, OutboxMessage.channel, OutboxMessage.to)
        )
    ).all()
    for mid, channel, to in messages:
        await db.execute(update(OutboxMessage).where(OutboxMessage.id == mid).values(to=mask_destination(channel, to)))
    await db.execute(
        update(OneTimeCode).where(OneTimeCode.account_id == account.id, OneTimeCode.used_at.is_(None))
        .values(invalidated_at=now)
    )
    await db.execute(update(Session).where(Session.account_id == account.id, Session.revoked_at.is_(None))
                     .values(revoked_at=now))
    for eraser in erasers:
        await eraser(db, account.id, now)
    account.phone = account.email = account.login = account.snils = account.region = None
    account.phone_verified_at = account.email_verified_at = None
    account.given_name = account.family_name = account.middle_name = None
    account.password_hash = None
    account.segment = None
    account.state = "deleted"
    account.deleted_at = now
    account.updated_at = now
