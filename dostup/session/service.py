"""Issuing and checking sessions (OWASP Session Management; ASVS V7).

Tokens are 256-bit random values; only SHA-256 of a token is stored.  A session is valid while it
is not revoked, before its absolute expiry (12 h, or 30 days with «Запомнить меня») and, without
«Запомнить меня», while it was seen within the idle timeout (30 min).  ``last_seen_at`` is
written at most once a minute, so the check stays a read.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import func, update
from sqlalchemy.ext.asyncio import AsyncSession

from dostup.core.clock import Clock
from dostup.core.context import Context
from dostup.core.crypto import random_id, random_token, sha256_hex
from dostup.persistence.db import Adds, Database, add_row
from dostup.persistence.models import Session
from dostup.session.reader import SessionReader, SessionRecord
from dostup.session.strength import PASSWORD, Strength
from dostup.settings import SessionSettings

#: A session's ``sid``: the sign-in it continues (SessionRecord.sid), in SQL.
SID = func.coalesce(Session.sid, Session.id)
#: Told the ``sid`` of each session that ended, after its unit of work (the OpenID Connect provider
#: signs the user out of partners: Back-Channel Logout).  Wired in dostup/services.py.
SessionsEnded = Callable[[Sequence[str]], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class IssuedSession:
    id: str
    token: str
    expires_at: dt.datetime
    remember: bool
    strength: Strength = PASSWORD


class SessionService:
    def __init__(self, settings: SessionSettings, db: Database, reader: SessionReader, clock: Clock) -> None:
        self.settings = settings
        self._db = db
        self._reader = reader
        self._clock = clock

    def issue(
        self,
        db: Adds,
        *,
        account_id: str,
        ctx: Context,
        remember: bool = False,
        strength: Strength = PASSWORD,
        kind: str = "cookie",
        sid: str | None = None,
    ) -> IssuedSession:
        """Add a new session to the caller's unit of work (a session, or an append-only one) and
        return its token (shown once)."""
        now = self._clock.now()
        ttl = self.settings.remember_timeout_seconds if remember else self.settings.absolute_timeout_seconds
        token = random_token(32)
        session_id = random_id()
        expires_at = now + dt.timedelta(seconds=ttl)
        add_row(db, Session, {
            "id": session_id, "token_hash": sha256_hex(token), "account_id": account_id, "aal": strength.aal,
            "amr": strength.amr_text(), "restrictions": strength.restrictions_text(), "remember": remember,
            "kind": kind, "created_at": now, "authenticated_at": now, "last_seen_at": now, "expires_at": expires_at,
            "revoked_at": None, "ip": ctx.ip[:64], "user_agent": ctx.user_agent[:512], "sid": sid,
        })
        return IssuedSession(id=session_id, token=token, expires_at=expires_at, remember=remember, strength=strength)

    def _valid(self, rec: SessionRecord, now: dt.datetime) -> bool:
        if rec.account_state != "active" or now >= rec.expires_at:
            return False
        if not rec.remember and rec.kind == "cookie":
            return (now - rec.last_seen_at).total_seconds() < self.settings.idle_timeout_seconds
        return True

    async def authenticate(self, token: str | None) -> SessionRecord | None:
        if not token or len(token) > 128:
            return None
        rec = await self._reader.fetch(sha256_hex(token))
        if rec is None:
            return None
        now = self._clock.now()
        if not self._valid(rec, now):
            return None
        if (now - rec.last_seen_at).total_seconds() >= self.settings.touch_interval_seconds:
            async with self._db.write() as s:
                await s.execute(update(Session).where(Session.id == rec.id).values(last_seen_at=now))
        return rec

    async def revoke_token(self, token: str) -> str | None:
        """End the session behind ``token``; returns its account id, if there was one."""
        now = self._clock.now()
        async with self._db.write() as s:
            row = (
                await s.execute(
                    update(Session)
                    .where(Session.token_hash == sha256_hex(token), Session.revoked_at.is_(None))
                    .values(revoked_at=now)
                    .returning(Session.account_id)
                )
            ).scalar_one_or_none()
        return row

    async def revoke_all(self, db: AsyncSession, account_id: str, *, except_id: str | None = None) -> list[str]:
        """End the account's sessions (but ``except_id``); the ``sid`` of each one ended."""
        stmt = update(Session).where(Session.account_id == account_id, Session.revoked_at.is_(None))
        if except_id:
            stmt = stmt.where(Session.id != except_id)
        ended = await db.execute(stmt.values(revoked_at=self._clock.now()).returning(SID))
        return list(ended.scalars())
