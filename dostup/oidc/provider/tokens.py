"""What the tokens Dostup issues say: one definition for both ways a code is exchanged (the direct
path of ``exchange.py`` and Authlib's grant in ``server.py``) and for refresh.

* access token: an RFC 9068 JWT (``typ: at+jwt``), ES256, whose ``jti`` names its grant
  (``{grant id}.{random}``, ``store.access_jti``), read on every use (revocation);
* ID token: OpenID Connect Core §2 / §3.1.3.6 — ``iss``, ``aud``, ``iat``, ``exp``, then the sign-in's
  ``nonce``, ``auth_time``, ``acr``, ``amr``, the access token's ``at_hash``, ``sub`` and ``sid``
  (Back-Channel Logout §2.1), in the order Authlib's ``OpenIDCode`` writes them; RS256.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError

from dostup.core.crypto import Keyring
from dostup.oidc.provider.keys import KeySnapshot, SigningKey, sign_jwt
from dostup.oidc.provider.records import AccessClaims


def access_token_claims(*, issuer: str, sub: str, client_id: str, now: int, ttl: int, jti: str, scope: str,
                        auth_time: int, acr: str, amr: tuple[str, ...]) -> dict[str, Any]:
    return {"iss": issuer, "sub": sub, "aud": client_id, "client_id": client_id, "iat": now, "exp": now + ttl,
            "jti": jti, "scope": scope, "auth_time": auth_time, "acr": acr, "amr": list(amr)}


def access_token_header(key: SigningKey) -> dict[str, Any]:
    return {"alg": key.alg, "kid": key.kid, "typ": "at+jwt"}


def access_token(key: SigningKey, **claims: Any) -> str:
    """An RFC 9068 access token: :func:`access_token_claims` signed with ``key``."""
    return sign_jwt(key, access_token_header(key), access_token_claims(**claims))


def at_hash(access: str) -> str:
    """OpenID Connect Core §3.1.3.6: the left half of the access token's SHA-256 (RS256's hash)."""
    digest = hashlib.sha256(access.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()


def id_token_claims(*, issuer: str, client_id: str, now: int, ttl: int, nonce: str | None, auth_time: int,
                    acr: str | None, amr: tuple[str, ...], at_hash: str | None, sub: str,
                    sid: str | None) -> dict[str, Any]:
    """The ID token's claims; ``at_hash`` is :func:`at_hash` of the access token issued with it."""
    claims: dict[str, Any] = {"iss": issuer, "aud": client_id, "iat": now, "exp": now + ttl}
    if nonce:
        claims["nonce"] = nonce
    if auth_time:
        claims["auth_time"] = auth_time
    if acr:
        claims["acr"] = acr
    if amr:
        claims["amr"] = list(amr)
    if at_hash:
        claims["at_hash"] = at_hash
    claims["sub"] = sub
    if sid:
        claims["sid"] = sid
    return claims


def id_token_header(key: SigningKey) -> dict[str, Any]:
    return {"alg": key.alg, "kid": key.kid, "typ": "JWT"}


def id_token(key: SigningKey, claims: dict[str, Any]) -> str:
    return sign_jwt(key, id_token_header(key), claims)


def session_sid(keyring: Keyring, session_id: str) -> str:
    """The ``sid`` partners see (OpenID Connect Back-Channel Logout §2.1): not the session's own id."""
    return keyring.mac("oidc-sid", session_id)[:32]


_EPOCH = dt.datetime(1970, 1, 1)


def decode_access_token(value: str, keys: KeySnapshot, issuer: str) -> AccessClaims | None:
    """What a JWT access token Dostup signed says of itself (RFC 9068 §4), or None."""
    if not value or len(value) > 4096 or value.count(".") != 2:
        return None
    try:
        decoded = jwt.decode(value, keys.public, algorithms=["ES256", "RS256"])
    except (JoseError, ValueError, TypeError):
        return None
    claims = decoded.claims
    jti, scope, iat, exp = claims.get("jti"), claims.get("scope"), claims.get("iat"), claims.get("exp")
    if (decoded.header.get("typ") != "at+jwt" or claims.get("iss") != issuer or not isinstance(jti, str)
            or not isinstance(scope, str) or type(iat) is not int or type(exp) is not int):
        return None
    grant_id, dot, _ = jti.partition(".")
    if not dot:
        return None
    return AccessClaims(jti, grant_id, scope, _EPOCH + dt.timedelta(seconds=iat), _EPOCH + dt.timedelta(seconds=exp))
