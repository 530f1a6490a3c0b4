"""«Код для входа» in settings: set a passcode for this device, list and revoke bound devices.

Setting one needs a full sign-in on this device within the re-authentication window (not a
passcode session: a passcode cannot mint another device).  Setting it again on the same device
replaces the old binding.
"""

from __future__ import annotations

from dataclasses import dataclass

from dostup.accounts.events import record_event
from dostup.accounts.history import describe_device
from dostup.core.clock import Clock, UtcTime
from dostup.core.context import Context
from dostup.core.crypto import sha256_hex
from dostup.core.errors import Forbidden, FormErrors, NotFound, ValidationFailed
from dostup.credentials import devices
from dostup.credentials.password import PasswordHasher
from dostup.persistence.db import Database
from dostup.persistence.models import Device
from dostup.selfservice.reauth import ReauthService
from dostup.session.reader import SessionRecord


@dataclass(frozen=True, slots=True)
class BoundDevice:
    id: str
    name: str | None
    created_at: UtcTime
    last_used_at: UtcTime | None


class PasscodeSettings:
    def __init__(self, db: Database, clock: Clock, hasher: PasswordHasher, reauth: ReauthService,
                 enabled: bool) -> None:
        self._db = db
        self._clock = clock
        self._hasher = hasher
        self._reauth = reauth
        self.enabled = enabled

    async def set(self, rec: SessionRecord, passcode: str | None, repeat: str | None, ctx: Context,
                  current: str | None = None) -> str:
        """Bind this device; returns its credential (``<id>.<secret>``), to be kept by the device only."""
        if not self.enabled:
            raise NotFound()
        if "pin" in rec.strength.amr:
            raise Forbidden("passcode.full_signin_needed", code="full_signin_needed")
        await self._reauth.require_recent(rec)
        code = devices.normalize_passcode(passcode)
        errors = []
        if code is None:
            errors.append(ValidationFailed("passcode.format", field="passcode", code="passcode_format"))
        if (repeat or "").strip() != (passcode or "").strip():
            errors.append(ValidationFailed("password.mismatch", field="passcode_repeat", code="mismatch"))
        if errors:
            raise FormErrors(errors)
        assert code is not None
        passcode_hash = await self._hasher.hash(code)
        device_id, secret = devices.new_credential()
        now = self._clock.now()
        old = devices.split_credential(current)
        async with self._db.write() as s:
            if old is not None:
                await devices.revoke(s, rec.account_id, now, old[0])
            s.add(Device(id=device_id, account_id=rec.account_id, secret_hash=sha256_hex(secret),
                         passcode_hash=passcode_hash, name=(describe_device(ctx.user_agent) or "")[:100] or None,
                         failures=0, created_at=now))
            record_event(s, kind="passcode_set", outcome="success", ctx=ctx, now=now, account_id=rec.account_id)
        return f"{device_id}.{secret}"

    async def list(self, account_id: str) -> list[BoundDevice]:
        async with self._db.read() as s:
            rows = await devices.of_account(s, account_id)
        return [BoundDevice(r.id, r.name, r.created_at, r.last_used_at) for r in rows]

    async def revoke(self, rec: SessionRecord, device_id: str, ctx: Context) -> None:
        now = self._clock.now()
        async with self._db.write() as s:
            if not await devices.revoke(s, rec.account_id, now, device_id[:32]):
                raise NotFound()
            record_event(s, kind="passcode_revoked", outcome="success", ctx=ctx, now=now, account_id=rec.account_id)
