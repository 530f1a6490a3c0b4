"""Password hashes imported from a previous cabinet (SPEC §4.15): checked as they are, replaced by
argon2id on the account's next sign-in.

The formats, as the systems that write them store them:

- bcrypt — ``$2a$``, ``$2b$``, ``$2y$`` (PHP, Ruby, Spring, Node); like those systems, only the
  first 72 bytes of the password count;
- PBKDF2 as Django writes it — ``pbkdf2_sha256$ITER$SALT$BASE64`` (also ``pbkdf2_sha1``);
- PBKDF2 as Werkzeug (Flask) writes it — ``pbkdf2:sha256:ITER$SALT$HEX`` (also sha512);
- scrypt as Werkzeug writes it (its default since 2.3) — ``scrypt:N:R:P$SALT$HEX``, a 64-byte key;
- PBKDF2 in the modular crypt form of passlib — ``$pbkdf2-sha256$ITER$AB64SALT$AB64HASH``
  (also sha512, and ``$pbkdf2$`` for SHA-1).

argon2 hashes of any parameters (``$argon2id$``, ``$argon2i$``) need nothing here: the password
hasher checks them and re-hashes those whose parameters differ from the configured ones.

Costs are bounded so that an imported row cannot make one sign-in burn seconds of CPU: bcrypt
cost 4–:data:`MAX_BCRYPT_COST`, PBKDF2 1,000–:data:`MAX_PBKDF2_ITERATIONS` iterations, scrypt at most
:data:`MAX_SCRYPT_MEMORY` of working memory (128·N·r bytes; Werkzeug's default N=2¹⁵, r=8 is exactly that)
and N·r·p at most :data:`MAX_SCRYPT_WORK`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from dataclasses import dataclass

MAX_BCRYPT_COST = 14  # ~1 s a check on one core; the default of most systems is 10-12
MIN_PBKDF2_ITERATIONS = 1_000
MAX_PBKDF2_ITERATIONS = 2_000_000
BCRYPT_MAX_BYTES = 72
MAX_SCRYPT_MEMORY = 32 * 1024 * 1024  # bytes: what one check may hold in the web process
MAX_SCRYPT_WORK = 2**19  # N·r·p: twice Werkzeug's default
SCRYPT_KEY_BYTES = 64  # Werkzeug's (hashlib's default dklen)

_BCRYPT = re.compile(r"\$2[aby]\$(\d\d)\$[./A-Za-z0-9]{53}")
_DIGESTS = {"sha1": 20, "sha256": 32, "sha512": 64}


@dataclass(frozen=True, slots=True)
class LegacyHash:
    scheme: str  # "bcrypt", "pbkdf2" or "scrypt"
    digest: str = ""  # pbkdf2's hash function
    iterations: int = 0  # pbkdf2's iterations; scrypt's N
    salt: bytes = b""
    expected: bytes = b""
    block_size: int = 0  # scrypt's r
    parallelism: int = 0  # scrypt's p


def _ab64(text: str) -> bytes:
    """passlib's "adapted base64": ``.`` for ``+``, no padding."""
    return base64.b64decode(text.replace(".", "+") + "=" * (-len(text) % 4), validate=True)


def _pbkdf2(digest: str, iterations: str, salt: bytes, expected: bytes) -> LegacyHash | None:
    if not iterations.isdigit() or digest not in _DIGESTS or len(expected) != _DIGESTS[digest] or not salt:
        return None
    rounds = int(iterations)
    if not MIN_PBKDF2_ITERATIONS <= rounds <= MAX_PBKDF2_ITERATIONS:
        return None
    return LegacyHash("pbkdf2", digest, rounds, salt, expected)


def _scrypt(params: str, salt: bytes, expected: bytes) -> LegacyHash | None:
    name, *numbers = params.split(":")
    if name != "scrypt" or len(numbers) != 3 or not all(x.isdigit() and len(x) <= 8 for x in numbers):
        return None
    n, r, p = map(int, numbers)
    if (n < 2 or n & (n - 1) or not r or not p or 128 * n * r > MAX_SCRYPT_MEMORY or n * r * p > MAX_SCRYPT_WORK
            or len(expected) != SCRYPT_KEY_BYTES or not salt):
        return None
    return LegacyHash("scrypt", iterations=n, block_size=r, parallelism=p, salt=salt, expected=expected)


def parse(stored: str) -> LegacyHash | None:
    """The hash if it is one of the formats above, well formed and within the cost bounds; else None."""
    try:
        if stored.startswith("$2"):
            match = _BCRYPT.fullmatch(stored)
            if match is None or not 4 <= int(match.group(1)) <= MAX_BCRYPT_COST:
                return None
            return LegacyHash("bcrypt", expected=stored.encode("ascii"))
        if stored.startswith("pbkdf2_"):  # Django
            algorithm, iterations, salt, encoded = stored.split("$")
            return _pbkdf2(algorithm.removeprefix("pbkdf2_"), iterations, salt.encode(),
                           base64.b64decode(encoded, validate=True))
        if stored.startswith("pbkdf2:"):  # Werkzeug
            method, salt, hexed = stored.split("$")
            _, digest, iterations = method.split(":")
            return _pbkdf2(digest, iterations, salt.encode(), bytes.fromhex(hexed))
        if stored.startswith("scrypt:"):  # Werkzeug
            params, salt, hexed = stored.split("$")
            return _scrypt(params, salt.encode(), bytes.fromhex(hexed))
        if stored.startswith("$pbkdf2"):  # passlib
            _, name, iterations, salt, encoded = stored.split("$")
            digest = name.removeprefix("pbkdf2").removeprefix("-") or "sha1"
            return _pbkdf2(digest, iterations, _ab64(salt), _ab64(encoded))
    except (ValueError, binascii.Error, UnicodeEncodeError):  # wrong number of parts, bad base64 or hex
        return None
    return None


def verify(legacy: LegacyHash, password: str) -> bool:
    secret = password.encode()
    if legacy.scheme == "bcrypt":
        import bcrypt  # here: loaded by the processes that meet such a hash, not by every web process

        return bcrypt.checkpw(secret[:BCRYPT_MAX_BYTES], legacy.expected)
    if legacy.scheme == "scrypt":
        n, r, p = legacy.iterations, legacy.block_size, legacy.parallelism
        key = hashlib.scrypt(secret, salt=legacy.salt, n=n, r=r, p=p, maxmem=132 * n * r * p,  # Werkzeug's margin
                             dklen=SCRYPT_KEY_BYTES)
        return hmac.compare_digest(key, legacy.expected)
    derived = hashlib.pbkdf2_hmac(legacy.digest, secret, legacy.salt, legacy.iterations)
    return hmac.compare_digest(derived, legacy.expected)
