"""Registration use-cases: start (form → code sent), resend, submit the code, set the password
(presets that ask for it after the code), confirm the email by link (gosuslugi)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from dostup.accounts.consents import MARKETING, PERSONAL_DATA, record_consent
from dostup.accounts.events import record_event
from dostup.core.context import Context
from dostup.core.errors import CaptchaRequired, Conflict, NotFound, StepNotAllowed
from dostup.core.masking import mask_destination
from dostup.credentials.codes import code_error
from dostup.guards.limits import Rule
from dostup.identity import repository as accounts
from dostup.persistence.models import Account, Flow, OutboxMessage
from dostup.selfservice.deps import FlowDeps
from dostup.selfservice.flows import load_flow, new_flow, transition
from dostup.selfservice.registration import flow as F
from dostup.selfservice.registration.flow import Plan, RegistrationInput, RegistrationView
from dostup.selfservice.registration.forms import RegistrationForms, _Errors
from dostup.selfservice.sending import CodeSender, Destination
from dostup.session.service import IssuedSession

CardLinker = Callable[[AsyncSession, str, str, Context, dt.datetime], Awaitable[None]]
"""Links a card (number) to a new account inside the registration's transaction (sber)."""

EMAIL_LINK_KIND = "email_verify"
EMAIL_LINK_TTL = 7 * 24 * 3600


@dataclass(frozen=True, slots=True)
class Completed:
    account: Account
    session: IssuedSession


class RegistrationService:
    def __init__(self, deps: FlowDeps, sender: CodeSender, forms: RegistrationForms | None = None,
                 card_linker: CardLinker | None = None) -> None:
        self.d = deps
        self.sender = sender
        self.forms = forms or RegistrationForms(deps)
        self.card_linker = card_linker
        self.per_ip = Rule("register-ip", deps.settings.limits.registration_per_ip_per_hour, 3600)

    # -- start ------------------------------------------------------------------------------

    async def _taken(self, plan: Plan) -> tuple[str, str] | None:
        """Which identifier of the form an account already has, and that account's id."""
        if plan.phone:
            row = await self.d.db.first(select(Account.id).where(Account.phone == plan.phone))
            if row is not None:
                return "phone", str(row[0])
        if plan.email:
            row = await self.d.db.first(select(Account.id).where(Account.email == plan.email))
            if row is not None:
                return "email", str(row[0])
        return None

    def _field_for(self, taken: str) -> str:
        variant = self.d.preset.registration
        if variant == "rostelecom":
            return "contact"
        if variant == "sber":
            return "card"
        return taken

    async def start(self, inp: RegistrationInput, ctx: Context) -> RegistrationView:
        if inp.password is not None:
            self.d.policy.check_size(inp.password)
            self.d.policy.check_size(inp.password_repeat or "x", field="password_repeat")
        plan = await self.forms.plan(inp)
        if self.d.preset.registration_captcha:
            if not inp.captcha:
                raise CaptchaRequired()
            if not await self.d.captcha.verify(inp.captcha, "register", ctx.ip):
                raise CaptchaRequired("captcha.invalid", code="captcha_invalid")
        await self.d.limiter.hit(self.per_ip, ctx.ip, message_id="error.rate_limited")

        taken = await self._taken(plan)
        password_hash = await self.d.hasher.hash(plan.password) if plan.password else None  # no transaction open
        if taken and not self.d.settings.enumeration_safe:
            field = self._field_for(taken[0])
            raise Conflict(f"registration.{taken[0]}_taken", field=field, code="identifier_taken")
        dest = Destination(plan.channel, plan.to)
        if plan.to:
            await self.sender.reserve(dest, ctx)
        now = self.d.clock.now()
        data: dict[str, object] = {
            "phone": plan.phone, "email": plan.email, "channel": plan.channel, "to": plan.to,
            "password_hash": password_hash, "profile": plan.profile, "segment": plan.segment, "card": plan.card,
            "email_link": plan.confirm_email_by_link, "consent_marketing": bool(inp.consent_marketing),
            "locale": ctx.locale, "decoy": bool(taken) or not plan.to,
        }
        code_expires_at: dt.datetime | None = None
        async with self.d.db.append() as s:  # only new rows: the lighter unit of work
            flow = new_flow(s, kind=F.KIND, state=F.CODE_SENT, data=data, now=now,
                            ttl_seconds=F.FLOW_TTL_SECONDS, ip=ctx.ip)
            if plan.to:
                # Enumeration-safe and taken: the caller sees the usual next step (a decoy code, the
                # same work), and the owner is told instead.
                issued = self.sender.new_code(s, dest=dest, purpose=F.CODE_PURPOSE, kind="registration_code",
                                              ctx=ctx, now=now, flow_id=flow.id, decoy=bool(taken))
                code_expires_at = issued.expires_at
            if taken:
                self.d.outbox.enqueue(s, kind="registration_exists", channel=dest.channel, to=dest.to,
                                      now=now, locale=ctx.locale, account_id=taken[1])
        self.d.wake_courier()
        return self._just_sent(flow, code_expires_at)

    # -- view / resend ----------------------------------------------------------------------

    async def view(self, flow_id: str | None) -> RegistrationView:
        now = self.d.clock.now()
        async with self.d.db.read() as s:
            flow = await load_flow(s, flow_id, kind=F.KIND, now=now)
            code = await self.d.codes.current(s, purpose=F.CODE_PURPOSE, flow_id=flow.id)
        dest = self._destination(flow)
        resend_after = await self.sender.cooldown_left(dest) if dest.to else 0
        return self._view(flow, code.expires_at if code else None, resend_after)

    @staticmethod
    def _destination(flow: Flow) -> Destination:
        return Destination(str(flow.data["channel"]), str(flow.data["to"]))

    def _just_sent(self, flow: Flow, code_expires_at: dt.datetime | None) -> RegistrationView:
        """The view right after a send: its cool-down has just started, nothing to read back."""
        resend_after = self.d.settings.codes.resend_cooldown_seconds if flow.data["to"] else 0
        return self._view(flow, code_expires_at, resend_after)

    def _view(self, flow: Flow, code_expires_at: dt.datetime | None, resend_after: int) -> RegistrationView:
        dest = self._destination(flow)
        expires = code_expires_at
        if flow.data.get("decoy"):
            expires = flow.created_at + dt.timedelta(seconds=self.d.codes.ttl(dest.channel))
        shown = mask_destination(dest.channel, dest.to) if dest.to and self.d.preset.registration != "sber" else ""
        return RegistrationView(
            flow_id=flow.id, state=flow.state, channel=dest.channel, destination=shown, code_expires_at=expires,
            resend_after_seconds=resend_after, expires_at=flow.expires_at,
        )

    async def resend(self, flow_id: str | None, ctx: Context) -> RegistrationView:
        now = self.d.clock.now()
        async with self.d.db.read() as s:
            flow = await load_flow(s, flow_id, kind=F.KIND, now=now)
        if flow.state != F.CODE_SENT:
            raise StepNotAllowed()
        dest = self._destination(flow)
        if not dest.to:
            return await self.view(flow.id)
        await self.sender.reserve(dest, ctx)
        code_expires_at = None
        if not flow.data.get("decoy"):
            async with self.d.db.write() as s:
                issued = await self.sender.issue(s, dest=dest, purpose=F.CODE_PURPOSE, kind="registration_code",
                                                 ctx=ctx, now=now, flow_id=flow.id)
            code_expires_at = issued.expires_at
            self.d.wake_courier()
        return self._just_sent(flow, code_expires_at)

    # -- code, password ---------------------------------------------------------------------

    async def submit_code(self, flow_id: str | None, code: str | None, ctx: Context) -> Completed | RegistrationView:
        """The right code completes the registration, or moves it on to the password step."""
        now = self.d.clock.now()
        async with self.d.db.read() as s:
            flow = await load_flow(s, flow_id, kind=F.KIND, now=now)
        if flow.state != F.CODE_SENT:
            raise StepNotAllowed()
        value = self.d.codes.check_format(code)
        data = flow.data
        done: Completed | None = None
        try:
            async with self.d.db.write() as s:
                row = await self.d.codes.current(s, purpose=F.CODE_PURPOSE, flow_id=flow.id)
                outcome = await self.d.codes.consume(s, code_row=row, value=value, now=now)
                if outcome != "ok":
                    record_event(s, kind="registration", outcome="failure", ctx=ctx, now=now, reason=outcome)
                elif data.get("password_hash"):
                    done = await self._complete(s, flow, data, str(data["password_hash"]), F.CODE_SENT, ctx, now)
                else:
                    await transition(s, flow, from_state=F.CODE_SENT, to_state=F.PASSWORD_NEEDED, now=now)
        except IntegrityError:
            raise self._conflict(data) from None
        if outcome != "ok":
            raise code_error(outcome)
        return done if done is not None else await self.view(flow.id)

    async def set_password(self, flow_id: str | None, password: str | None, repeat: str | None,
                           ctx: Context) -> Completed:
        """The password step after the code; before the code it is a skipped step and refused."""
        self.d.policy.check_size(password)
        now = self.d.clock.now()
        async with self.d.db.read() as s:
            flow = await load_flow(s, flow_id, kind=F.KIND, now=now)
        if flow.state != F.PASSWORD_NEEDED:
            raise StepNotAllowed()
        data = flow.data
        errors = _Errors()
        personal = (str(data.get("phone") or ""), str(data.get("email") or ""))
        value = self.forms.password(password, repeat, personal, errors)
        errors.raise_if_any()
        password_hash = await self.d.hasher.hash(value)
        try:
            async with self.d.db.write() as s:
                done = await self._complete(s, flow, data, password_hash, F.PASSWORD_NEEDED, ctx, now)
        except IntegrityError:
            raise self._conflict(data) from None
        return done

    def _conflict(self, data: dict[str, object]) -> Conflict:
        field = self._field_for("phone" if data.get("phone") else "email")
        taken = "phone" if data.get("phone") else "email"
        return Conflict(f"registration.{taken}_taken", field=field, code="identifier_taken")

    async def _complete(self, s: AsyncSession, flow: Flow, data: dict[str, object], password_hash: str,
                        from_state: str, ctx: Context, now: dt.datetime) -> Completed:
        # The password hash never stays in the flow row.
        kept = {k: v for k, v in data.items() if k != "password_hash"}
        await transition(s, flow, from_state=from_state, to_state=F.COMPLETED, now=now, data=kept)
        channel = data["channel"]
        profile = data.get("profile") or {}
        assert isinstance(profile, dict)
        account = accounts.new_account(
            now,
            phone=data.get("phone"),
            phone_verified_at=now if channel == "sms" else None,
            email=data.get("email"),
            email_verified_at=now if channel == "email" else None,
            password_hash=password_hash,
            password_changed_at=now,
            segment=data.get("segment"),
            given_name=profile.get("given_name"),
            family_name=profile.get("family_name"),
            middle_name=profile.get("middle_name"),
            region=profile.get("region"),
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
        if data.get("card") and self.card_linker:
            await self.card_linker(s, account.id, str(data["card"]), ctx, now)
        if data.get("email_link") and account.email and not account.email_verified_at:
            link = new_flow(s, kind=EMAIL_LINK_KIND, state="sent", data={"email": account.email}, now=now,
                            ttl_seconds=EMAIL_LINK_TTL, ip=ctx.ip)
            link.account_id = account.id
            self.d.outbox.enqueue(s, kind="email_link", channel="email", to=account.email, now=now,
                                  locale=account.locale, account_id=account.id,
                                  params={"link": f"{self.d.settings.public_url}/verify-email?token={link.id}"})
        cat, version = self.d.catalog, self.d.preset.consent_version
        record_consent(s, account_id=account.id, kind=PERSONAL_DATA, granted=True, version=version,
                       text=cat.text("consent.personal_data", ctx.locale), ctx=ctx, now=now)
        record_consent(s, account_id=account.id, kind=MARKETING, granted=bool(data.get("consent_marketing")),
                       version=version, text=cat.text("consent.marketing", ctx.locale), ctx=ctx, now=now)
        record_event(s, kind="registration", outcome="success", ctx=ctx, now=now, account_id=account.id)
        session = self.d.sessions.issue(s, account_id=account.id, ctx=ctx,
                                        kind="cookie" if ctx.surface == "ui" else "bearer")
        return Completed(account, session)

    # -- email link ---------------------------------------------------------------------------

    async def confirm_email(self, token: str | None, ctx: Context) -> None:
        """«Подтвердить почту» from the link in the email (a POST from the page the link opens)."""
        now = self.d.clock.now()
        async with self.d.db.write() as s:
            link = await load_flow(s, token, kind=EMAIL_LINK_KIND, now=now)
            if link.state != "sent" or not link.account_id:
                raise NotFound("email_link.invalid")
            account = await accounts.by_id(s, link.account_id)
            if account is None or account.email != link.data.get("email"):
                raise NotFound("email_link.invalid")
            await transition(s, link, from_state="sent", to_state="used", now=now)
            account.email_verified_at = now
            account.updated_at = now
            record_event(s, kind="email_confirmed", outcome="success", ctx=ctx, now=now, account_id=account.id)

