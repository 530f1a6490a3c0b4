"""«Удалить учётную запись»: after re-authentication, erase and sign out everywhere."""

from __future__ import annotations

from dostup.accounts.deletion import Eraser, erase_account
from dostup.accounts.events import record_event
from dostup.core.clock import Clock
from dostup.core.context import Context
from dostup.core.errors import ValidationFailed
from dostup.identity import repository as accounts
from dostup.persistence.db import Database
from dostup.selfservice.reauth import ReauthService
from dostup.session.reader import SessionRecord


class DeletionService:
    def __init__(self, *, db: Database, clock: Clock, reauth: ReauthService, erasers: list[Eraser]) -> None:
        self._db = db
        self._clock = clock
        self.reauth = reauth
        self.erasers = erasers

    async def delete(self, rec: SessionRecord, confirm: bool, ctx: Context) -> None:
        await self.reauth.require_recent(rec)
        if not confirm:
            raise ValidationFailed("deletion.confirm_required", field="confirm", code="required")
        now = self._clock.now()
        async with self._db.write() as s:
            account = await accounts.by_id(s, rec.account_id)
            if account is None or account.state == "deleted":
                raise ValidationFailed("deletion.already", code="already_deleted")
            await erase_account(s, account, now, self.erasers)
            record_event(s, kind="account_deleted", outcome="success", ctx=ctx, now=now, account_id=account.id)
