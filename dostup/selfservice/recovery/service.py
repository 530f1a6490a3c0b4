"""Recovery: request a temporary password (signing in with it is ``methods.temporary_password``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from dostup.accounts.events import record_event
from dostup.core.clock import Clock
from dostup.core.context import Context
from dostup.core.errors import ValidationFailed
from dostup.core.masking import mask_destination
from dostup.credentials.codes import CodeService
from dostup.guards.captcha import CaptchaVerifier, require_captcha
from dostup.guards.limits import Limiter, Rule
from dostup.identity import repository as accounts
from dostup.identity.email import parse_email
from dostup.identity.phone import parse_phone
from dostup.persistence.db import Database
from dostup.persistence.models import Account, Flow
from dostup.selfservice.flows import new_flow
from dostup.selfservice.notices import notice_destination
from dostup.selfservice.recovery.flow import KIND, MESSAGE_KIND, PURPOSE, SENT, RecoveryInput, RecoveryResult
from dostup.selfservice.sending import CodeSender, Destination


class NoRecoveryChannel(ValidationFailed):
    code = "no_channel"
    message_id = "recovery.no_channel"


class RecoveryService:
    """Recovery is a persisted flow (``recovery``): ``sent`` when the temporary password goes
    out; ``signed_in`` when it opens its limited session (``methods.temporary_password``);
    ``done`` when the new password is set (``settings.password``).  It lives as long as its code."""

    def __init__(self, *, db: Database, clock: Clock, captcha: CaptchaVerifier, codes: CodeService, limiter: Limiter, wake_courier: Callable[[], None], sms_countries: Sequence[str], sender: CodeSender, per_ip_per_hour: int, enumeration_safe: bool, by_email: bool, support_phone: str) -> None:
        self._db = db
        self._clock = clock
        self._captcha = captcha
        self._codes = codes
        self._limiter = limiter
        self._wake_courier = wake_courier
        self._sms_countries = sms_countries
        self.sender = sender
        self.per_ip = Rule("recover-ip", per_ip_per_hour, 3600)
        self._enumeration_safe = enumeration_safe
        self._by_email = by_email
        self._support_phone = support_phone

    async def _find(self, inp: RecoveryInput) -> tuple[str, str, Account | None]:
        if inp.email and self._by_email and not inp.phone:
            email = parse_email(inp.email)
            async with self._db.read() as s:
                return "email", email, await accounts.by_email(s, email)
        phone = parse_phone(inp.phone, inp.country)
        async with self._db.read() as s:
            return "phone", phone.e164, await accounts.by_phone(s, phone.e164)

    async def request(self, inp: RecoveryInput, ctx: Context) -> RecoveryResult:
        kind, typed, account = await self._find(inp)
        await require_captcha(self._captcha, inp.captcha, "recover", ctx.ip)
        await self._limiter.hit(self.per_ip, ctx.ip, message_id="error.rate_limited")
        safe = self._enumeration_safe
        live = account if account is not None and account.state == "active" else None
        dest = notice_destination(live, self._sms_countries) if live else None
        now = self._clock.now()
        if dest is None:
            typed_dest = Destination("sms" if kind == "phone" else "email", typed)
            if safe:
                # The same work as the sending path: the typed destination's send limits are
                # counted too, so neither the answer, its time nor a limit tells known from unknown.
                await self.sender.reserve(typed_dest, ctx)
            async with self._db.write() as s:
                if safe:  # ... and a decoy flow and code are stored and its message written, for nobody
                    flow = self._flow(s, typed_dest, None, now, ctx)
                    await self.sender.issue(s, dest=typed_dest, purpose=PURPOSE, kind=MESSAGE_KIND, ctx=ctx,
                                            now=now, decoy=True, flow_id=flow.id)
                record_event(s, kind="recovery_requested", outcome="unknown" if live is None else "no_channel",
                             ctx=ctx, now=now, account_id=live.id if live else None)
            if safe:
                return RecoveryResult(None, None, None)
            if live is None:
                raise ValidationFailed(f"recovery.unknown_{kind}", field=kind, code="unknown_account")
            raise NoRecoveryChannel(params={"support_phone": self._support_phone})
        assert live is not None
        target = Destination(*dest)
        await self.sender.reserve(target, ctx)
        async with self._db.write() as s:
            flow = self._flow(s, target, live.id, now, ctx)
            await self.sender.issue(s, dest=target, purpose=PURPOSE, kind=MESSAGE_KIND, ctx=ctx, now=now,
                                    account_id=live.id, flow_id=flow.id)
            record_event(s, kind="recovery_requested", outcome="success", ctx=ctx, now=now,
                         account_id=live.id, channel=target.channel)
        self._wake_courier()
        if safe:
            return RecoveryResult(None, None, None)
        minutes = self._codes.ttl(target.channel, PURPOSE) // 60

        return RecoveryResult(target.channel, mask_destination(target.channel, target.to), minutes)

    def _flow(self, s: AsyncSession, dest: Destination, account_id: str | None, now: dt.datetime,
              ctx: Context) -> Flow:
        flow = new_flow(s, kind=KIND, state=SENT, data={"channel": dest.channel}, now=now,
                        ttl_seconds=self._codes.ttl(dest.channel, PURPOSE), ip=ctx.ip)
        flow.account_id = account_id
        return flow
