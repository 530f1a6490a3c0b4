"""Sign-in with the device credential and its passcode.

The passcode alone signs in nowhere: the device secret names the binding, the passcode unlocks
it.  Each try is counted on the binding before it is checked; the fifth wrong one revokes it.
The session is ``aal1`` with ``amr`` ``["pin"]`` (RFC 8176: a PIN unlocking a device): sensitive
actions ask for a step-up, and no second step is asked here because the binding itself was
made after a full sign-in on this device.
"""

from __future__ import annotations

from dostup.accounts.events import record_event
from dostup.core.clock import Clock
from dostup.core.context import Context
from dostup.core.errors import AuthenticationFailed, ValidationFailed
from dostup.credentials import devices
from dostup.credentials.password import PasswordHasher
from dostup.guards.limits import Count, Limiter, Rule
from dostup.persistence.db import Database
from dostup.persistence.models import Account
from dostup.selfservice.login.flow import LoginOutcome
from dostup.selfservice.login.service import LoginService
from dostup.session.strength import Strength

STRENGTH = Strength(1, ("pin",))


class PasscodeRevoked(AuthenticationFailed):
    code = "passcode_revoked"
    message_id = "passcode.revoked"


class PasscodeLogin:
    def __init__(self, db: Database, clock: Clock, hasher: PasswordHasher, limiter: Limiter, per_ip: Rule,
                 login: LoginService) -> None:
        self._db = db
        self._clock = clock
        self._hasher = hasher
        self._limiter = limiter
        self._per_ip = per_ip
        self._login = login

    async def login(self, credential: str | None, passcode: str | None, ctx: Context,
                    remember: bool = True) -> LoginOutcome:
        code = devices.normalize_passcode(passcode)
        if code is None:
            raise ValidationFailed("passcode.format", field="passcode", code="passcode_format")
        await self._limiter.hit_all([Count(self._per_ip, ctx.ip, "login.too_many")])
        parts = devices.split_credential(credential)
        if parts is None:
            raise AuthenticationFailed("passcode.device_unknown")
        device_id, secret = parts
        async with self._db.write() as s:
            device = await devices.live(s, device_id)
            if device is None or not devices.secret_matches(device, secret):
                raise AuthenticationFailed("passcode.device_unknown")
            tries = await devices.count_try(s, device_id)
            passcode_hash, account_id = device.passcode_hash, device.account_id
        if tries is None or tries > devices.MAX_FAILURES:
            raise PasscodeRevoked()
        ok, _ = await self._hasher.verify(passcode_hash, code)
        now = self._clock.now()
        async with self._db.write() as s:
            account = await s.get(Account, account_id)
            live = ok and account is not None and account.state == "active"
            if live:
                device = await devices.live(s, device_id)
                if device is not None:
                    device.failures = 0
                    device.last_used_at = now
            elif tries >= devices.MAX_FAILURES:
                await devices.revoke(s, account_id, now, device_id)
            record_event(s, kind="passcode_login", outcome="success" if live else "failure", ctx=ctx, now=now,
                         account_id=account_id)
        if not live:
            raise PasscodeRevoked() if tries >= devices.MAX_FAILURES else AuthenticationFailed("passcode.wrong",
                                                                                                field="passcode")
        assert account is not None
        return LoginOutcome(account, await self._login.issue(account_id, "passcode", remember, STRENGTH, ctx))
