"""A small software authenticator (WebAuthn §6), so passkey flows are tested without a browser.

It answers ``navigator.credentials.create``/``get`` options as a platform authenticator would:
attestation ``none``, an ES256 (P-256) key per credential, the authenticator data of §6.1 with
user presence and user verification set, and a signature over ``authData || SHA-256(clientData)``
(§6.3.3).  Knobs let a test break one thing at a time (origin, challenge, UV, counter).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import struct
from dataclasses import dataclass, field
from typing import Any

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

UP, UV, BE, BS, AT = 0x01, 0x04, 0x08, 0x10, 0x40


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Key:
    credential_id: bytes
    private: ec.EllipticCurvePrivateKey
    rp_id: str
    user_handle: bytes
    sign_count: int = 0

    def cose(self) -> bytes:
        nums = self.private.public_key().public_numbers()
        return cbor2.dumps({1: 2, 3: -7, -1: 1, -2: nums.x.to_bytes(32, "big"), -3: nums.y.to_bytes(32, "big")})


@dataclass
class Authenticator:
    """One device holding discoverable credentials (resident keys), like a phone's platform authenticator."""

    origin: str = "http://testserver"
    synced: bool = False  # a multi-device passkey (BE and BS set): amr "swk" instead of "hwk"
    counting: bool = True  # False: sign count stays 0, as synced passkeys report
    keys: list[Key] = field(default_factory=list)

    def _flags(self, uv: bool) -> int:
        return UP | (UV if uv else 0) | ((BE | BS) if self.synced else 0)

    def _client_data(self, kind: str, challenge: str, origin: str | None) -> bytes:
        return json.dumps({"type": kind, "challenge": challenge, "origin": origin or self.origin,
                           "crossOrigin": False}).encode()

    def create(self, options: dict[str, Any], *, origin: str | None = None, uv: bool = True,
               challenge: str | None = None, key: Key | None = None) -> dict[str, Any]:
        """A new credential (``key``: present one this authenticator already holds, as a
        misbehaving client could)."""
        rp_id = options["rp"]["id"]
        key = key or Key(os.urandom(32), ec.generate_private_key(ec.SECP256R1()), rp_id,
                         unb64url(options["user"]["id"]))
        auth_data = (hashlib.sha256(rp_id.encode()).digest() + bytes([self._flags(uv) | AT])
                     + struct.pack(">I", key.sign_count) + bytes(16)
                     + struct.pack(">H", len(key.credential_id)) + key.credential_id + key.cose())
        client = self._client_data("webauthn.create", challenge or options["challenge"], origin)
        if key not in self.keys:
            self.keys.append(key)
        return {
            "id": b64url(key.credential_id), "rawId": b64url(key.credential_id), "type": "public-key",
            "authenticatorAttachment": "platform", "clientExtensionResults": {},
            "response": {"clientDataJSON": b64url(client),
                         "attestationObject": b64url(cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})),
                         "transports": ["internal"]},
        }

    def get(self, options: dict[str, Any], *, key: Key | None = None, origin: str | None = None, uv: bool = True,
            challenge: str | None = None, sign_count: int | None = None) -> dict[str, Any]:
        allowed = {c["id"] for c in options.get("allowCredentials", [])}
        key = key or next(k for k in reversed(self.keys)
                          if k.rp_id == options["rpId"] and (not allowed or b64url(k.credential_id) in allowed))
        if sign_count is not None:
            key.sign_count = sign_count
        elif self.counting:
            key.sign_count += 1
        auth_data = (hashlib.sha256(key.rp_id.encode()).digest() + bytes([self._flags(uv)])
                     + struct.pack(">I", key.sign_count))
        client = self._client_data("webauthn.get", challenge or options["challenge"], origin)
        signature = key.private.sign(auth_data + hashlib.sha256(client).digest(), ec.ECDSA(hashes.SHA256()))
        return {
            "id": b64url(key.credential_id), "rawId": b64url(key.credential_id), "type": "public-key",
            "authenticatorAttachment": "platform", "clientExtensionResults": {},
            "response": {"clientDataJSON": b64url(client), "authenticatorData": b64url(auth_data),
                         "signature": b64url(signature), "userHandle": b64url(key.user_handle)},
        }
