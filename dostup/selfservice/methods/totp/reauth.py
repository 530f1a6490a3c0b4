"""A TOTP code as a re-authentication proof: step-up to aal2 after a password session."""

from __future__ import annotations

from dostup.core.context import Context
from dostup.persistence.models import Account
from dostup.selfservice.methods.totp.strategy import STRENGTH, TotpCodes
from dostup.session.strength import Strength


class TotpReauth:
    id = "totp"
    strength: Strength = STRENGTH
    field = "code"
    wrong_message_id = "totp.code_invalid"

    def __init__(self, codes: TotpCodes) -> None:
        self._codes = codes

    async def verify(self, account: Account, answer: str, ctx: Context) -> bool:
        return await self._codes.spend(account.id, answer)
