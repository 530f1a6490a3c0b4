"""The temporary password typed into the normal sign-in form (as the seed instructs).

Only a 6-digit secret can be one (real passwords have at least 8 characters), so other sign-ins
never touch the codes table.  Each try counts against the code's 5 tries.  The session it opens
may only set a new password (restriction ``password_change``); a second factor, if the account
has one, is still asked (SECURITY.md: recovery never bypasses it).
"""

from __future__ import annotations

from sqlalchemy import select, update

from dostup.core.clock import Clock
from dostup.core.context import Context
from dostup.credentials.codes import CodeService
from dostup.persistence.db import Database
from dostup.persistence.models import Account, Flow, OneTimeCode
from dostup.selfservice.login.flow import Verdict
from dostup.selfservice.recovery.flow import PURPOSE, SENT, SIGNED_IN
from dostup.session.strength import PASSWORD_CHANGE, Strength


class TemporaryPasswordLogin:
    def __init__(self, db: Database, codes: CodeService, clock: Clock) -> None:
        self._db = db
        self._codes = codes
        self._clock = clock

    async def check(self, account: Account | None, secret: str, ctx: Context) -> Verdict | None:
        value = secret.strip()
        if account is None or len(value) != self._codes.settings.length or not (value.isascii() and value.isdigit()):
            return None
        now = self._clock.now()
        async with self._db.write() as s:
            row = (
                await s.execute(
                    select(OneTimeCode)
                    .where(OneTimeCode.account_id == account.id, OneTimeCode.purpose == PURPOSE)
                    .where(OneTimeCode.used_at.is_(None), OneTimeCode.invalidated_at.is_(None))
                    .order_by(OneTimeCode.created_at.desc())
                    .limit(1)
                )
            ).scalar_one_or_none()
            if row is None:
                return None
            channel, flow_id = row.channel, row.flow_id
            outcome = await self._codes.consume(s, code_row=row, value=value, now=now)
            if outcome == "ok" and flow_id:  # the recovery flow moves on: its session is open
                await s.execute(update(Flow).where(Flow.id == flow_id, Flow.state == SENT)
                                .values(state=SIGNED_IN, updated_at=now))
        if outcome != "ok":
            return None
        # RFC 8176: a secret delivered by SMS proves the phone ("sms"); by email, a one-time code ("otp")
        return Verdict(Strength(1, ("sms" if channel == "sms" else "otp",), frozenset({PASSWORD_CHANGE})))
