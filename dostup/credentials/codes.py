"""One-time codes (SECURITY.md: one-time codes).

Six digits from ``secrets``, stored only as HMAC(purpose, destination, code): a code is bound to
what it was sent for and where.  Every try is counted by one atomic UPDATE *before* the
comparison, so parallel guesses cannot slip past the limit; the winning use is a second atomic
UPDATE guarded by ``used_at IS NULL``, so of 20 parallel right answers exactly one succeeds.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dostup.core.crypto import Keyring, random_digits, random_id
from dostup.core.errors import ValidationFailed
from dostup.persistence.db import Adds
from dostup.persistence.models import OneTimeCode
from dostup.settings import CodeSettings


@dataclass(frozen=True, slots=True)
class IssuedCode:
    id: str
    code: str
    expires_at: dt.datetime


DECOY_HASH = "-"  # never the hex MAC of any code
RECOVERY_PURPOSE = "recovery"  # the purpose of recovery's temporary password


@dataclass(frozen=True, slots=True)
class CodeView:
    """What a flow shows of its code step, the same on every flow that sends one."""

    channel: str
    destination: str  # masked
    code_expires_at: dt.datetime | None
    resend_after_seconds: int


class CodeService:
    def __init__(self, settings: CodeSettings, keyring: Keyring) -> None:
        self.settings = settings
        self._keyring = keyring

    def _hash(self, purpose: str, destination: str, code: str) -> str:
        return self._keyring.mac("code", purpose, destination, code)

    def ttl(self, channel: str, purpose: str) -> int:
        """SECURITY.md: a code lives 10 min (``ttl_seconds``) on every channel; only the recovery's
        temporary password sent by email lives 60 min (``email_ttl_seconds``)."""
        if channel == "email" and purpose == RECOVERY_PURPOSE:
            return self.settings.email_ttl_seconds
        return self.settings.ttl_seconds

    async def issue(
        self,
        db: AsyncSession,
        *,
        purpose: str,
        channel: str,
        destination: str,
        now: dt.datetime,
        flow_id: str | None = None,
        account_id: str | None = None,
        ttl_seconds: int | None = None,
        decoy: bool = False,
    ) -> IssuedCode:
        """A new code; any earlier live code for the same purpose and flow/account dies."""
        owner = OneTimeCode.flow_id == flow_id if flow_id else OneTimeCode.account_id == account_id
        await db.execute(
            update(OneTimeCode)
            .where(owner, OneTimeCode.purpose == purpose, OneTimeCode.used_at.is_(None))
            .where(OneTimeCode.invalidated_at.is_(None))
            .values(invalidated_at=now)
            .execution_options(synchronize_session=False)  # no loaded rows to update in memory
        )
        return self.add(db, purpose=purpose, channel=channel, destination=destination, now=now, flow_id=flow_id,
                        account_id=account_id, ttl_seconds=ttl_seconds, decoy=decoy)

    def add(
        self,
        db: Adds,
        *,
        purpose: str,
        channel: str,
        destination: str,
        now: dt.datetime,
        flow_id: str | None = None,
        account_id: str | None = None,
        ttl_seconds: int | None = None,
        decoy: bool = False,
    ) -> IssuedCode:
        """A new code for an owner that has none yet (a flow just made): nothing to invalidate.

        A *decoy* costs the same work and is stored like a code, but its hash matches no code:
        enumeration-safe answers for unknown identifiers do what the real answer does.
        """
        code = random_digits(self.settings.length)
        row = OneTimeCode(
            id=random_id(),
            purpose=purpose,
            channel=channel,
            destination=destination,
            flow_id=flow_id,
            account_id=account_id,
            code_hash=DECOY_HASH if decoy else self._hash(purpose, destination, code),
            attempts=0,
            max_attempts=self.settings.max_attempts,
            created_at=now,
            expires_at=now + dt.timedelta(seconds=ttl_seconds or self.ttl(channel, purpose)),
        )
        db.add(row)
        return IssuedCode(id=row.id, code=code, expires_at=row.expires_at)

    async def current(self, db: AsyncSession, *, purpose: str, flow_id: str) -> OneTimeCode | None:
        stmt = (
            select(OneTimeCode)
            .where(OneTimeCode.flow_id == flow_id, OneTimeCode.purpose == purpose)
            .where(OneTimeCode.invalidated_at.is_(None))
            .order_by(OneTimeCode.created_at.desc())
            .limit(1)
        )
        return (await db.execute(stmt)).scalar_one_or_none()

    def check_format(self, submitted: str | None) -> str:
        value = (submitted or "").strip()
        if not value:
            raise ValidationFailed("code.required", field="code", code="required")
        if not value.isascii() or not value.isdigit() or len(value) != self.settings.length:
            raise ValidationFailed("code.format", field="code", params={"length": self.settings.length})
        return value

    async def consume(
        self, db: AsyncSession, *, code_row: OneTimeCode | None, value: str, now: dt.datetime
    ) -> str:
        """Count the try, then use the code if it matches.  Returns ``"ok"`` or the failure.

        Returns instead of raising so that the caller can commit the counted try and raise
        *after* its unit of work: a raise inside it would roll the counter back.
        """
        if code_row is None or code_row.used_at is not None or code_row.invalidated_at is not None:
            return "code_invalid"
        counted = await db.execute(
            update(OneTimeCode)
            .where(OneTimeCode.id == code_row.id, OneTimeCode.used_at.is_(None))
            .where(OneTimeCode.invalidated_at.is_(None), OneTimeCode.expires_at > now)
            .where(OneTimeCode.attempts < OneTimeCode.max_attempts)
            .values(attempts=OneTimeCode.attempts + 1)
        )
        if counted.rowcount != 1:  # type: ignore[attr-defined]
            return "code_expired" if code_row.expires_at <= now else "code_exhausted"
        if not self._keyring.check("code", code_row.code_hash, code_row.purpose, code_row.destination, value):
            return "code_invalid"
        used = await db.execute(
            update(OneTimeCode)
            .where(OneTimeCode.id == code_row.id, OneTimeCode.used_at.is_(None))
            .values(used_at=now)
        )
        return "ok" if used.rowcount == 1 else "code_invalid"  # type: ignore[attr-defined]


def code_error(outcome: str) -> ValidationFailed:
    message = {
        "code_invalid": "code.invalid",
        "code_expired": "code.expired",
        "code_exhausted": "code.exhausted",
    }[outcome]
    return ValidationFailed(message, field="code", code=outcome)
