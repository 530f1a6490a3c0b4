"""Recovery codes in settings: see how many remain, generate a new set (shown once), turn off.

Generating and turning off are sensitive (SECURITY.md: second factors need a re-authentication
within 15 minutes); each is a security event in the user's history.
"""

from __future__ import annotations

from dostup.accounts.events import record_event
from dostup.core.clock import Clock
from dostup.core.context import Context
from dostup.core.crypto import Keyring
from dostup.credentials import recovery_codes as rc
from dostup.credentials import repository as credentials
from dostup.persistence.db import Database
from dostup.selfservice.reauth import ReauthService
from dostup.session.reader import SessionRecord


class RecoveryCodeSettings:
    def __init__(self, db: Database, keyring: Keyring, clock: Clock, reauth: ReauthService) -> None:
        self._db = db
        self._keyring = keyring
        self._clock = clock
        self._reauth = reauth

    async def remaining(self, account_id: str) -> int | None:
        """How many unused codes the account has, or None when it has no recovery codes."""
        async with self._db.read() as s:
            row = await credentials.of_type(s, account_id, rc.TYPE)
        return None if row is None else len(row.config.get("hashes", []))  # type: ignore[arg-type]

    async def generate(self, rec: SessionRecord, ctx: Context) -> list[str]:
        """A new set of codes; the old set stops working.  The codes are returned once, never stored."""
        await self._reauth.require_recent(rec)
        codes = rc.generate()
        now = self._clock.now()
        async with self._db.write() as s:
            await credentials.replace(s, rec.account_id, rc.TYPE,
                                      {"hashes": [rc.digest(self._keyring, c) for c in codes]}, now)
            record_event(s, kind="recovery_codes_generated", outcome="success", ctx=ctx, now=now,
                         account_id=rec.account_id)
        return codes

    async def remove(self, rec: SessionRecord, ctx: Context) -> None:
        await self._reauth.require_recent(rec)
        now = self._clock.now()
        async with self._db.write() as s:
            if await credentials.remove(s, rec.account_id, rc.TYPE):
                record_event(s, kind="recovery_codes_removed", outcome="success", ctx=ctx, now=now,
                             account_id=rec.account_id)
