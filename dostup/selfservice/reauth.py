"""Re-authentication before sensitive actions (SECURITY.md: 15 minutes; ASVS 6.3.x / NIST 800-63B §4.1.3).

Changing phone, email, password or second factors, or deleting the account, needs a sign-in
within the last 15 minutes.  Confirming the password again refreshes it and rotates the token.
"""

from __future__ import annotations

from dostup.accounts.events import record_event
from dostup.core.context import Context
from dostup.core.errors import AuthenticationFailed, Forbidden
from dostup.identity import repository as accounts
from dostup.selfservice.deps import FlowDeps
from dostup.session.manage import rotate
from dostup.session.reader import SessionRecord
from dostup.session.service import ACTIVE, IssuedSession


class ReauthRequired(Forbidden):
    code = "reauth_required"
    message_id = "reauth.required"


class ReauthService:
    def __init__(self, deps: FlowDeps) -> None:
        self.d = deps

    def is_recent(self, rec: SessionRecord) -> bool:
        age = (self.d.clock.now() - rec.authenticated_at).total_seconds()
        return age <= self.d.settings.sessions.reauth_window_seconds

    def require_recent(self, rec: SessionRecord) -> None:
        if not self.is_recent(rec):
            raise ReauthRequired()

    async def confirm(self, rec: SessionRecord, password: str | None, ctx: Context) -> IssuedSession:
        secret = self.d.policy.check_size(password)
        async with self.d.db.read() as s:
            account = await accounts.by_id(s, rec.account_id)
        ok, _ = await self.d.hasher.verify(account.password_hash if account else None, secret)
        now = self.d.clock.now()
        async with self.d.db.write() as s:
            record_event(s, kind="reauth", outcome="success" if ok else "failure", ctx=ctx, now=now,
                         account_id=rec.account_id)
            if ok:
                issued = await rotate(s, self.d.sessions, rec, ctx, state=ACTIVE, now=now)
        if not ok:
            raise AuthenticationFailed("reauth.wrong_password", field="password")
        return issued
