"""«Изменить пароль»: old, new, repeat (SECURITY.md: passwords; NIST 800-63B §5.1.1.2).

Also the forced change after signing in with a temporary password, where «Старый пароль» is
that temporary password.  Afterwards the current session rotates (and leaves the limited state),
every other session ends, and the user is told by SMS or email.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import select, update

from dostup.accounts.events import record_event
from dostup.core.clock import Clock
from dostup.core.context import Context
from dostup.core.crypto import Keyring
from dostup.core.errors import FormErrors, ValidationFailed
from dostup.courier.outbox import Outbox
from dostup.credentials import devices
from dostup.credentials.password import PasswordHasher, PasswordPolicy
from dostup.identity import repository as accounts
from dostup.persistence.db import Database
from dostup.persistence.models import Account, Flow, OneTimeCode
from dostup.selfservice.notices import notice_destination
from dostup.selfservice.reauth import ReauthService
from dostup.selfservice.recovery.flow import DONE, SIGNED_IN
from dostup.selfservice.recovery.flow import KIND as RECOVERY
from dostup.session.manage import rotate
from dostup.session.reader import SessionRecord
from dostup.session.service import IssuedSession, SessionsEnded, SessionService
from dostup.session.strength import PASSWORD_CHANGE, is_unrestricted

RECOVERY_PURPOSE = "recovery"


@dataclass(frozen=True)
class PasswordChangeInput:
    old_password: str | None = None
    new_password: str | None = None
    new_password_repeat: str | None = None
    captcha: str | None = None  # required after 5 wrong old passwords




class PasswordChangeService:
    def __init__(self, *, db: Database, clock: Clock, hasher: PasswordHasher, keyring: Keyring, outbox: Outbox, policy: PasswordPolicy, sessions: SessionService, wake_courier: Callable[[], None], sms_countries: Sequence[str], reauth: ReauthService, ended: Sequence[SessionsEnded] = ()) -> None:
        self._db = db
        self._clock = clock
        self._hasher = hasher
        self._keyring = keyring
        self._outbox = outbox
        self._policy = policy
        self._sessions = sessions
        self._wake_courier = wake_courier
        self._sms_countries = sms_countries
        self.reauth = reauth
        self._ended = ended

    async def _old_matches(self, rec: SessionRecord, account: Account, old: str) -> bool:
        if not is_unrestricted(rec):
            async with self._db.read() as s:
                code = (
                    await s.execute(
                        select(OneTimeCode)
                        .where(OneTimeCode.account_id == account.id, OneTimeCode.purpose == RECOVERY_PURPOSE)
                        .where(OneTimeCode.used_at.is_not(None))
                        .order_by(OneTimeCode.used_at.desc())
                        .limit(1)
                    )
                ).scalar_one_or_none()
            return code is not None and self._keyring.check(
                "code", code.code_hash, code.purpose, code.destination, old.strip()
            )
        ok, _ = await self._hasher.verify(account.password_hash, old)
        return ok

    async def change(self, rec: SessionRecord, inp: PasswordChangeInput, ctx: Context) -> IssuedSession:
        """Set a new password.  The old one is throttled with re-authentication's counters (per
        account and per session): a stolen session must not become a way to guess it."""
        old, new, repeat = inp.old_password, inp.new_password, inp.new_password_repeat
        self._policy.check_size(new, field="new_password")
        async with self._db.read() as s:
            account = await accounts.by_id(s, rec.account_id)
        assert account is not None
        # An account registered through a provider has no password: its first one needs a recent
        # sign-in instead of the old password (re-authentication through the provider).
        first = account.password_hash is None and is_unrestricted(rec)
        if first:
            await self.reauth.require_recent(rec)
        else:
            self._policy.check_size(old, field="old_password")
        errors: list[ValidationFailed] = []
        try:
            password = self._policy.validate(
                new, field="new_password", personal=(account.phone or "", account.login or "", account.email or "")
            )
        except ValidationFailed as e:
            errors.append(e)
            password = ""
        if (repeat or "") != (new or ""):
            errors.append(ValidationFailed("password.mismatch", field="new_password_repeat", code="mismatch"))
        if errors:
            raise FormErrors(errors)
        attempt = await self.reauth.begin(rec, inp.captcha, ctx)
        if not first and not await self._old_matches(rec, account, old or ""):
            now = self._clock.now()
            await self.reauth.throttle.failed(attempt)
            async with self._db.write() as s:
                record_event(s, kind="password_change", outcome="failure", ctx=ctx, now=now, account_id=account.id)
            raise ValidationFailed("password.old_wrong", field="old_password", code="old_password_wrong")
        await self.reauth.throttle.succeeded(attempt)
        if is_unrestricted(rec) and not first:
            ok, _ = await self._hasher.verify(account.password_hash, password)
            if ok:
                raise ValidationFailed("password.same_as_old", field="new_password", code="same_as_old")
        new_hash = await self._hasher.hash(password)
        now = self._clock.now()
        async with self._db.write() as s:
            row = await accounts.by_id(s, account.id)
            assert row is not None
            row.password_hash = new_hash
            row.password_changed_at = now
            row.updated_at = now
            others = await self._sessions.revoke_all(s, account.id, except_id=rec.id)
            await devices.revoke(s, account.id, now)  # the quick passcode's bindings end too
            issued = await rotate(s, self._sessions, rec, ctx, strength=rec.strength.lifted(PASSWORD_CHANGE), now=now)
            kind = "recovery_completed" if not is_unrestricted(rec) else "password_change"
            if kind == "recovery_completed":  # the recovery flow that opened this session is done
                await s.execute(update(Flow).where(Flow.account_id == account.id, Flow.kind == RECOVERY,
                                                   Flow.state == SIGNED_IN).values(state=DONE, updated_at=now))
            record_event(s, kind=kind, outcome="success", ctx=ctx, now=now, account_id=account.id)
            dest = notice_destination(row, self._sms_countries)
            if dest:
                self._outbox.enqueue(s, kind="password_changed", channel=dest[0], to=dest[1], now=now,
                                      locale=row.locale or ctx.locale, account_id=row.id)
        self._wake_courier()
        for tell in self._ended:  # partners of the other sessions sign the user out too
            await tell(others)
        return issued
