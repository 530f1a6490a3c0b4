"""Checking and spending a TOTP code, shared by the flows TOTP serves.

A right code is *spent*: the credential's ``last_step`` moves to the code's step by a
compare-and-set on the credential's version, so of ten parallel submissions of one right code
exactly one wins, and the same code is refused afterwards in its step (RFC 6238 §5.2).
"""

from __future__ import annotations

import datetime as dt

from dostup.core.clock import Clock
from dostup.core.crypto import Keyring, Sealer
from dostup.credentials import repository as credentials
from dostup.credentials import totp
from dostup.identity.repository import AccountSummary
from dostup.persistence.db import Database, Raw
from dostup.session.strength import Strength

#: RFC 8176 "otp": a one-time password (RFC 6238); the device holding the seed is "something you have".
STRENGTH = Strength(1, ("otp",))


class TotpCodes:
    def __init__(self, db: Database, keyring: Keyring, clock: Clock) -> None:
        self._db = db
        self.sealer = Sealer(keyring, "totp")
        self._clock = clock

    async def spend(self, account_id: str, answer: str | None) -> bool:
        code = totp.normalize(answer)
        if code is None:
            return False
        now = self._clock.now()
        return await self._db.run_raw(lambda raw: self.spend_in(raw, account_id, code, now) is True)

    def spend_in(self, raw: Raw, account_id: str, answer: str | None, now: dt.datetime) -> bool | None:
        """Spend a right code in the caller's unit of work: True when spent, False when wrong (or
        already accepted in its step), None when the account has no TOTP."""
        row = credentials.of_type_in(raw, account_id, totp.TYPE)
        return None if row is None else self._spent(raw, row, answer, now)

    def sign_in_in(self, raw: Raw, account_id: str, answer: str | None,
                   now: dt.datetime) -> tuple[bool, AccountSummary] | None:
        """:meth:`spend_in` at a sign-in's second step, the credential and its account (what the
        sign-in answers about it) read in one statement, each table by its key."""
        row = raw.one(_WITH_ACCOUNT, {"account_id": account_id, "type": totp.TYPE})
        if row is None:
            return None
        account = AccountSummary(account_id, row[3], row[4], row[5], row[6], row[7], raw.read_time(row[8]))
        return self._spent(raw, (row[0], raw.read_json(row[1]), int(row[2])), answer, now), account

    def _spent(self, raw: Raw, row: tuple[str, dict[str, object], int], answer: str | None, now: dt.datetime) -> bool:
        code = totp.normalize(answer)
        if code is None:
            return False
        credential_id, config, version = row
        step = totp.matching_step(self.sealer.open(str(config["secret"])).decode(), code, now)
        last = int(str(config.get("last_step", -1)))
        if step is None or step <= last:  # wrong, or already accepted in its step (replay)
            return False
        return credentials.compare_and_set_in(raw, credential_id, version, {**config, "last_step": step}, now)


_WITH_ACCOUNT = ("SELECT c.id, c.config, c.version, a.phone, a.email, a.login, a.segment, a.state, a.created_at "
                 "FROM credentials c JOIN accounts a ON a.id = c.account_id "
                 "WHERE c.account_id = :account_id AND c.type = :type LIMIT 1")
