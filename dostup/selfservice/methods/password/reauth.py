"""The password as a proof of re-authentication."""

from __future__ import annotations

from dostup.core.context import Context
from dostup.credentials.password import PasswordHasher
from dostup.persistence.models import Account
from dostup.session.strength import PASSWORD, Strength


class PasswordReauth:
    id = "password"
    strength: Strength = PASSWORD
    field = "password"
    wrong_message_id = "reauth.wrong_password"

    def __init__(self, hasher: PasswordHasher) -> None:
        self._hasher = hasher

    async def verify(self, account: Account, answer: str, ctx: Context) -> bool:
        ok, _ = await self._hasher.verify(account.password_hash, answer)
        return ok
