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
from dostup.core.clock import Clock
from dostup.core.context import Context
from dostup.core.errors import Conflict, NotFound, StepNotAllowed
from dostup.core.i18n import Catalog
from dostup.courier.outbox import Outbox
from dostup.credentials.codes import CodeView, code_error
from dostup.credentials.password import PasswordHasher, PasswordPolicy
from dostup.guards.captcha import CaptchaVerifier, require_captcha
from dostup.guards.limits import Limiter, Rule
from dostup.identity import repository as accounts
from dostup.persistence.db import Adds, Database
from dostup.persistence.models import Account, Flow, OutboxMessage
from dostup.selfservice.flows import load_flow, make_flow, new_flow, transition
from dostup.selfservice.registration import flow as F
from dostup.selfservice.registration.flow import ContactProof, External, Plan, RegistrationInput, RegistrationView
from dostup.selfservice.registration.forms import Errors, RegistrationForms
from dostup.session.service import IssuedSession, SessionService
from dostup.session.strength import FEDERATED, PASSWORD

CardLinker = Callable[[AsyncSession, str, str, Context, dt.datetime], Awaitable[None]]
"""Links a card (number) to a new account inside the registration's transaction (sber)."""
ExternalLinker = Callable[[AsyncSession, str, dict[str, object], Context, dt.datetime], Awaitable[None]]
"""Links a provider account (``External.link``) to a new account inside the registration's transaction."""

EMAIL_LINK_KIND = "email_verify"
EMAIL_LINK_TTL = 7 * 24 * 3600


@dataclass(frozen=True, slots=True)
class Completed:
    account: Account
    session: IssuedSession


@dataclass(frozen=True, slots=True)
class RegistrationPolicy:
    """The settings registration reads (from ``Settings`` and the preset)."""

    enumeration_safe: bool = False
    captcha: bool = True  # the preset asks for a captcha on the form
    per_ip_per_hour: int = 30
    consent_version: str = "2024-01"
    public_url: str = ""  # the email link (gosuslugi) points here


class RegistrationService:
    def __init__(self, policy: RegistrationPolicy, *, forms: RegistrationForms, proof: ContactProof, db: Database,
                 clock: Clock, passwords: PasswordPolicy, hasher: PasswordHasher, captcha: CaptchaVerifier,
                 limiter: Limiter, outbox: Outbox, catalog: Catalog, sessions: SessionService,
                 wake_courier: Callable[[], None], card_linker: CardLinker | None = None,
                 external_linker: ExternalLinker | None = None) -> None:
        self.policy = policy
        self.forms = forms
        self.variant = forms.variant
        self.proof = proof
        self.db = db
        self.clock = clock
        self.passwords = passwords
        self.hasher = hasher
        self.captcha = captcha
        self.limiter = limiter
        self.outbox = outbox
        self.catalog = catalog
        self.sessions = sessions
        self.wake_courier = wake_courier
        self.card_linker = card_linker
        self.external_linker = external_linker
        self.per_ip = Rule("register-ip", policy.per_ip_per_hour, 3600)

    # -- start ------------------------------------------------------------------------------

    async def _taken(self, plan: Plan) -> tuple[str, str] | None:
        """Which identifier of the form an account already has, and that account's id."""
        if plan.phone:
            row = await self.db.first(select(Account.id).where(Account.phone == plan.phone))
            if row is not None:
                return "phone", str(row[0])
        if plan.email:
            row = await self.db.first(select(Account.id).where(Account.email == plan.email))
            if row is not None:
                return "email", str(row[0])
        return None

    async def start(self, inp: RegistrationInput, ctx: Context) -> RegistrationView:
        if inp.password is not None:
            self.passwords.check_size(inp.password)
            self.passwords.check_size(inp.password_repeat or "x", field="password_repeat")
        plan = await self.forms.plan(inp)
        if self.policy.captcha:
            await require_captcha(self.captcha, inp.captcha, "register", ctx.ip)
        await self.limiter.hit(self.per_ip, ctx.ip, message_id="error.rate_limited")

        taken = await self._taken(plan)
        password_hash = await self.hasher.hash(plan.password) if plan.password else None  # no transaction open
        if taken and not self.policy.enumeration_safe:
            field = self.variant.field_for(taken[0])
            raise Conflict(f"registration.{taken[0]}_taken", field=field, code="identifier_taken")
        now = self.clock.now()
        data: dict[str, object] = {
            "phone": plan.phone, "email": plan.email, "channel": plan.channel, "to": plan.to,
            "password_hash": password_hash, "profile": plan.profile, "segment": plan.segment, "card": plan.card,
            "email_link": plan.confirm_email_by_link, "consent_marketing": bool(inp.consent_marketing),
            "locale": ctx.locale, "decoy": bool(taken) or not plan.to,
        }
        flow = make_flow(kind=F.KIND, state=F.CODE_SENT, data=data, now=now, ttl_seconds=F.FLOW_TTL_SECONDS,
                         ip=ctx.ip)
        await self.proof.reserve(flow, ctx)
        async with self.db.append() as s:  # only new rows: the lighter unit of work
            s.add(flow)
            # Enumeration-safe and taken: the caller sees the usual next step (the same code step,
            # undeliverable), and the owner is told instead.
            code = self.proof.send(s, flow, ctx, now)
            if taken:
                self._tell_owner(s, plan, taken, ctx, now)
        self.proof.sent(flow)
        if taken:
            self.wake_courier()
        return self._view(flow, code)

    def _tell_owner(self, s: Adds, plan: Plan, taken: tuple[str, str], ctx: Context, now: dt.datetime) -> None:
        """«Кто-то пытается зарегистрироваться с вашим номером» — to the cabinet that holds it (SECURITY.md:
        the owner gets a message pointing to recovery).  A taken email beside a phone the code goes to
        is told by email: the phone may be the registrant's own, and a «someone is registering» SMS
        there instead of a code would tell them the email is taken."""
        channel, to = plan.channel, plan.to
        if taken[0] == "email" and plan.email and plan.to != plan.email:
            channel, to = "email", plan.email
        self.outbox.enqueue(s, kind="registration_exists", channel=channel, to=to,
                            now=now, locale=ctx.locale, account_id=taken[1])

    async def start_external(self, inp: RegistrationInput, ctx: Context, external: External) -> Completed | RegistrationView:
        """The preset's form without a password, begun at a provider: a contact the trusted provider
        proved completes it at once, any other is confirmed by a code as usual; the account is created
        linked and without a password.

        Enumeration-safe mode keeps the no-oracle rule of :meth:`start` (SECURITY.md: registration):
        a phone or email another cabinet holds — the provider's claim, verified or not, or what the
        person typed — gets the same code step as a free one, undeliverable, and the owner is told;
        nothing is linked to that cabinet and nobody is signed in to it.  So nothing completes at
        once there either: a taken contact cannot, so a free one that did would tell the two apart.

        The seed's explicit mode says «номер уже зарегистрирован» here as on the form, so this is such an
        endpoint too and asks for the captcha (SECURITY.md: rate-limited and captcha-protected): one
        provider sign-in would otherwise let a script test typed phones up to the per-IP limit.
        """
        plan = await self.forms.without_password().plan(inp)
        if self.policy.captcha and not self.policy.enumeration_safe:
            await require_captcha(self.captcha, inp.captcha, "register", ctx.ip)
        await self.limiter.hit(self.per_ip, ctx.ip, message_id="error.rate_limited")
        taken = await self._taken(plan)
        if taken and not self.policy.enumeration_safe:
            raise Conflict(f"registration.{taken[0]}_taken", field=self.variant.field_for(taken[0]),
                           code="identifier_taken")
        now = self.clock.now()
        data: dict[str, object] = {
            "phone": plan.phone, "email": plan.email, "channel": plan.channel, "to": plan.to, "password_hash": None,
            "profile": plan.profile, "segment": plan.segment, "card": plan.card,
            "email_link": plan.confirm_email_by_link and plan.email not in external.confirmed,
            "consent_marketing": bool(inp.consent_marketing), "locale": ctx.locale,
            "decoy": bool(taken) or not plan.to,
            "passwordless": True, "external": external.link, "confirmed": list(external.confirmed),
        }
        flow = make_flow(kind=F.KIND, state=F.CODE_SENT, data=data, now=now, ttl_seconds=F.FLOW_TTL_SECONDS,
                         ip=ctx.ip)
        if plan.to in external.confirmed and not plan.card and not self.policy.enumeration_safe:
            try:
                async with self.db.write() as s:
                    s.add(flow)
                    await s.flush()
                    return await self._complete(s, flow, data, None, F.CODE_SENT, ctx, now)
            except IntegrityError:
                raise self._conflict(data) from None
        await self.proof.reserve(flow, ctx)
        async with self.db.append() as s:
            s.add(flow)
            code = self.proof.send(s, flow, ctx, now)
            if taken:
                self._tell_owner(s, plan, taken, ctx, now)
        self.proof.sent(flow)
        if taken:
            self.wake_courier()
        return self._view(flow, code)

    # -- view / resend ----------------------------------------------------------------------

    async def _load(self, flow_id: str | None) -> Flow:
        async with self.db.read() as s:
            return await load_flow(s, flow_id, kind=F.KIND, now=self.clock.now())

    async def view(self, flow_id: str | None) -> RegistrationView:
        flow = await self._load(flow_id)
        return self._view(flow, await self.proof.view(flow))

    def _view(self, flow: Flow, code: CodeView) -> RegistrationView:
        return RegistrationView(
            flow_id=flow.id, state=flow.state, channel=code.channel,
            destination=code.destination if self.variant.shows_destination else "",
            code_expires_at=code.code_expires_at, resend_after_seconds=code.resend_after_seconds,
            expires_at=flow.expires_at,
        )

    async def resend(self, flow_id: str | None, ctx: Context) -> RegistrationView:
        flow = await self._load(flow_id)
        if flow.state != F.CODE_SENT:
            raise StepNotAllowed()
        return self._view(flow, await self.proof.resend(flow, ctx))

    # -- code, password ---------------------------------------------------------------------

    async def submit_code(self, flow_id: str | None, code: str | None, ctx: Context) -> Completed | RegistrationView:
        """The right code completes the registration, or moves it on to the password step."""
        now = self.clock.now()
        flow = await self._load(flow_id)
        if flow.state != F.CODE_SENT:
            raise StepNotAllowed()
        value = self.proof.check_format(code)
        data = flow.data
        done: Completed | None = None
        try:
            async with self.db.write() as s:
                outcome = await self.proof.verify(s, flow, value, now)
                if outcome != "ok":
                    record_event(s, kind="registration", outcome="failure", ctx=ctx, now=now, reason=outcome)
                elif data.get("password_hash") or data.get("passwordless"):
                    done = await self._complete(s, flow, data, data.get("password_hash"), F.CODE_SENT, ctx,  # type: ignore[arg-type]
                                                now)
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
        self.passwords.check_size(password)
        now = self.clock.now()
        flow = await self._load(flow_id)
        if flow.state != F.PASSWORD_NEEDED:
            raise StepNotAllowed()
        data = flow.data
        errors = Errors()
        personal = (str(data.get("phone") or ""), str(data.get("email") or ""))
        value = self.forms.password(password, repeat, personal, errors)
        errors.raise_if_any()
        password_hash = await self.hasher.hash(value)
        try:
            async with self.db.write() as s:
                done = await self._complete(s, flow, data, password_hash, F.PASSWORD_NEEDED, ctx, now)
        except IntegrityError:
            raise self._conflict(data) from None
        return done

    def _conflict(self, data: dict[str, object]) -> Conflict:
        taken = "phone" if data.get("phone") else "email"
        field = self.variant.field_for(taken)
        return Conflict(f"registration.{taken}_taken", field=field, code="identifier_taken")

    async def _complete(self, s: AsyncSession, flow: Flow, data: dict[str, object], password_hash: str | None,
                        from_state: str, ctx: Context, now: dt.datetime) -> Completed:
        # The password hash never stays in the flow row.
        kept = {k: v for k, v in data.items() if k != "password_hash"}
        await transition(s, flow, from_state=from_state, to_state=F.COMPLETED, now=now, data=kept)
        channel = data["channel"]
        profile = data.get("profile") or {}
        assert isinstance(profile, dict)
        confirmed = data.get("confirmed") or []
        assert isinstance(confirmed, list)
        account = accounts.new_account(
            now,
            phone=data.get("phone"),
            phone_verified_at=now if channel == "sms" or data.get("phone") in confirmed else None,
            email=data.get("email"),
            email_verified_at=now if channel == "email" or data.get("email") in confirmed else None,
            password_hash=password_hash,
            password_changed_at=now if password_hash else None,
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
        link = data.get("external")
        if isinstance(link, dict) and self.external_linker:
            await self.external_linker(s, account.id, link, ctx, now)
        if data.get("card") and self.card_linker:
            await self.card_linker(s, account.id, str(data["card"]), ctx, now)
        if data.get("email_link") and account.email and not account.email_verified_at:
            link = new_flow(s, kind=EMAIL_LINK_KIND, state="sent", data={"email": account.email}, now=now,
                            ttl_seconds=EMAIL_LINK_TTL, ip=ctx.ip, account_id=account.id)
            self.outbox.enqueue(s, kind="email_link", channel="email", to=account.email, now=now,
                                  locale=account.locale, account_id=account.id,
                                  params={"link": f"{self.policy.public_url}/verify-email?token={link.id}"})
        cat, version = self.catalog, self.policy.consent_version
        record_consent(s, account_id=account.id, kind=PERSONAL_DATA, granted=True, version=version,
                       text=cat.text("consent.personal_data", ctx.locale), ctx=ctx, now=now)
        record_consent(s, account_id=account.id, kind=MARKETING, granted=bool(data.get("consent_marketing")),
                       version=version, text=cat.text("consent.marketing", ctx.locale), ctx=ctx, now=now)
        record_event(s, kind="registration", outcome="success", ctx=ctx, now=now, account_id=account.id)
        # An account made through a provider proved itself there (``fed``), not with a password.
        session = self.sessions.issue(s, account_id=account.id, ctx=ctx, strength=FEDERATED if not password_hash else PASSWORD,
                                        kind="cookie" if ctx.surface == "ui" else "bearer")
        return Completed(account, session)

    # -- email link ---------------------------------------------------------------------------

    async def confirm_email(self, token: str | None, ctx: Context) -> None:
        """«Подтвердить почту» from the link in the email (a POST from the page the link opens)."""
        now = self.clock.now()
        async with self.db.write() as s:
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

