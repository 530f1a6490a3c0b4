"""Listing, ending and rotating a user's sessions (SPEC §4.10; SECURITY.md: rotation)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dostup.core.context import Context
from dostup.persistence.models import Session
from dostup.session.reader import SessionRecord
from dostup.session.service import SID, IssuedSession, SessionService
from dostup.session.strength import Strength


async def active_sessions(db: AsyncSession, account_id: str, now: dt.datetime, idle_seconds: int) -> list[Session]:
    rows = (
        await db.execute(
            select(Session)
            .where(Session.account_id == account_id, Session.revoked_at.is_(None), Session.expires_at > now)
            .order_by(Session.last_seen_at.desc())
        )
    ).scalars().all()
    idle = dt.timedelta(seconds=idle_seconds)
    return [r for r in rows if r.remember or r.kind != "cookie" or now - r.last_seen_at < idle]


async def end_session(db: AsyncSession, account_id: str, session_id: str, now: dt.datetime) -> str | None:
    """End one of the account's own sessions; its ``sid``, or None when the id is not one of them."""
    result = await db.execute(
        update(Session)
        .where(Session.id == session_id, Session.account_id == account_id, Session.revoked_at.is_(None))
        .values(revoked_at=now)
        .returning(SID)
    )
    return result.scalar_one_or_none()


async def rotate(
    db: AsyncSession, sessions: SessionService, rec: SessionRecord, ctx: Context, *, strength: Strength,
    now: dt.datetime,
) -> IssuedSession:
    """Replace the current session by a new token (after step-up or leaving a limited state).

    The new session counts as freshly authenticated with ``strength`` (the caller combines the
    old strength with the new proof); the old token dies in the same transaction.
    """
    await db.execute(update(Session).where(Session.id == rec.id).values(revoked_at=now))
    return sessions.issue(db, account_id=rec.account_id, ctx=ctx, remember=rec.remember, strength=strength,
                          kind=rec.kind, sid=rec.sid or rec.id)
