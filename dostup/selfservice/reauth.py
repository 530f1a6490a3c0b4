"""Re-authentication before sensitive actions (SECURITY.md: 15 minutes; ASVS 6.3.x / NIST 800-63B §4.1.3).

Changing phone, email, password or second factors, or deleting the account, needs a proof within
the last 15 minutes.  Re-authentication is a one-step flow: the user proves it again by one of
the methods wired in (:class:`ReauthMethod`: the password now; TOTP and passkeys next), the
session's strength is combined with the proof and its token rotated.

Ceremonies (``login.ceremony``: a passkey) prove it by challenge and answer instead:
:meth:`ReauthService.begin_ceremony` keeps the challenge in a flow bound to this session (5
minutes, single-use), :meth:`ReauthService.finish_ceremony` checks the answer and rotates.

Guesses are throttled like sign-in, per account *and* per session (issue 8 §4b: a stolen session
must not become a password oracle): a captcha after 5 failures, then a growing lock, each try a
security event.  The password-change form's «старый пароль» shares these counters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import update

from dostup.accounts.events import record_event
from dostup.core.clock import Clock
from dostup.core.context import Context
from dostup.core.errors import AuthenticationFailed, DostupError, Forbidden, NotFound, RateLimited, ValidationFailed
from dostup.credentials import repository as credentials
from dostup.credentials.password import PasswordPolicy
from dostup.guards.throttle import Attempt, Throttle
from dostup.identity import repository as accounts
from dostup.persistence.db import Database, Raw
from dostup.persistence.models import Account, Session
from dostup.selfservice.login import ceremony as ceremonies
from dostup.selfservice.login.ceremony import Ceremony, Pending
from dostup.session.manage import rotate
from dostup.session.reader import SessionRecord
from dostup.session.service import IssuedSession, SessionService
from dostup.session.strength import Strength

KIND = "reauth"


class ReauthRequired(Forbidden):
    code = "reauth_required"
    message_id = "reauth.required"


class SecondFactorRequired(ReauthRequired):
    """The account has a second factor and this session proved only one: step up first (aal2)."""

    code = "second_factor_required"
    message_id = "reauth.second_factor_required"


@dataclass(frozen=True)
class ReauthInput:
    """The proof typed in: the password, or the ``code`` of ``method`` (totp)."""

    method: str = "password"
    password: str | None = None
    code: str | None = None
    captcha: str | None = None  # required after 5 wrong answers

    @property
    def answer(self) -> str | None:
        return self.password if self.method == "password" else self.code


class ReauthMethod(Protocol):
    id: str
    strength: Strength  # what a success proves, combined into the session's
    field: str  # the form field the answer is typed into, and where a wrong one is reported
    wrong_message_id: str

    async def verify(self, account: Account, answer: str, ctx: Context) -> bool: ...


def throttle_subjects(rec: SessionRecord) -> list[str]:
    return [f"account:{rec.account_id}", f"session:{rec.id}"]


class ReauthService:
    def __init__(self, db: Database, clock: Clock, sessions: SessionService, policy: PasswordPolicy,
                 throttle: Throttle, methods: list[ReauthMethod], window_seconds: int,
                 ceremonies: list[Ceremony] | None = None, second_factor_types: frozenset[str] = frozenset()) -> None:
        self._db = db
        self._clock = clock
        self._sessions = sessions
        self._policy = policy
        self.throttle = throttle
        self._methods = {m.id: m for m in methods}
        self._window = window_seconds
        self.ceremonies = {m.id: m for m in ceremonies or []}
        self._second_factor_types = second_factor_types

    def is_recent(self, rec: SessionRecord) -> bool:
        return (self._clock.now() - rec.authenticated_at).total_seconds() <= self._window

    async def require_recent(self, rec: SessionRecord) -> None:
        """A proof within the window; and, when the account has a second factor, a session that
        proved two (SECURITY.md: sensitive actions need aal2 when the account has a second factor)."""
        if not self.is_recent(rec):
            raise ReauthRequired()
        if rec.strength.aal < 2 and self._second_factor_types and await credentials.types_of(
                self._db, rec.account_id, self._second_factor_types):
            raise SecondFactorRequired()

    async def captcha_needed(self, rec: SessionRecord) -> bool:
        return self.throttle.needs_captcha((await self.throttle.open(throttle_subjects(rec))).failures)

    async def begin(self, rec: SessionRecord, captcha: str | None, ctx: Context) -> Attempt:
        """Open a throttled attempt at proving a secret again (here or at the password change)."""
        attempt = await self.throttle.open(throttle_subjects(rec))
        if attempt.locked:
            raise RateLimited(attempt.lock_ttl, "reauth.locked")
        await self.throttle.check_captcha(attempt, captcha, "login", ctx.ip)
        return attempt

    async def confirm(self, rec: SessionRecord, inp: ReauthInput, ctx: Context) -> IssuedSession:
        method = inp.method
        proof = self._methods.get(method)
        if proof is None:
            raise ValidationFailed("reauth.method_invalid", field="method")
        answer = self._policy.check_size(inp.answer, field=proof.field)
        attempt = await self.begin(rec, inp.captcha, ctx)
        async with self._db.read() as s:
            account = await accounts.by_id(s, rec.account_id)
        ok = account is not None and await proof.verify(account, answer, ctx)
        now = self._clock.now()
        async with self._db.write() as s:
            record_event(s, kind="reauth", outcome="success" if ok else "failure", ctx=ctx, now=now,
                         account_id=rec.account_id, method=method)
            if ok:
                issued = await rotate(s, self._sessions, rec, ctx, strength=rec.strength.combined(proof.strength),
                                      now=now)
        if not ok:
            await self.throttle.failed(attempt)
            raise AuthenticationFailed(proof.wrong_message_id, field=proof.field)
        await self.throttle.succeeded(attempt)
        return issued

    async def offered(self, account_id: str) -> tuple[str, ...]:
        """The ceremonies this account can re-authenticate with (it has their credential)."""
        if not self.ceremonies:
            return ()
        from dostup.credentials import repository as credentials

        types = await credentials.types_of(self._db, account_id, {m.credential_type for m in self.ceremonies.values()})
        return tuple(m.id for m in self.ceremonies.values() if m.credential_type in types)

    async def begin_ceremony(self, rec: SessionRecord, method: str, ctx: Context) -> Pending:
        ceremony = self.ceremonies.get(method)
        if ceremony is None:
            raise ValidationFailed("reauth.method_invalid", field="method")
        attempt = await self.throttle.open(throttle_subjects(rec))
        if attempt.locked:
            raise RateLimited(attempt.lock_ttl, "reauth.locked")
        started = await ceremony.start(rec.account_id, ctx)
        async with self._db.append() as batch:
            return ceremonies.persist(batch, kind=KIND, method=method, started=started, now=self._clock.now(),
                                      ip=ctx.ip, account_id=rec.account_id, bound={"session": rec.id})

    async def finish_ceremony(self, rec: SessionRecord, flow_id: str | None, answer: object,
                              ctx: Context) -> IssuedSession:
        """Check the answer; the session's strength is combined with what it proves (a passkey
        raises it to ``aal2``) and its token rotated, in one unit of work with the spent challenge."""
        now = self._clock.now()

        def job(raw: Raw) -> IssuedSession | DostupError:
            flow = ceremonies.spend(raw, flow_id, kind=KIND, now=now)
            ceremony = self.ceremonies.get(str(flow.data.get("method")))
            if ceremony is None or flow.data.get("session") != rec.id:
                raise NotFound("flow.not_found")
            result = ceremonies.run(ceremonies.Work(raw, now), ceremony, flow, answer, ctx)
            if isinstance(result, DostupError):
                record_event(raw, kind="reauth", outcome="failure", ctx=ctx, now=now, account_id=rec.account_id,
                             method=ceremony.id, reason=result.code)
                return result
            record_event(raw, kind="reauth", outcome="success", ctx=ctx, now=now, account_id=rec.account_id,
                         method=ceremony.id, **result.detail)
            # session.manage.rotate, in this unit of work: the old token dies with the new one's issue
            raw.core.execute(update(Session).where(Session.id == rec.id).values(revoked_at=now))
            return self._sessions.issue(raw, account_id=rec.account_id, ctx=ctx, remember=rec.remember,
                                        strength=rec.strength.combined(result.strength), kind=rec.kind)

        outcome = await self._db.run_raw(job)
        if isinstance(outcome, DostupError):
            await self.throttle.failed(await self.throttle.open(throttle_subjects(rec)))
            raise outcome
        return outcome
