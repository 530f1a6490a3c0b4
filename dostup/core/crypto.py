"""Random tokens and keyed hashes.

Tokens are random (``secrets``) and only their hashes are stored (OWASP ASVS 7.2.1, 7.2.3): a
database leak gives no usable session or code.  Keyed hashes (HMAC-SHA-256) are used where the
input space is small (6-digit codes, card numbers), so that a leaked table cannot be brute-forced
without the secret key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets


def random_token(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)


def random_id() -> str:
    return secrets.token_hex(16)


def random_digits(length: int = 6) -> str:
    return "".join(str(secrets.randbelow(10)) for _ in range(length))


def sha256_hex(value: str | bytes) -> str:
    if isinstance(value, str):
        value = value.encode()
    return hashlib.sha256(value).hexdigest()


class Keyring:
    """Derives purpose-bound keys from the one configured secret key."""

    def __init__(self, secret_key: str) -> None:
        self._root = secret_key.encode()

    def key(self, purpose: str) -> bytes:
        return hmac.new(self._root, b"dostup:" + purpose.encode(), hashlib.sha256).digest()

    def mac(self, purpose: str, *parts: str) -> str:
        msg = "\x1f".join(parts).encode()
        return hmac.new(self.key(purpose), msg, hashlib.sha256).hexdigest()

    def check(self, purpose: str, expected_mac: str, *parts: str) -> bool:
        return hmac.compare_digest(self.mac(purpose, *parts), expected_mac)


class Sealer:
    """Secrets the server must read back (TOTP seeds, signing keys), encrypted at rest.

    AES-256-GCM under a key derived from the instance secret for one purpose, with a random
    96-bit nonce per value (NIST SP 800-38D); the purpose is bound as associated data, so a value
    sealed for one use does not open for another.  ASVS 11.1 / 13.3: secrets at rest encrypted.
    """

    def __init__(self, keyring: Keyring, purpose: str) -> None:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        self._aead = AESGCM(keyring.key("seal:" + purpose))
        self._aad = purpose.encode()

    def seal(self, plaintext: bytes) -> str:
        nonce = secrets.token_bytes(12)
        return base64.urlsafe_b64encode(nonce + self._aead.encrypt(nonce, plaintext, self._aad)).decode()

    def open(self, sealed: str) -> bytes:
        raw = base64.urlsafe_b64decode(sealed.encode())
        return self._aead.decrypt(raw[:12], raw[12:], self._aad)
