"""TOTP in settings: enrol (QR code and the secret as text, confirmed by a first code, with ten
recovery codes shown once), and turn off (SECURITY.md: second factors need a re-authentication;
turning TOTP off also needs a current code, so a stolen password session cannot remove it).

Enrolment is a flow of its own (``totp_enrol``, 10 minutes): the unconfirmed seed waits there,
sealed, and becomes a credential only when a code made from it is typed back.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from dostup.accounts.events import record_event
from dostup.core.clock import Clock, UtcTime
from dostup.core.context import Context
from dostup.core.crypto import Keyring
from dostup.core.errors import Conflict, NotFound, ValidationFailed
from dostup.credentials import recovery_codes as rc
from dostup.credentials import repository as credentials
from dostup.credentials import totp
from dostup.persistence.db import Database
from dostup.selfservice.flows import load_flow, new_flow, transition
from dostup.selfservice.methods.totp.strategy import TotpCodes
from dostup.selfservice.reauth import ReauthService
from dostup.session.reader import SessionRecord

KIND = "totp_enrol"
ENROL_TTL_SECONDS = 600


@dataclass(frozen=True, slots=True)
class Enrolment:
    flow_id: str
    secret: str  # shown as text beside the QR code, for apps that cannot scan
    qr_svg: str
    expires_at: UtcTime


class TotpSettings:
    def __init__(self, db: Database, keyring: Keyring, clock: Clock, reauth: ReauthService, codes: TotpCodes,
                 issuer: str) -> None:
        self._db = db
        self._keyring = keyring
        self._clock = clock
        self._reauth = reauth
        self._codes = codes
        self._issuer = issuer

    async def enabled(self, account_id: str) -> bool:
        return bool(await credentials.types_of(self._db, account_id, [totp.TYPE]))

    async def begin(self, rec: SessionRecord, ctx: Context) -> Enrolment:
        await self._reauth.require_recent(rec)
        if await self.enabled(rec.account_id):
            raise Conflict("totp.already_enabled")
        secret = totp.new_secret()
        now = self._clock.now()
        async with self._db.write() as s:
            flow = new_flow(s, kind=KIND, state="code_needed", now=now, ttl_seconds=ENROL_TTL_SECONDS, ip=ctx.ip,
                            data={"secret": self._codes.sealer.seal(secret.encode())})
            flow.account_id = rec.account_id
        return self._enrolment(flow.id, secret, rec, flow.expires_at)

    def _enrolment(self, flow_id: str, secret: str, rec: SessionRecord, expires_at: dt.datetime) -> Enrolment:
        name = rec.phone or rec.email or rec.login or rec.account_id
        return Enrolment(flow_id, secret, totp.qr_svg(totp.provisioning_uri(secret, name, self._issuer)), expires_at)

    async def pending(self, rec: SessionRecord, flow_id: str | None) -> Enrolment:
        flow_id, secret, expires_at = await self._pending_secret(rec, flow_id)
        return self._enrolment(flow_id, secret, rec, expires_at)

    async def _pending_secret(self, rec: SessionRecord, flow_id: str | None) -> tuple[str, str, dt.datetime]:
        """The enrolment's flow id, secret and expiry (no QR code: drawing one costs milliseconds)."""
        async with self._db.read() as s:
            flow = await load_flow(s, flow_id, kind=KIND, now=self._clock.now())
        if flow.account_id != rec.account_id or flow.state != "code_needed":
            raise NotFound("flow.not_found")
        return flow.id, self._codes.sealer.open(str(flow.data["secret"])).decode(), flow.expires_at

    async def confirm(self, rec: SessionRecord, flow_id: str | None, code: str | None, ctx: Context) -> list[str]:
        """Turn TOTP on with the first code from the app; returns the new recovery codes (shown once)."""
        await self._reauth.require_recent(rec)
        flow_id, secret, _ = await self._pending_secret(rec, flow_id)
        value = totp.normalize(code)
        now = self._clock.now()
        step = totp.matching_step(secret, value, now) if value else None
        if step is None:
            raise ValidationFailed("totp.code_invalid", field="code", code="code_invalid")
        recovery = rc.generate()
        async with self._db.write() as s:
            flow = await load_flow(s, flow_id, kind=KIND, now=now)
            await transition(s, flow, from_state="code_needed", to_state="done", now=now)
            await credentials.replace(s, rec.account_id, totp.TYPE, {
                "secret": self._codes.sealer.seal(secret.encode()), "last_step": step}, now)
            await credentials.replace(s, rec.account_id, rc.TYPE,
                                      {"hashes": [rc.digest(self._keyring, c) for c in recovery]}, now)
            record_event(s, kind="totp_enabled", outcome="success", ctx=ctx, now=now, account_id=rec.account_id)
        return recovery

    async def disable(self, rec: SessionRecord, code: str | None, ctx: Context, captcha: str | None = None) -> None:
        await self._reauth.require_recent(rec)
        attempt = await self._reauth.begin(rec, captcha, ctx)  # guesses count with re-authentication's
        if not await self._codes.spend(rec.account_id, code):
            await self._reauth.throttle.failed(attempt)
            raise ValidationFailed("totp.code_invalid", field="code", code="code_invalid")
        await self._reauth.throttle.succeeded(attempt)
        now = self._clock.now()
        async with self._db.write() as s:
            await credentials.remove(s, rec.account_id, totp.TYPE)
            record_event(s, kind="totp_disabled", outcome="success", ctx=ctx, now=now, account_id=rec.account_id)
