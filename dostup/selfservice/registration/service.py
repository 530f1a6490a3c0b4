"""Registration use-cases: start (form → code sent), resend, submit code (→ account + session)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from dostup.accounts.consents import MARKETING, PERSONAL_DATA, record_consent
from dostup.accounts.events import record_event
from dostup.core.context import Context
from dostup.core.errors import CaptchaRequired, Conflict, FormErrors, StepNotAllowed, ValidationFailed
from dostup.core.masking import mask_destination
from dostup.credentials.codes import code_error
from dostup.guards.limits import Rule
from dostup.identity import repository as accounts
from dostup.identity.email import parse_email
from dostup.identity.phone import Phone, parse_phone
from dostup.persistence.models import Account, OutboxMessage
from dostup.selfservice.deps import FlowDeps
from dostup.selfservice.flows import load_flow, new_flow, transition
from dostup.selfservice.registration import flow as F
from dostup.selfservice.registration.flow import RegistrationInput, RegistrationView
from dostup.selfservice.sending import CodeSender, Destination
from dostup.session.service import IssuedSession


class RegistrationService:
    def __init__(self, deps: FlowDeps, sender: CodeSender) -> None:
        self.d = deps
        self.sender = sender
        self.per_ip = Rule("register-ip", deps.settings.limits.registration_per_ip_per_hour, 3600)

    # -- validation -------------------------------------------------------------------------

    def _validate(self, inp: RegistrationInput) -> tuple[Phone, str | None, str]:
        errors: list[ValidationFailed] = []
        phone: Phone | None = None
        email: str | None = None
        password = ""
        try:
            phone = parse_phone(inp.phone, inp.country)
        except ValidationFailed as e:
            errors.append(e)
        needs_email = phone is not None and not phone.sms_capable(self.d.settings.codes.sms_countries)
        if inp.email or needs_email:
            try:
                email = parse_email(inp.email)
            except ValidationFailed as e:
                if needs_email and e.code == "required":
                    e = ValidationFailed("registration.email_needed", field="email", code="required")
                errors.append(e)
        try:
            password = self.d.policy.validate(
                inp.password, personal=(phone.e164 if phone else "", email or "")
            )
        except ValidationFailed as e:
            errors.append(e)
        if not errors or all(e.field != "password" for e in errors):
            if (inp.password_repeat or "") != (inp.password or ""):
                errors.append(ValidationFailed("password.mismatch", field="password_repeat", code="mismatch"))
        segments = [s.id for s in self.d.preset.segments]
        if segments and (inp.segment or segments[0]) not in segments:
            errors.append(ValidationFailed("segment.invalid", field="segment"))
        if not inp.consent_personal_data:
            errors.append(ValidationFailed("consent.required", field="consent_personal_data", code="required"))
        if errors:
            raise FormErrors(errors)
        assert phone is not None
        return phone, email, password

    def _destination(self, phone: Phone, email: str | None) -> Destination:
        if phone.sms_capable(self.d.settings.codes.sms_countries):
            return Destination("sms", phone.e164)
        assert email is not None
        return Destination("email", email)

    # -- use-cases --------------------------------------------------------------------------

    async def start(self, inp: RegistrationInput, ctx: Context) -> RegistrationView:
        if inp.password is not None:
            self.d.policy.check_size(inp.password)
            self.d.policy.check_size(inp.password_repeat or "x", field="password_repeat")
        phone, email, password = self._validate(inp)
        if self.d.preset.registration_captcha:
            if not inp.captcha:
                raise CaptchaRequired()
            if not await self.d.captcha.verify(inp.captcha, "register", ctx.ip):
                raise CaptchaRequired("captcha.invalid", code="captcha_invalid")
        await self.d.limiter.hit(self.per_ip, ctx.ip, message_id="error.rate_limited")
        dest = self._destination(phone, email)

        async with self.d.db.read() as s:
            taken = await accounts.identifier_taken(s, phone=phone.e164, email=email)
        password_hash = await self.d.hasher.hash(password)  # outside any transaction
        if taken and not self.d.settings.enumeration_safe:
            field = "phone"
            async with self.d.db.read() as s:
                if email and not await accounts.by_phone(s, phone.e164):
                    field = "email"
            raise Conflict(f"registration.{field}_taken", field=field, code="identifier_taken")

        await self.sender.reserve(dest, ctx)
        now = self.d.clock.now()
        segments = [s.id for s in self.d.preset.segments]
        data: dict[str, object] = {
            "phone": phone.e164,
            "email": email,
            "channel": dest.channel,
            "to": dest.to,
            "password_hash": password_hash,
            "segment": (inp.segment or segments[0]) if segments else None,
            "consent_marketing": bool(inp.consent_marketing),
            "locale": ctx.locale,
            "decoy": taken,
        }
        async with self.d.db.write() as s:
            flow = new_flow(s, kind=F.KIND, state=F.CODE_SENT, data=data, now=now,
                            ttl_seconds=F.FLOW_TTL_SECONDS, ip=ctx.ip)
            if taken:
                # Enumeration-safe: the caller sees the usual next step; the owner is told.
                owner = await accounts.by_phone(s, phone.e164)
                if owner is None and email:
                    owner = await accounts.by_email(s, email)
                self.d.outbox.enqueue(s, kind="registration_exists", channel=dest.channel, to=dest.to,
                                      now=now, locale=ctx.locale, account_id=owner.id if owner else None)
                code_expires = now
            else:
                issued = await self.sender.issue(s, dest=dest, purpose=F.CODE_PURPOSE, kind="registration_code",
                                                 ctx=ctx, now=now, flow_id=flow.id)
                code_expires = issued.expires_at
        self.d.wake_courier()
        return RegistrationView(
            flow_id=flow.id, state=flow.state, channel=dest.channel,
            destination=mask_destination(dest.channel, dest.to),
            code_expires_at=code_expires if not taken else now + dt.timedelta(seconds=self.d.codes.ttl(dest.channel)),
            resend_after_seconds=self.d.settings.codes.resend_cooldown_seconds,
            expires_at=flow.expires_at,
        )

    async def view(self, flow_id: str | None) -> RegistrationView:
        now = self.d.clock.now()
        async with self.d.db.read() as s:
            flow = await load_flow(s, flow_id, kind=F.KIND, now=now)
            code = await self.d.codes.current(s, purpose=F.CODE_PURPOSE, flow_id=flow.id)
        data = flow.data
        dest = Destination(str(data["channel"]), str(data["to"]))
        expires = code.expires_at if code else None
        if data.get("decoy"):
            expires = flow.created_at + dt.timedelta(seconds=self.d.codes.ttl(dest.channel))
        return RegistrationView(
            flow_id=flow.id, state=flow.state, channel=dest.channel,
            destination=mask_destination(dest.channel, dest.to), code_expires_at=expires,
            resend_after_seconds=await self.sender.cooldown_left(dest), expires_at=flow.expires_at,
        )

    async def resend(self, flow_id: str | None, ctx: Context) -> RegistrationView:
        now = self.d.clock.now()
        async with self.d.db.read() as s:
            flow = await load_flow(s, flow_id, kind=F.KIND, now=now)
        if flow.state != F.CODE_SENT:
            raise StepNotAllowed()
        dest = Destination(str(flow.data["channel"]), str(flow.data["to"]))
        await self.sender.reserve(dest, ctx)
        if not flow.data.get("decoy"):
            async with self.d.db.write() as s:
                await self.sender.issue(s, dest=dest, purpose=F.CODE_PURPOSE, kind="registration_code",
                                        ctx=ctx, now=now, flow_id=flow.id)
            self.d.wake_courier()
        return await self.view(flow.id)

    async def submit_code(self, flow_id: str | None, code: str | None, ctx: Context) -> tuple[Account, IssuedSession]:
        now = self.d.clock.now()
        async with self.d.db.read() as s:
            flow = await load_flow(s, flow_id, kind=F.KIND, now=now)
        if flow.state != F.CODE_SENT:
            raise StepNotAllowed()
        value = self.d.codes.check_format(code)
        data = flow.data
        try:
            async with self.d.db.write() as s:
                row = await self.d.codes.current(s, purpose=F.CODE_PURPOSE, flow_id=flow.id)
                outcome = await self.d.codes.consume(s, code_row=row, value=value, now=now)
                if outcome != "ok":
                    record_event(s, kind="registration", outcome="failure", ctx=ctx, now=now, reason=outcome)
                else:
                    account, session = await self._complete(s, flow, data, ctx, now)
        except IntegrityError:
            raise Conflict("registration.phone_taken", field="phone", code="identifier_taken") from None
        if outcome != "ok":
            raise code_error(outcome)
        return account, session

    async def _complete(self, s, flow, data, ctx: Context, now):  # type: ignore[no-untyped-def]
        # The password hash leaves the flow row as the flow completes.
        kept = {k: v for k, v in data.items() if k != "password_hash"}
        await transition(s, flow, from_state=F.CODE_SENT, to_state=F.COMPLETED, now=now, data=kept)
        channel = data["channel"]
        account = accounts.new_account(
            now,
            phone=data["phone"],
            phone_verified_at=now if channel == "sms" else None,
            email=data.get("email"),
            email_verified_at=now if channel == "email" else None,
            password_hash=data["password_hash"],
            password_changed_at=now,
            segment=data.get("segment"),
            locale=str(data.get("locale") or ctx.locale),
        )
        s.add(account)
        await s.flush()
        # The codes went out before the account existed: file them under it for «История уведомлений».
        await s.execute(
            update(OutboxMessage)
            .where(OutboxMessage.account_id.is_(None), OutboxMessage.kind == "registration_code",
                   OutboxMessage.to == data["to"], OutboxMessage.created_at >= flow.created_at)
            .values(account_id=account.id)
        )
        cat, version = self.d.catalog, self.d.preset.consent_version
        record_consent(s, account_id=account.id, kind=PERSONAL_DATA, granted=True, version=version,
                       text=cat.text("consent.personal_data", ctx.locale), ctx=ctx, now=now)
        record_consent(s, account_id=account.id, kind=MARKETING, granted=bool(data.get("consent_marketing")),
                       version=version, text=cat.text("consent.marketing", ctx.locale), ctx=ctx, now=now)
        record_event(s, kind="registration", outcome="success", ctx=ctx, now=now, account_id=account.id)
        session = self.d.sessions.issue(s, account_id=account.id, ctx=ctx, kind="cookie" if ctx.surface == "ui" else "bearer")
        return account, session
