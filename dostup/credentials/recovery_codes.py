"""Recovery codes: ten single-use codes that stand in for a lost second factor.

NIST 800-63B §5.1.2 (look-up secrets): at least 20 bits of entropy each from a CSPRNG, stored
hashed, each usable once.  Ours carry 49 bits (10 characters of a 31-letter alphabet without
look-alikes), shown once in groups of five (``k7m2q-x9p4d``); they are stored as keyed hashes
(HMAC-SHA-256 with the instance secret), so a leaked table cannot be searched offline.
Typing is forgiving: case, spaces and hyphens do not matter.
"""

from __future__ import annotations

import secrets

from dostup.core.crypto import Keyring

TYPE = "recovery_code"
COUNT = 10
_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no i, l, o, 0, 1: nothing to misread
_LENGTH = 10


def generate(count: int = COUNT) -> list[str]:
    codes = ["".join(secrets.choice(_ALPHABET) for _ in range(_LENGTH)) for _ in range(count)]
    return [f"{c[:5]}-{c[5:]}" for c in codes]


def normalize(answer: str | None) -> str | None:
    """The code as stored, or None when the text cannot be a recovery code at all."""
    value = "".join((answer or "").split()).replace("-", "").lower()
    if len(value) != _LENGTH or any(ch not in _ALPHABET for ch in value):
        return None
    return value


def digest(keyring: Keyring, code: str) -> str:
    return keyring.mac(TYPE, normalize(code) or "")
