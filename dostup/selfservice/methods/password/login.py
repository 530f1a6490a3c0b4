"""The password as a first factor of the login flow."""

from __future__ import annotations

from dostup.core.context import Context
from dostup.credentials.password import PasswordHasher
from dostup.persistence.models import Account
from dostup.selfservice.login.flow import Verdict
from dostup.session.strength import PASSWORD


class PasswordLogin:
    def __init__(self, hasher: PasswordHasher) -> None:
        self._hasher = hasher

    async def check(self, account: Account | None, secret: str, ctx: Context) -> Verdict | None:
        # an unknown account costs a dummy hash all the same (verify(None, …)): no timing oracle
        ok, rehash = await self._hasher.verify(account.password_hash if account else None, secret)
        if not ok:
            return None
        return Verdict(PASSWORD, await self._hasher.hash(secret) if rehash else None)
