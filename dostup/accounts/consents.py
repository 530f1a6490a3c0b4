"""Consent records (SECURITY.md: registration and consent; 152-ФЗ ст. 9).

Each decision is a new row — account, kind, document version and SHA-256 of the exact text the
user saw, time (UTC), IP, user agent and channel — so the history itself is the proof.  The
latest row of a kind is the decision in force (withdrawal takes effect at once).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from dostup.core.context import Context
from dostup.core.crypto import random_id, sha256_hex
from dostup.persistence.models import Consent

PERSONAL_DATA = "personal_data"
MARKETING = "marketing"


def record_consent(
    db: AsyncSession,
    *,
    account_id: str,
    kind: str,
    granted: bool,
    version: str,
    text: str,
    ctx: Context,
    now: dt.datetime,
) -> Consent:
    row = Consent(
        id=random_id(),
        account_id=account_id,
        kind=kind,
        granted=granted,
        document_version=version,
        document_sha256=sha256_hex(text),
        created_at=now,
        ip=ctx.ip[:64],
        user_agent=ctx.user_agent[:512],
        channel=ctx.surface,
    )
    db.add(row)
    return row


async def latest_consent(db: AsyncSession, *, account_id: str, kind: str) -> Consent | None:
    """The decision in force: the account's newest row of this kind."""
    return (
        await db.execute(
            select(Consent)
            .where(Consent.account_id == account_id, Consent.kind == kind)
            .order_by(Consent.created_at.desc())
            .limit(1)
        )
    ).scalar_one_or_none()
