"""A TOTP code as the second step of the login flow («Подтверждение входа»)."""

from __future__ import annotations

import datetime as dt

from dostup.credentials import totp
from dostup.persistence.db import Raw
from dostup.selfservice.login.flow import NotEnrolled, SecondProof
from dostup.selfservice.methods.totp.strategy import STRENGTH, TotpCodes


class TotpLogin:
    id = "totp"
    credential_type = totp.TYPE

    def __init__(self, codes: TotpCodes) -> None:
        self._codes = codes

    def spend(self, raw: Raw, account_id: str, answer: str, now: dt.datetime) -> SecondProof | None:
        spent = self._codes.sign_in_in(raw, account_id, answer, now)
        if spent is None:
            raise NotEnrolled()
        return SecondProof(STRENGTH, spent[1]) if spent[0] else None
