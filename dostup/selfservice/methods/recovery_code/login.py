"""A recovery code as the second step of the login flow («Подтверждение входа»).

Spending is a compare-and-set on the credential's version: of ten parallel submissions of one
right code exactly one removes it and succeeds; the others re-read and no longer find it.
"""

from __future__ import annotations

import datetime as dt

from dostup.core.crypto import Keyring
from dostup.credentials import recovery_codes as rc
from dostup.credentials import repository as credentials
from dostup.persistence.db import Raw
from dostup.selfservice.login.flow import NotEnrolled, SecondProof
from dostup.session.strength import Strength

_RACES = 5  # re-reads after losing a compare-and-set to a parallel spend of another code
# A look-up secret is "something you have" (NIST 800-63B §5.1.2), used once: RFC 8176's "otp"
# (one-time password) is the nearest value.
STRENGTH = Strength(1, ("otp",))


class RecoveryCodeLogin:
    id = "recovery_code"
    credential_type = rc.TYPE

    def __init__(self, keyring: Keyring) -> None:
        self._keyring = keyring

    def spend(self, raw: Raw, account_id: str, answer: str, now: dt.datetime) -> SecondProof | None:
        row = credentials.of_type_in(raw, account_id, rc.TYPE)
        if row is None:
            raise NotEnrolled()
        if rc.normalize(answer) is None:
            return None
        digest = rc.digest(self._keyring, answer)
        for _ in range(_RACES):
            if row is None:
                return None
            credential_id, config, version = row
            hashes = list(config.get("hashes", []))  # type: ignore[call-overload]
            if digest not in hashes:
                return None
            hashes.remove(digest)
            if credentials.compare_and_set_in(raw, credential_id, version, {"hashes": hashes}, now):
                return SecondProof(STRENGTH)
            row = credentials.of_type_in(raw, account_id, rc.TYPE)  # a parallel spend won: read what is left
        return None
