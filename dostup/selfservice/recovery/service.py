"""Recovery use-cases: request a temporary password; sign in with it (a credential check)."""

from __future__ import annotations

from sqlalchemy import select

from dostup.accounts.events import record_event
from dostup.core.context import Context
from dostup.core.errors import CaptchaRequired, ValidationFailed
from dostup.core.masking import mask_destination
from dostup.guards.limits import Rule
from dostup.identity import repository as accounts
from dostup.identity.email import parse_email
from dostup.identity.phone import parse_phone
from dostup.persistence.models import Account, OneTimeCode
from dostup.selfservice.deps import FlowDeps
from dostup.selfservice.login.flow import Verdict
from dostup.selfservice.recovery.flow import MESSAGE_KIND, PURPOSE, RecoveryInput, RecoveryResult
from dostup.selfservice.sending import CodeSender, Destination
from dostup.selfservice.settings.password import notice_destination
from dostup.session.service import PASSWORD_CHANGE


class NoRecoveryChannel(ValidationFailed):
    code = "no_channel"
    message_id = "recovery.no_channel"


class RecoveryService:
    def __init__(self, deps: FlowDeps, sender: CodeSender) -> None:
        self.d = deps
        self.sender = sender
        self.per_ip = Rule("recover-ip", deps.settings.limits.recovery_per_ip_per_hour, 3600)

    async def _find(self, inp: RecoveryInput) -> tuple[str, str, Account | None]:
        if inp.email and self.d.preset.recovery_by_email and not inp.phone:
            email = parse_email(inp.email)
            async with self.d.db.read() as s:
                return "email", email, await accounts.by_email(s, email)
        phone = parse_phone(inp.phone, inp.country)
        async with self.d.db.read() as s:
            return "phone", phone.e164, await accounts.by_phone(s, phone.e164)

    async def request(self, inp: RecoveryInput, ctx: Context) -> RecoveryResult:
        kind, typed, account = await self._find(inp)
        if not inp.captcha:
            raise CaptchaRequired()
        if not await self.d.captcha.verify(inp.captcha, "recover", ctx.ip):
            raise CaptchaRequired("captcha.invalid", code="captcha_invalid")
        await self.d.limiter.hit(self.per_ip, ctx.ip, message_id="error.rate_limited")
        safe = self.d.settings.enumeration_safe
        live = account if account is not None and account.state == "active" else None
        dest = notice_destination(live, self.d.settings.codes.sms_countries) if live else None
        now = self.d.clock.now()
        if dest is None:
            typed_dest = Destination("sms" if kind == "phone" else "email", typed)
            if safe:
                # The same work as the sending path: the typed destination's send limits are
                # counted too, so neither the answer, its time nor a limit tells known from unknown.
                await self.sender.reserve(typed_dest, ctx)
            async with self.d.db.write() as s:
                if safe:  # ... and a decoy code is stored and its message written, for nobody
                    await self.sender.issue(s, dest=typed_dest, purpose=PURPOSE, kind=MESSAGE_KIND, ctx=ctx,
                                            now=now, decoy=True)
                record_event(s, kind="recovery_requested", outcome="unknown" if live is None else "no_channel",
                             ctx=ctx, now=now, account_id=live.id if live else None)
            if safe:
                return RecoveryResult(None, None, None)
            if live is None:
                raise ValidationFailed(f"recovery.unknown_{kind}", field=kind, code="unknown_account")
            raise NoRecoveryChannel(params={"support_phone": self.d.preset.support_phone})
        assert live is not None
        target = Destination(*dest)
        await self.sender.reserve(target, ctx)
        async with self.d.db.write() as s:
            await self.sender.issue(s, dest=target, purpose=PURPOSE, kind=MESSAGE_KIND, ctx=ctx, now=now,
                                    account_id=live.id)
            record_event(s, kind="recovery_requested", outcome="success", ctx=ctx, now=now,
                         account_id=live.id, channel=target.channel)
        self.d.wake_courier()
        if safe:
            return RecoveryResult(None, None, None)
        minutes = self.d.codes.ttl(target.channel) // 60
        return RecoveryResult(target.channel, mask_destination(target.channel, target.to), minutes)


class TemporaryPasswordCheck:
    """The temporary password typed into the normal sign-in form (as the seed instructs).

    Only a 6-digit secret can be one (real passwords have at least 8 characters), so other
    sign-ins never touch the codes table.  Each try counts against the code's 5 tries.
    """

    def __init__(self, deps: FlowDeps) -> None:
        self.d = deps

    async def check(self, account: Account | None, secret: str, ctx: Context) -> Verdict | None:
        value = secret.strip()
        if account is None or len(value) != self.d.settings.codes.length or not (value.isascii() and value.isdigit()):
            return None
        now = self.d.clock.now()
        async with self.d.db.write() as s:
            row = (
                await s.execute(
                    select(OneTimeCode)
                    .where(OneTimeCode.account_id == account.id, OneTimeCode.purpose == PURPOSE)
                    .where(OneTimeCode.used_at.is_(None), OneTimeCode.invalidated_at.is_(None))
                    .order_by(OneTimeCode.created_at.desc())
                    .limit(1)
                )
            ).scalar_one_or_none()
            if row is None:
                return None
            outcome = await self.d.codes.consume(s, code_row=row, value=value, now=now)
        return Verdict(PASSWORD_CHANGE) if outcome == "ok" else None
