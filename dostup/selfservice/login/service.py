"""Sign-in with throttling that strangers cannot turn into a lockout or an oracle.

OWASP Authentication / Credential Stuffing cheat sheets, NIST 800-63B §5.2.2:
- per IP: more than 10 attempts a minute → 429 with ``Retry-After``;
- per identifier (counted whether or not an account exists, so the counter is no oracle):
  captcha after 5 failures, then a lock growing by 1 min per failure up to 15 min, reset by a
  success or after 12 h; tries during a lock are not counted, so nobody can stretch it, and the
  lock only delays — recovery keeps working;
- unknown account, wrong password and locked account give one error and cost one argon2
  verification each (a dummy hash for unknown accounts), so status, body and time match.
"""

from __future__ import annotations

from sqlalchemy import update

from dostup.accounts.events import record_event
from dostup.core.context import Context
from dostup.core.errors import AuthenticationFailed, CaptchaRequired, ValidationFailed
from dostup.core.masking import mask_email, mask_phone
from dostup.credentials.password import PasswordHasher
from dostup.guards.limits import Count, Rule
from dostup.identity.documents import mask_card
from dostup.persistence.db import Adds
from dostup.persistence.models import Account
from dostup.selfservice.deps import FlowDeps
from dostup.selfservice.login.flow import METHODS, CredentialCheck, IdentifierFinder, LoginInput, Verdict
from dostup.session.service import ACTIVE, IssuedSession

INVALID_MESSAGE = {
    "phone": "login.invalid_credentials",
    "login": "login.invalid_login_credentials",
    "email": "login.invalid_email_credentials",
    "snils": "login.invalid_snils_credentials",
    "card": "login.invalid_card_credentials",
}


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


class PasswordCheck:
    def __init__(self, hasher: PasswordHasher) -> None:
        self._hasher = hasher

    async def check(self, account: Account | None, secret: str, ctx: Context) -> Verdict | None:
        ok, rehash = await self._hasher.verify(account.password_hash if account else None, secret)
        if not ok:
            return None
        return Verdict(ACTIVE, await self._hasher.hash(secret) if rehash else None)


class LoginService:
    def __init__(self, deps: FlowDeps, checks: list[CredentialCheck], finders: dict[str, IdentifierFinder]) -> None:
        self.d = deps
        self.checks = checks
        self.finders = finders
        lim = deps.settings.limits
        self.per_ip = Rule("signin-ip", lim.signin_per_ip_per_minute, 60)

    def _subject(self, inp: LoginInput) -> tuple[str, str]:
        if inp.method not in METHODS or inp.method not in self.d.preset.signin_methods or inp.method not in self.finders:
            raise ValidationFailed("login.method_invalid", field="method")
        return inp.method, self.finders[inp.method].parse(inp)

    async def _find(self, kind: str, value: str) -> Account | None:
        return await self.finders[kind].find(value)

    async def captcha_needed(self, method: str, subject: str | None) -> bool:
        if method in self.d.preset.captcha_always_on:
            return True
        if not subject:
            return False
        return self._too_many_failures(await self.d.limiter.store.get(f"signin-fail:{subject}"))

    def _too_many_failures(self, failures: int) -> bool:
        return failures >= self.d.settings.limits.signin_captcha_after_failures

    async def login(self, inp: LoginInput, ctx: Context) -> tuple[Account, IssuedSession]:
        password = self.d.policy.check_size(inp.password)
        kind, value = self._subject(inp)
        subject = f"{kind}:{value}"
        # The per-IP count and the identifier's failures and lock, in one round trip.
        failures, lock = await self.d.limiter.hit_all(
            [Count(self.per_ip, ctx.ip, "login.too_many")], peek=(f"signin-fail:{subject}", f"signin-lock:{subject}")
        )
        if kind in self.d.preset.captcha_always_on or self._too_many_failures(failures.count):
            if not inp.captcha:
                raise CaptchaRequired()
            if not await self.d.captcha.verify(inp.captcha, "login", ctx.ip):
                raise CaptchaRequired("captcha.invalid", code="captcha_invalid")
        store = self.d.limiter.store
        locked = lock_seen = lock.ttl > 0
        account = await self._find(kind, value)
        live = account if account is not None and account.state == "active" else None

        verdict: Verdict | None = None
        for check in self.checks:
            verdict = await check.check(live, password, ctx)
            if verdict is not None:
                break
        now = self.d.clock.now()
        # A lock stops passwords, not the temporary password: recovery works while locked.
        if locked and verdict is not None and verdict.session_state != ACTIVE:
            locked = False
        if verdict is None or locked or live is None:
            await self._failed(subject, account, kind, value, ctx, locked)
            raise AuthenticationFailed(INVALID_MESSAGE[kind])

        assert live is not None

        def sign_in(s: Adds) -> IssuedSession:
            record_event(s, kind="login", outcome="success", ctx=ctx, now=now, account_id=live.id, method=kind)
            return self.d.sessions.issue(
                s, account_id=live.id, ctx=ctx, remember=inp.remember, state=verdict.session_state,
                kind="cookie" if ctx.surface == "ui" else "bearer",
            )

        if verdict.new_password_hash:  # a hash with old parameters is replaced (SECURITY.md)
            async with self.d.db.write() as s:
                await s.execute(update(Account).where(Account.id == live.id)
                                .values(password_hash=verdict.new_password_hash))
                session = sign_in(s)
        else:  # the usual case only adds rows: the lighter unit of work
            async with self.d.db.append() as batch:
                session = sign_in(batch)
        # A success resets the failure count and the lock.  When both were read above as absent
        # there is nothing to reset, and the write is skipped (a third of a sign-in's database
        # work).  A failure counted by a concurrent request since then is kept, as it would be
        # had it landed just after the reset: the skipped delete takes effect at the read.
        if failures.count != 0 or lock_seen:
            await store.delete(f"signin-fail:{subject}", f"signin-lock:{subject}")
        return live, session

    async def _failed(self, subject: str, account: Account | None, kind: str, value: str, ctx: Context, locked: bool) -> None:
        lim = self.d.settings.limits
        store = self.d.limiter.store
        if not locked:  # tries during a lock are refused unseen: they cannot stretch the lock
            failures = await store.incr(f"signin-fail:{subject}", lim.signin_failure_window_seconds)
            if failures >= lim.signin_lock_after_failures:
                steps = failures - lim.signin_lock_after_failures + 1
                wait = min(lim.signin_lock_max_seconds, steps * lim.signin_lock_step_seconds)
                await store.put(f"signin-lock:{subject}", 1, wait)
        shown = _masked(kind, value)
        async with self.d.db.write() as s:
            record_event(s, kind="login", outcome="locked" if locked else "failure", ctx=ctx,
                         now=self.d.clock.now(), account_id=account.id if account else None,
                         method=kind, identifier=shown)
