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
        code = totp.normalize(answer)
        row = credentials.of_type_in(raw, account_id, totp.TYPE)
        if row is None:
            return None
        if code is None:
            return False
        credential_id, config, version = row
        step = totp.matching_step(self.sealer.open(str(config["secret"])).decode(), code, now)
        last = int(str(config.get("last_step", -1)))
        if step is None or step <= last:  # wrong, or already accepted in its step (replay)
            return False
        return credentials.compare_and_set_in(raw, credential_id, version, {**config, "last_step": step}, now)
