"""Signing keys: kept in the database, private parts encrypted with the instance secret.

Two keys are live at a time, ES256 (P-256, compact and fast: access tokens, logout tokens) and
RS256 (RSA 2048: ID tokens, the algorithm OpenID Connect Core §3.1.3.7 makes the default every
relying party supports).  Rotation (``dostup admin rotate-keys``) follows what Keycloak and
Hydra do so that no live token breaks:

1. the new pair is **published** in the JWKS at once, but signs nothing until ``active_at``
   (a configurable delay, so that relying parties that cache the JWKS fetch the new key first);
2. from ``active_at`` the new pair signs, and the old pair is ``retired``;
3. an old public key stays in the JWKS until ``expires_at`` — its retirement plus the longest life
   of anything it signed — and is dropped after.

The private JWK is sealed with AES-256-GCM under a key derived from ``DOSTUP_SECRET_KEY``
(purpose ``oidc-signing-keys``); the key id is the associated data, so a sealed key cannot be
swapped into another row.  Each process keeps a snapshot of the rows for a few seconds: a
rotation made by the CLI reaches every worker within that time.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import json
import os
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from joserfc.jwk import ECKey, KeySet, RSAKey
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from dostup.core.clock import Clock
from dostup.core.crypto import Keyring, random_id
from dostup.persistence.db import Database
from dostup.persistence.models_oidc import OidcKey
from dostup.settings import OidcSettings

ALGORITHMS = ("ES256", "RS256")
_PURPOSE = "oidc-signing-keys"
_SNAPSHOT_SECONDS = 5.0


def _generate(alg: str, kid: str) -> ECKey | RSAKey:
    params: Any = {"kid": kid, "alg": alg, "use": "sig"}
    if alg == "ES256":
        return ECKey.generate_key("P-256", parameters=params, private=True)
    return RSAKey.generate_key(2048, parameters=params, private=True)


@dataclass(frozen=True, slots=True)
class SigningKey:
    kid: str
    alg: str
    key: Any  # joserfc key with its private part


@dataclass(frozen=True, slots=True)
class KeySnapshot:
    signing: dict[str, SigningKey]  # alg → the key that signs now
    public: KeySet  # every published key (verification and the JWKS document)
    jwks: dict[str, Any]
    loaded_at: dt.datetime


class KeyStore:
    def __init__(self, db: Database, keyring: Keyring, clock: Clock, settings: OidcSettings) -> None:
        self._db = db
        self._aead = AESGCM(keyring.key(_PURPOSE))
        self._clock = clock
        self._settings = settings
        self._snapshot: KeySnapshot | None = None
        self._private: dict[str, Any] = {}  # kid → imported private key (an RSA import costs ~80 ms)

    # -- sealing ------------------------------------------------------------------------------
    def _seal(self, kid: str, private: dict[str, Any]) -> str:
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, json.dumps(private).encode(), kid.encode())
        return base64.b64encode(nonce + sealed).decode()

    def _open(self, kid: str, sealed: str) -> dict[str, Any]:
        raw = base64.b64decode(sealed)
        return json.loads(self._aead.decrypt(raw[:12], raw[12:], kid.encode()))  # type: ignore[no-any-return]

    # -- rows ---------------------------------------------------------------------------------
    def _new_rows(self, active_at: dt.datetime, first: bool = False) -> list[OidcKey]:
        rows = []
        for alg in ALGORITHMS:
            kid = f"{alg.lower()}-{'first' if first else random_id()[:16]}"
            key = _generate(alg, kid)
            rows.append(OidcKey(kid=kid, alg=alg, public_jwk=key.as_dict(private=False),
                                private_enc=self._seal(kid, key.as_dict(private=True)),
                                created_at=self._clock.now(), active_at=active_at))
        return rows

    async def ensure(self) -> None:
        """The first start publishes and uses a pair at once (there is nothing to roll over from).

        Processes starting together race here: the first pair has fixed ids, so all but one
        insert fail on the primary key and every process signs with the one pair that landed.
        """
        async with self._db.read() as s:
            present = (await s.execute(select(OidcKey.kid).limit(1))).first()
        if present is None:
            rows = self._new_rows(self._clock.now(), first=True)
            try:
                async with self._db.write() as s:
                    for row in rows:
                        s.add(row)
            except IntegrityError:
                pass  # another process published the first pair
        self._snapshot = None

    async def rotate(self, delay_seconds: int | None = None) -> dict[str, Any]:
        """Publish a new pair now, sign with it after ``delay_seconds``; retire the current pair then."""
        delay = self._settings.key_activation_delay_seconds if delay_seconds is None else delay_seconds
        now = self._clock.now()
        active_at = now + dt.timedelta(seconds=max(delay, 0))
        keep = max(self._settings.id_token_seconds, self._settings.access_token_seconds) + 60
        rows = self._new_rows(active_at)
        async with self._db.write() as s:
            await s.execute(update(OidcKey).where(OidcKey.retired_at.is_(None))
                            .values(retired_at=active_at, expires_at=active_at + dt.timedelta(seconds=keep)))
            for row in rows:
                s.add(row)
        self._snapshot = None
        return {"published": [r.kid for r in rows], "signing_from": active_at.isoformat() + "Z",
                "old_keys_published_until": (active_at + dt.timedelta(seconds=keep)).isoformat() + "Z"}

    async def snapshot(self, *, again: bool = True) -> KeySnapshot:
        now = self._clock.now()
        snap = self._snapshot
        if snap is not None and 0 <= (now - snap.loaded_at).total_seconds() < _SNAPSHOT_SECONDS:
            return snap
        async with self._db.read() as s:
            rows = list((await s.execute(select(OidcKey).order_by(OidcKey.active_at, OidcKey.created_at, OidcKey.kid))
                         ).scalars())
        if not rows:
            await self.ensure()
            return await self.snapshot()
        signing: dict[str, SigningKey] = {}
        public = []
        for row in rows:
            if row.expires_at is not None and row.expires_at <= now:
                continue
            public.append(row.public_jwk)
            if row.active_at <= now and (row.retired_at is None or row.retired_at > now):
                signing[row.alg] = SigningKey(row.kid, row.alg, self._key(row))
        for alg in ALGORITHMS:  # a retirement that came before its successor's activation: keep signing
            if alg not in signing:
                live = [r for r in rows if r.alg == alg and r.active_at <= now]
                if live:
                    r = live[-1]
                    signing[alg] = SigningKey(r.kid, r.alg, self._key(r))
        jwks = {"keys": public}
        snap = KeySnapshot(signing, KeySet.import_key_set(jwks), jwks, now)  # type: ignore[arg-type]
        # Not kept while an algorithm has no signing key yet: at the first start, a request that read
        # the clock just before a parallel one created the pair (active from its own "now") would
        # otherwise keep a snapshot without it for _SNAPSHOT_SECONDS, and every token meanwhile
        # failed (KeyError: 'ES256', seen as 500s in the first seconds of the OIDC bench).  Such a
        # snapshot is read once more, then answered uncached.
        if all(alg in signing for alg in ALGORITHMS):
            self._snapshot = snap
        elif again:
            return await self.snapshot(again=False)  # read again, with a clock that is past the new pair's start
        return snap

    def _key(self, row: OidcKey) -> Any:
        key = self._private.get(row.kid)
        if key is None:
            key = self._private[row.kid] = _import(self._open(row.kid, row.private_enc))
        return key

    async def listing(self) -> list[dict[str, Any]]:
        async with self._db.read() as s:
            rows = list((await s.execute(select(OidcKey).order_by(OidcKey.active_at))).scalars())

        def iso(v: dt.datetime | None) -> str | None:
            return v.isoformat() + "Z" if v else None

        return [{"kid": r.kid, "alg": r.alg, "active_at": iso(r.active_at), "retired_at": iso(r.retired_at),
                 "expires_at": iso(r.expires_at)} for r in rows]


def _import(data: dict[str, Any]) -> Any:
    return ECKey.import_key(data) if data.get("kty") == "EC" else RSAKey.import_key(data)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


_COMPACT = json.JSONEncoder(separators=(",", ":"))  # json.dumps(..., separators=…) builds one per call
_PKCS1, _SHA256 = padding.PKCS1v15(), hashes.SHA256()
_ECDSA = ec.ECDSA(_SHA256)


@functools.lru_cache(maxsize=64)
def _header(items: tuple[tuple[str, Any], ...]) -> str:
    """A JWS header's base64url JSON: the same few per key (``alg``, ``kid``, ``typ``)."""
    return b64(_COMPACT.encode(dict(items)).encode())


def signing_header(key: SigningKey, header: dict[str, Any]) -> str:
    """A compact JWS's first part: the header, with the key's ``alg``, as base64url JSON."""
    return _header(tuple({**header, "alg": key.alg}.items()))


def claims_json(claims: dict[str, Any]) -> str:
    """A JWT's claims as compact JSON, before the base64url of its second part."""
    return _COMPACT.encode(claims)


def signing_input(key: SigningKey, header: dict[str, Any], claims: dict[str, Any]) -> str:
    """A compact JWS's first two parts (RFC 7515 §7.1): what :func:`signature` signs."""
    return signing_header(key, header) + "." + b64(claims_json(claims).encode())


def signature(key: SigningKey, data: bytes) -> bytes:
    """``data`` signed straight with the imported key's ``cryptography`` object (JWS form for ES256:
    ``r || s``, RFC 7518 §3.4)."""
    private = key.key.private_key
    if key.alg == "RS256":
        return private.sign(data, _PKCS1, _SHA256)  # type: ignore[no-any-return]
    if key.alg == "ES256":
        r, s = decode_dss_signature(private.sign(data, _ECDSA))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")
    raise ValueError(key.alg)  # pragma: no cover - ALGORITHMS lists the two above


def compact(data: str, sig: bytes) -> str:
    return data + "." + b64(sig)


def sign_jwt(key: SigningKey, header: dict[str, Any], claims: dict[str, Any]) -> str:
    """A compact JWS (RFC 7515) signed straight with the imported key's ``cryptography`` object:
    the same token as ``joserfc.jwt.encode`` (verified by it in the tests), without its per-call
    registry and header checks (~140 us of an RS256 ID token's ~440 us here)."""
    data = signing_input(key, header, claims)
    return compact(data, signature(key, data.encode()))
