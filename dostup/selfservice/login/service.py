"""Sign-in with throttling that strangers cannot turn into a lockout or an oracle.

OWASP Authentication / Credential Stuffing cheat sheets, NIST 800-63B §5.2.2:
- per IP: more than 10 attempts a minute → 429 with ``Retry-After``;
- per identifier (counted whether or not an account exists, so the counter is no oracle):
  captcha after 5 failures, then a lock growing by 1 min per failure (``guards.throttle``);
  the lock only delays — recovery keeps working;
- unknown account, wrong password and locked account give one error and cost one argon2
  verification each (a dummy hash for unknown accounts), so status, body and time match.

An account with a second factor gets no session from its first factor: the flow is persisted in
state ``second_factor`` for 10 minutes, and :meth:`LoginService.second_factor` finishes it.  That
step allows 5 tries per flow (every try counted, also in parallel) and is throttled per account
like passwords (SECURITY.md: second factors).

Ceremonies (``login.ceremony``: passkeys now, social sign-in next) sign in by themselves
(:meth:`LoginService.begin` without a flow, then :meth:`LoginService.finish`) or finish a flow
waiting for its second step (``begin`` with that flow).  A ceremony is offered at the second step
when the account has its credential, but does not by itself make the password need a second step.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select, update

from dostup.accounts.events import record_event
from dostup.core.clock import Clock
from dostup.core.context import Context
from dostup.core.errors import (
    AuthenticationFailed,
    DostupError,
    Forbidden,
    NotFound,
    RateLimited,
    StepNotAllowed,
    ValidationFailed,
)
from dostup.core.masking import mask_email, mask_phone
from dostup.credentials import repository as credentials
from dostup.credentials.password import PasswordPolicy
from dostup.guards.limits import Count, Limiter, Rule
from dostup.guards.store import UnitCounters
from dostup.guards.throttle import Attempt, Throttle
from dostup.identity import repository as accounts
from dostup.identity.documents import mask_card
from dostup.identity.repository import BLOCKED, AccountSummary
from dostup.persistence.db import Adds, Database, Raw
from dostup.persistence.models import Account, Flow
from dostup.selfservice import flows
from dostup.selfservice.flows import load_flow, new_flow, transition
from dostup.selfservice.login import ceremony as ceremonies
from dostup.selfservice.login.ceremony import Ceremony, Pending, Proven, SignedFlows, Spent
from dostup.selfservice.login.flow import (
    IDENTIFIERS,
    KIND,
    FirstFactor,
    IdentifierFinder,
    LoginData,
    LoginInput,
    LoginOutcome,
    SecondFactor,
    State,
    Verdict,
)
from dostup.selfservice.notices import SignInNotice, SignInWanted
from dostup.session.service import IssuedSession, SessionService
from dostup.session.strength import Strength, is_unrestricted
from dostup.settings import LimitSettings

INVALID_MESSAGE = {
    "phone": "login.invalid_credentials",
    "login": "login.invalid_login_credentials",
    "email": "login.invalid_email_credentials",
    "snils": "login.invalid_snils_credentials",
    "card": "login.invalid_card_credentials",
}
SECOND_FACTOR_TTL_SECONDS = 600
SECOND_FACTOR_TRIES = 5


class SecondFactorFailed(AuthenticationFailed):
    code = "second_factor_invalid"
    message_id = "login.second_factor_invalid"


class SecondFactorExhausted(StepNotAllowed):
    code = "second_factor_exhausted"
    message_id = "login.second_factor_exhausted"


def _masked(kind: str, value: str) -> str:
    """How a tried identifier appears in the security history: never whole where it is personal."""
    if kind == "phone":
        return mask_phone(value)
    if kind == "email":
        return mask_email(value)
    if kind == "card":
        return mask_card(value)
    if kind == "snils":
        return "***-***-*** " + value[-2:]
    return value


class LoginService:
    def __init__(
        self,
        *,
        db: Database,
        clock: Clock,
        limits: LimitSettings,
        limiter: Limiter,
        throttle: Throttle,
        second_factor_throttle: Throttle,
        policy: PasswordPolicy,
        sessions: SessionService,
        identifiers: dict[str, IdentifierFinder],
        enabled_identifiers: tuple[str, ...],
        captcha_always_on: tuple[str, ...],
        first_factors: list[FirstFactor],
        second_factors: list[SecondFactor],
        ceremonies: list[Ceremony] | None = None,
        signed_flows: SignedFlows | None = None,
        signin_notice: SignInNotice | None = None,
        wake_courier: Callable[[], None] | None = None,
    ) -> None:
        self._db = db
        self._clock = clock
        self._limiter = limiter
        self._throttle = throttle
        self._second_throttle = second_factor_throttle
        self._policy = policy
        self._sessions = sessions
        self.finders = identifiers
        self._enabled = enabled_identifiers
        self._captcha_always_on = captcha_always_on
        self._first = first_factors
        self._second = {m.id: m for m in second_factors}
        self.ceremonies = {m.id: m for m in ceremonies or []}
        self._signed = signed_flows  # a sign-in's ceremony by itself: its flow stored only when answered
        self._signin_notice = signin_notice  # «Вход в личный кабинет», for those who asked for it
        self._wake_courier = wake_courier
        self.per_ip = Rule("signin-ip", limits.signin_per_ip_per_minute, 60)
        # A ceremony's start writes a flow row but guesses nothing (its answer is a signature), and
        # browsers start one on every sign-in page for autofill: a wider bound than for passwords.
        self.ceremonies_per_ip = Rule("ceremony-ip", limits.signin_per_ip_per_minute * 6, 60)

    def _subject(self, inp: LoginInput) -> tuple[str, str]:
        if inp.method not in IDENTIFIERS or inp.method not in self._enabled or inp.method not in self.finders:
            raise ValidationFailed("login.method_invalid", field="method")
        return inp.method, self.finders[inp.method].parse(inp)

    async def captcha_needed(self, identifier: str, subject: str | None) -> bool:
        if identifier in self._captcha_always_on:
            return True
        if not subject:
            return False
        return self._throttle.needs_captcha((await self._throttle.open([subject])).failures)

    # -- first factor ------------------------------------------------------------------------

    async def login(self, inp: LoginInput, ctx: Context) -> LoginOutcome:
        password = self._policy.check_size(inp.password)
        kind, value = self._subject(inp)
        subject = f"{kind}:{value}"
        # The per-IP count and the identifier's failures and lock, in one round trip.
        seen = await self._limiter.hit_all([Count(self.per_ip, ctx.ip, "login.too_many")],
                                           peek=self._throttle.peek_keys([subject]))
        attempt = self._throttle.attempt([subject], seen)
        await self._throttle.check_captcha(attempt, inp.captcha, "login", ctx.ip,
                                           always=kind in self._captcha_always_on)
        account = await self.finders[kind].find(value)
        # A blocked account's password is checked like any other (the same time and the same
        # counters); only the right one learns that support blocked the account.
        live = account if account is not None and account.state in ("active", BLOCKED) else None

        verdict: Verdict | None = None
        for method in self._first:
            verdict = await method.check(live, password, ctx)
            if verdict is not None:
                break
        # A lock stops passwords, not the temporary password: recovery works while locked.
        locked = attempt.locked and not (verdict is not None and not is_unrestricted(verdict))
        if verdict is None or locked or live is None:
            await self._failed(attempt, account, kind, value, ctx, locked)
            raise AuthenticationFailed(INVALID_MESSAGE[kind])
        if live.state == BLOCKED:
            async with self._db.write() as s:
                record_event(s, kind="login", outcome="blocked", ctx=ctx, now=self._clock.now(), account_id=live.id,
                             method=kind)
            raise Forbidden("login.account_blocked", code="account_blocked")
        await self._throttle.succeeded(attempt)
        if verdict.new_password_hash:  # a hash with old parameters is replaced (SECURITY.md)
            async with self._db.write() as s:
                await s.execute(update(Account).where(Account.id == live.id)
                                .values(password_hash=verdict.new_password_hash))
        enrolled = await self._enrolled(live.id)
        data = LoginData(kind, inp.remember, verdict.strength.aal, verdict.strength.amr,
                         tuple(sorted(verdict.strength.restrictions)))
        if enrolled:
            return await self._await_second_factor(live, data, enrolled, ctx)
        return LoginOutcome(live, await self.issue(live.id, kind, inp.remember, verdict.strength, ctx))

    async def _enrolled(self, account_id: str) -> tuple[str, ...]:
        if not self._second:
            return ()
        types = await credentials.types_of(self._db, account_id, {m.credential_type for m in self._second.values()})
        required = tuple(m.id for m in self._second.values() if m.credential_type in types)
        if not required or not self.ceremonies:
            return required
        more = await credentials.types_of(self._db, account_id, {m.credential_type for m in self.ceremonies.values()})
        return (*required, *(m.id for m in self.ceremonies.values() if m.credential_type in more))

    async def issue(self, account_id: str, method: str, remember: bool, strength: Strength,
                    ctx: Context, **detail: object) -> IssuedSession:
        """The session at the end of a sign-in (also of one a method finished by itself, such as
        the passcode on a bound device), with its success event."""
        now = self._clock.now()
        notice = await self._db.read_raw(lambda raw: self._notice_in(raw, account_id)) if self._signin_notice else None
        async with self._db.append() as batch:  # the usual case only adds rows: the lighter unit of work
            issued = self._issue_in(batch, account_id, method, remember, strength, ctx, now, notice, **detail)
        self._told(notice)
        return issued

    def _issue_in(self, batch: Adds, account_id: str, method: str, remember: bool, strength: Strength,
                  ctx: Context, now: dt.datetime, notice: SignInWanted | None, **detail: object) -> IssuedSession:
        """The success event and the session, and the sign-in notice the account asked for (``notice``,
        read by :meth:`_notice_in`), in the caller's unit of work."""
        record_event(batch, kind="login", outcome="success", ctx=ctx, now=now, account_id=account_id,
                     method=method, amr=list(strength.amr), **detail)
        if notice is not None and self._signin_notice is not None:
            self._signin_notice.write(batch, account_id, notice, ctx, now)
        return self._sessions.issue(batch, account_id=account_id, ctx=ctx, remember=remember,
                                    strength=strength, kind="cookie" if ctx.surface == "ui" else "bearer")

    def _notice_in(self, raw: Raw, account_id: str) -> SignInWanted | None:
        return self._signin_notice.wanted(raw, account_id) if self._signin_notice is not None else None

    def _told(self, notice: SignInWanted | None) -> None:
        """After the unit committed: the courier sends the sign-in notice now rather than at its next poll."""
        if notice is not None and self._wake_courier is not None:
            self._wake_courier()

    async def proven(self, account: Account, method: str, strength: Strength, remember: bool, ctx: Context,
                     **detail: object) -> LoginOutcome:
        """A first factor a method proved by itself (social sign-in: the provider's answer): the
        session, or — when the account has a second factor — the flow waiting for it (SECURITY.md)."""
        enrolled = await self._enrolled(account.id)
        if enrolled:
            data = LoginData(method, remember, strength.aal, strength.amr, ())
            return await self._await_second_factor(account, data, enrolled, ctx)
        return LoginOutcome(account, await self.issue(account.id, method, remember, strength, ctx, **detail))

    async def _await_second_factor(self, account: Account, data: LoginData, methods: tuple[str, ...],
                                   ctx: Context) -> LoginOutcome:
        now = self._clock.now()
        async with self._db.write() as s:
            flow = new_flow(s, kind=KIND, state=State.SECOND_FACTOR, data=data.to_json(), now=now,
                            ttl_seconds=SECOND_FACTOR_TTL_SECONDS, ip=ctx.ip)
            flow.account_id = account.id
            flow.requested_aal = 2
            record_event(s, kind="login", outcome="second_step", ctx=ctx, now=now,
                         account_id=account.id, method=data.identifier)
        return LoginOutcome(account, flow_id=flow.id, methods=methods, expires_at=flow.expires_at)

    async def _failed(self, attempt: Attempt, account: Account | None, kind: str, value: str, ctx: Context,
                      locked: bool) -> None:
        await self._throttle.failed(attempt)
        async with self._db.write() as s:
            record_event(s, kind="login", outcome="locked" if locked else "failure", ctx=ctx,
                         now=self._clock.now(), account_id=account.id if account else None,
                         method=kind, identifier=_masked(kind, value))

    # -- second factor -----------------------------------------------------------------------

    async def second_factor_captcha_needed(self, account_id: str) -> bool:
        return self._second_throttle.needs_captcha((await self._second_throttle.open([f"account:{account_id}"])).failures)

    async def pending(self, flow_id: str | None) -> tuple[str, tuple[str, ...], dt.datetime]:
        """The flow waiting for a second factor: its account, the methods it offers, its expiry."""
        async with self._db.read() as s:
            flow = await load_flow(s, flow_id, kind=KIND, now=self._clock.now())
        methods = await self._enrolled(flow.account_id) if flow.account_id else ()
        if flow.state != State.SECOND_FACTOR or not methods:  # done, failed, or the factor was removed
            raise NotFound("flow.not_found")
        assert flow.account_id is not None
        return flow.account_id, methods, flow.expires_at

    async def second_factor(self, flow_id: str | None, method: str, answer: str | None, ctx: Context,
                            captcha: str | None = None) -> LoginOutcome:
        """Finish a flow waiting for its second step: one write unit of work of plain SQL (take the
        flow by a guarded UPDATE, read its tries and the account's throttle, spend the code, count
        the try unless it succeeded, read the account, open the session, write the events).  A refused try commits its counts
        and events and puts the flow back; an answer that cannot be checked writes nothing."""
        key = flows.checked_id(flow_id)
        factor = self._second.get(method)
        if factor is None:  # a ceremony's second step goes through begin/finish
            raise ValidationFailed("login.second_factor_method_invalid", field="method")
        if not answer or len(answer) > 256:
            raise ValidationFailed("login.second_factor_invalid", field="code", code="second_factor_invalid")
        throttle = self._second_throttle
        solved = await throttle.captcha_solved(captcha, "login", ctx.ip) if captcha else False
        now = self._clock.now()
        tries_key = f"second-factor-tries:{key}"
        early: tuple[int, Attempt] | None = None
        if not throttle.in_units_of(self._db):  # Redis: counted first, in one round trip
            row = await self._db.first(select(Flow.account_id).where(Flow.id == key, Flow.kind == KIND))
            if row is None or row[0] is None:
                raise NotFound("flow.not_found")
            subject = [f"account:{row[0]}"]
            # in the request's ledger: a unit that then fails on the database spends none of the five tries
            counted, peeked = await self._limiter.hit_many([(tries_key, 2**62, SECOND_FACTOR_TTL_SECONDS)],
                                                           throttle.peek_keys(subject))
            early = counted[0].count, throttle.attempt(subject, peeked)

        def job(raw: Raw) -> _Step:
            account_id, data = flows.take_in(raw, key, kind=KIND, from_state=State.SECOND_FACTOR, to_state=State.DONE,
                                             now=now)
            if account_id is None:
                raise NotFound("flow.not_found")
            counters = UnitCounters(raw, now) if early is None else None
            if counters is not None:
                # The try is read, and counted below unless it succeeds: a success ends the flow
                # (taken above, so no other try of it runs now), and its count would be written
                # for nothing — a new row and two index entries in every sign-in's commit.
                subject = [f"account:{account_id}"]
                _, peeked = counters.hit_many([], [tries_key, *throttle.peek_keys(subject)])
                tries, attempt = peeked[0].count + 1, throttle.attempt(subject, peeked[1:])
            else:
                assert early is not None
                tries, attempt = early
            refusal: DostupError | None = (RateLimited(attempt.lock_ttl, "login.second_factor_locked")
                                           if attempt.locked else throttle.captcha_refusal(attempt, captcha, solved))
            added = None
            if refusal is None and tries <= SECOND_FACTOR_TRIES:
                added = factor.spend(raw, account_id, answer, now)  # NotEnrolled rolls the whole unit back
            if added is None and counters is not None:  # not a success: the try counts
                counters.hit_many([(tries_key, 2**62, SECOND_FACTOR_TTL_SECONDS)])
            if refusal is None and tries > SECOND_FACTOR_TRIES:
                return _Step(self._exhausted_in(raw, key, account_id, ctx, now))
            if refusal is not None:
                flows.set_state_in(raw, key, State.SECOND_FACTOR)
                return _Step(refusal)
            if added is None:
                if counters is not None:
                    throttle.failed_in(counters, attempt)
                record_event(raw, kind="second_factor", outcome="failure", ctx=ctx, now=now,
                             account_id=account_id, method=method)
                if tries >= SECOND_FACTOR_TRIES:
                    return _Step(self._exhausted_in(raw, key, account_id, ctx, now), failed=attempt)
                flows.set_state_in(raw, key, State.SECOND_FACTOR)
                return _Step(SecondFactorFailed(field="code"), failed=attempt)
            if counters is not None:
                throttle.succeeded_in(counters, attempt)
            account = added.account or accounts.summary_in(raw, account_id)
            if account is None or account.state != "active":  # blocked (or gone) since its first step
                raise NotFound("flow.not_found")
            login = LoginData.from_json(data)
            # One success event for the sign-in: its ``second_factor`` and ``amr`` say how it was made.
            notice = self._notice_in(raw, account_id)
            session = self._issue_in(raw, account_id, login.identifier, login.remember,
                                     login.strength.combined(added.strength), ctx, now, notice, second_factor=method)
            return _Step(None, succeeded=attempt, outcome=LoginOutcome(account, session), told=notice)

        step = await self._db.run_raw(job)
        if early is not None:  # the store is not the database: its counters move after the unit
            if step.failed is not None:
                await throttle.failed(step.failed)
            elif step.succeeded is not None:
                await throttle.succeeded(step.succeeded)
        if step.error is not None:
            raise step.error
        assert step.outcome is not None
        self._told(step.told)
        return step.outcome

    @staticmethod
    def _exhausted_in(raw: Raw, flow_id: str, account_id: str, ctx: Context, now: dt.datetime) -> DostupError:
        """The flow's tries are used up: it ends (``failed``) in the step's unit of work."""
        flows.set_state_in(raw, flow_id, State.FAILED)
        record_event(raw, kind="second_factor", outcome="exhausted", ctx=ctx, now=now, account_id=account_id)
        return SecondFactorExhausted()

    async def _end(self, flow_id: str, account_id: str, ctx: Context) -> None:
        now = self._clock.now()
        async with self._db.write() as s:
            flow = await load_flow(s, flow_id, kind=KIND, now=now)
            if flow.state == State.SECOND_FACTOR:
                await transition(s, flow, from_state=State.SECOND_FACTOR, to_state=State.FAILED, now=now)
                record_event(s, kind="second_factor", outcome="exhausted", ctx=ctx, now=now, account_id=account_id)

    # -- ceremonies (passkeys; social sign-in next) --------------------------------------------

    async def begin(self, method: str, ctx: Context, flow_id: str | None = None) -> Pending:
        """Start a ceremony: a sign-in by itself, or (``flow_id``) the second step of that flow.

        A sign-in by itself (with :class:`SignedFlows`) writes nothing: its flow id is signed and
        names its challenge, and its per-IP bound is counted when it is answered (:meth:`finish`).
        A second step's per-IP count and its new flow row are one unit of work where the counters
        are rows of the database."""
        ceremony = self.ceremonies.get(method)
        if ceremony is None:
            raise ValidationFailed("login.method_invalid", field="method")
        if flow_id is None and self._signed is not None and method == self._signed.method:
            # writes nothing: the flow id is signed, the per-IP bound counted at the answer
            signed = self._signed.issue(self._clock.now())
            started = await ceremony.start(None, ctx, signed.challenge)
            return Pending(signed.flow_id, method, started.public, signed.expires_at)
        per_ip = [Count(self.ceremonies_per_ip, ctx.ip, "login.too_many")]
        counted_in_unit = self._limiter.in_units_of(self._db)
        if not counted_in_unit:
            await self.count_ceremony(ctx)
        account_id: str | None = None
        if flow_id is not None:
            account_id, offered, _ = await self.pending(flow_id)
            if method not in offered:
                raise ValidationFailed("login.second_factor_method_invalid", field="method")
            attempt = await self._second_throttle.open([f"account:{account_id}"])
            if attempt.locked:
                raise RateLimited(attempt.lock_ttl, "login.second_factor_locked")
        started = await ceremony.start(account_id, ctx)
        now = self._clock.now()

        def job(raw: Raw) -> Pending | RateLimited:
            if counted_in_unit:
                over = self._limiter.count_in(UnitCounters(raw, now), per_ip)
                if over is not None:
                    return over.error()  # the count is kept, as the store keeps it
            return ceremonies.persist(raw, kind=KIND, method=method, started=started, now=now, ip=ctx.ip,
                                      account_id=account_id, bound={"parent": flow_id})

        pending = await self._db.run_raw(job)
        if isinstance(pending, RateLimited):
            raise pending
        return pending

    async def count_ceremony(self, ctx: Context) -> None:
        """A ceremony's start (a passkey's options, a round trip to a social provider) against the per-IP bound."""
        await self._limiter.hit_all([Count(self.ceremonies_per_ip, ctx.ip, "login.too_many")])

    async def finish(self, flow_id: str | None, answer: object, ctx: Context, *, remember: bool = False) -> LoginOutcome:
        """Check the answer to a started ceremony (its challenge is spent whatever the outcome)
        and open the session: one unit of work with the spent challenge and the event."""
        now = self._clock.now()
        signed = None
        if self._signed is not None and SignedFlows.shaped(flow_id):
            assert flow_id is not None
            signed = self._signed.check(flow_id, now)  # NotFound / FlowExpired before any I/O
        per_ip = [Count(self.ceremonies_per_ip, ctx.ip, "login.too_many")]
        counted_in_unit = self._limiter.in_units_of(self._db)
        if signed is not None and not counted_in_unit:
            await self.count_ceremony(ctx)
        signed_method = self._signed.method if self._signed is not None else ""
        told: SignInWanted | None = None

        def job(raw: Raw) -> tuple[Spent | None, AccountSummary | DostupError, IssuedSession | None]:
            nonlocal told
            work = ceremonies.Work(raw, now)
            if signed is None:
                flow = ceremonies.spend(raw, flow_id, kind=KIND, now=now)
            else:
                if counted_in_unit:
                    over = self._limiter.count_in(UnitCounters(raw, now), per_ip)
                    if over is not None:
                        return None, over.error(), None  # the count is kept, the flow not spent
                flow = ceremonies.spend_signed(raw, signed, method=signed_method, now=now)
            method = str(flow.data.get("method"))
            ceremony = self.ceremonies.get(method)
            if ceremony is None:
                raise NotFound("flow.not_found")
            parent = flow.data.get("parent")
            result = ceremonies.run(work, ceremony, flow, answer, ctx)
            account = None
            if isinstance(result, Proven):
                account = result.account or accounts.summary_in(raw, result.account_id)
            if isinstance(result, Proven) and (account is None or account.state != "active"):
                result = AuthenticationFailed("ceremony.failed")
            if isinstance(result, DostupError):
                record_event(raw, kind="second_factor" if parent else "login", outcome="failure", ctx=ctx, now=now,
                             account_id=flow.account_id, method=method, reason=result.code)
                return flow, result, None
            assert account is not None
            if parent:
                data = _second_step_done(work, str(parent))
                strength = data.strength.combined(result.strength)
            else:
                data = LoginData(method, remember, result.strength.aal, result.strength.amr, ())
                strength = result.strength
            # One success event for the sign-in, a second step's too: ``second_factor`` and ``amr`` say how.
            detail = {**result.detail, "second_factor": method} if parent else result.detail
            told = self._notice_in(raw, account.id)
            session = self._issue_in(raw, account.id, method, data.remember, strength, ctx, now, told, **detail)
            return flow, account, session

        flow, outcome, session = await self._db.run_raw(job)
        if isinstance(outcome, DostupError):
            parent = flow.data.get("parent") if flow is not None else None
            if parent and flow is not None and flow.account_id:
                await self._second_step_failed(str(parent), flow.account_id, ctx)
            raise outcome
        self._told(told)
        return LoginOutcome(outcome, session)

    async def _second_step_failed(self, parent: str, account_id: str, ctx: Context) -> None:
        """A refused answer at the second step counts as one of its 5 tries and a throttle failure."""
        tries = await self._limiter.store.incr(f"second-factor-tries:{parent}", SECOND_FACTOR_TTL_SECONDS)
        await self._second_throttle.failed(await self._second_throttle.open([f"account:{account_id}"]))
        if tries >= SECOND_FACTOR_TRIES:
            await self._end(parent, account_id, ctx)


@dataclass(frozen=True, slots=True)
class _Step:
    """What a second step's unit of work decided: the refusal to raise after it committed (or the
    outcome), and which throttle attempt failed or succeeded (for a store outside the database)."""

    error: DostupError | None
    failed: Attempt | None = None
    succeeded: Attempt | None = None
    outcome: LoginOutcome | None = None
    told: SignInWanted | None = None  # the sign-in notice written with the session


def _second_step_done(work: ceremonies.Work, parent: str) -> LoginData:
    """Finish the sign-in that waited for this second step (guarded: it completes once)."""
    try:
        _, data = flows.take_in(work.raw, parent, kind=KIND, from_state=State.SECOND_FACTOR, to_state=State.DONE,
                                now=work.now)
    except DostupError:
        raise StepNotAllowed() from None
    return LoginData.from_json(data)
