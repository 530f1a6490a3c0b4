"""«Изменить пароль»: old, new, repeat (SECURITY.md: passwords; NIST 800-63B §5.1.1.2).

Also the forced change after signing in with a temporary password, where «Старый пароль» is
that temporary password.  Afterwards the current session rotates (and leaves the limited state),
every other session ends, and the user is told by SMS or email.
"""

from __future__ import annotations

from sqlalchemy import select

from dostup.accounts.events import record_event
from dostup.core.context import Context
from dostup.core.errors import FormErrors, ValidationFailed
from dostup.identity import repository as accounts
from dostup.persistence.models import Account, OneTimeCode
from dostup.selfservice.deps import FlowDeps
from dostup.selfservice.reauth import ReauthService
from dostup.session.manage import rotate
from dostup.session.reader import SessionRecord
from dostup.session.service import ACTIVE, PASSWORD_CHANGE, IssuedSession

RECOVERY_PURPOSE = "recovery"


def notice_destination(account: Account, sms_countries: list[str]) -> tuple[str, str] | None:
    """Where account notices go: the confirmed phone by SMS, else the confirmed email."""
    from dostup.identity.phone import parse_phone

    if account.phone and account.phone_verified_at:
        try:
            if parse_phone(account.phone).sms_capable(sms_countries):
                return "sms", account.phone
        except ValidationFailed:
            pass
    if account.email and account.email_verified_at:
        return "email", account.email
    return None


class PasswordChangeService:
    def __init__(self, deps: FlowDeps, reauth: ReauthService) -> None:
        self.d = deps
        self.reauth = reauth

    async def _old_matches(self, rec: SessionRecord, account: Account, old: str) -> bool:
        if rec.state == PASSWORD_CHANGE:
            async with self.d.db.read() as s:
                code = (
                    await s.execute(
                        select(OneTimeCode)
                        .where(OneTimeCode.account_id == account.id, OneTimeCode.purpose == RECOVERY_PURPOSE)
                        .where(OneTimeCode.used_at.is_not(None))
                        .order_by(OneTimeCode.used_at.desc())
                        .limit(1)
                    )
                ).scalar_one_or_none()
            return code is not None and self.d.keyring.check(
                "code", code.code_hash, code.purpose, code.destination, old.strip()
            )
        ok, _ = await self.d.hasher.verify(account.password_hash, old)
        return ok

    async def change(
        self, rec: SessionRecord, old: str | None, new: str | None, repeat: str | None, ctx: Context
    ) -> IssuedSession:
        self.d.policy.check_size(old, field="old_password")
        self.d.policy.check_size(new, field="new_password")
        async with self.d.db.read() as s:
            account = await accounts.by_id(s, rec.account_id)
        assert account is not None
        errors: list[ValidationFailed] = []
        try:
            password = self.d.policy.validate(
                new, field="new_password", personal=(account.phone or "", account.login or "", account.email or "")
            )
        except ValidationFailed as e:
            errors.append(e)
            password = ""
        if (repeat or "") != (new or ""):
            errors.append(ValidationFailed("password.mismatch", field="new_password_repeat", code="mismatch"))
        if errors:
            raise FormErrors(errors)
        if not await self._old_matches(rec, account, old or ""):
            now = self.d.clock.now()
            async with self.d.db.write() as s:
                record_event(s, kind="password_change", outcome="failure", ctx=ctx, now=now, account_id=account.id)
            raise ValidationFailed("password.old_wrong", field="old_password", code="old_password_wrong")
        if rec.state == ACTIVE:
            ok, _ = await self.d.hasher.verify(account.password_hash, password)
            if ok:
                raise ValidationFailed("password.same_as_old", field="new_password", code="same_as_old")
        new_hash = await self.d.hasher.hash(password)
        now = self.d.clock.now()
        async with self.d.db.write() as s:
            row = await accounts.by_id(s, account.id)
            assert row is not None
            row.password_hash = new_hash
            row.password_changed_at = now
            row.updated_at = now
            await self.d.sessions.revoke_all(s, account.id, except_id=rec.id)
            issued = await rotate(s, self.d.sessions, rec, ctx, state=ACTIVE, now=now)
            kind = "recovery_completed" if rec.state == PASSWORD_CHANGE else "password_change"
            record_event(s, kind=kind, outcome="success", ctx=ctx, now=now, account_id=account.id)
            dest = notice_destination(row, self.d.settings.codes.sms_countries)
            if dest:
                self.d.outbox.enqueue(s, kind="password_changed", channel=dest[0], to=dest[1], now=now,
                                      locale=row.locale or ctx.locale, account_id=row.id)
        self.d.wake_courier()
        return issued
