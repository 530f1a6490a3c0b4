"""The authorization-code exchange at the token endpoint, on a direct path (RFC 6749 §4.1.3,
RFC 7636 §4.6, OpenID Connect Core §3.1.3).

Every partner makes this request once per sign-in.  Authlib's grant machinery answers it
correctly, but its request objects, hooks and three database units (client, code, tokens)
through the greenlet bridge cost several times the exchange itself.  Here the request is read
once and everything that touches the database is **one transaction of plain SQL**
(``Database.run_raw``): the client's row and the code spent by a guarded ``UPDATE … RETURNING``
(and a refresh token's row for ``offline_access``).  The grant was written with the code, under its
id, so a replay always finds a grant to revoke; the access token has no row (its ``jti`` names
the grant, ``store.access_jti``), as panva's oidc-provider stores no JWT access token.

Which requests it takes: ``grant_type=authorization_code`` authenticated by
``client_secret_basic``, ``client_secret_post`` or ``none``, without a query string or a client
assertion.  Everything else — other grants, ``private_key_jwt``, and every request refused
*before* its code is spent (client authentication, a missing or oversized ``code``) — is
answered by Authlib's endpoint (:meth:`OidcProvider.token` falls back), so those refusals stay
Authlib's own: ``invalid_client`` (401 with ``WWW-Authenticate`` for Basic), ``invalid_request``.

What this path decides itself, after the code is spent (as Authlib did: a code presented
with a wrong verifier or redirect URI is gone):

* an unknown, expired, already used or another client's code: ``invalid_grant``; a code used
  before revokes the grant it opened (RFC 9700 §4.2.4) — its access and refresh tokens die;
* ``redirect_uri`` not exactly the authorization request's: ``invalid_grant`` (RFC 6749 §4.1.3);
* PKCE (RFC 7636 §4.6, RFC 9700 §2.1.1): a public client must send a verifier; a verifier
  without a challenge, or a challenge without a verifier, or a malformed verifier:
  ``invalid_request``; a verifier whose S256 is not the challenge: ``invalid_grant``.

The tokens are the same as Authlib's path writes (``tokens.py``); they are signed after the
transaction (nothing slow while it is open, STYLE.md §6), both in one job on a thread of their own
(``signer.py``): the access token's ES256 signature (~35 us) and then the ID token's RS256 one
(~0.22 ms of OpenSSL, the largest single cost of the exchange), which needs the first for its
``at_hash``.  OpenSSL signs without the GIL, so the signatures run on the second core while the loop
serves other requests.  (A two-thread pool that ran the whole token building — claims and JSON too —
was measured dearer: Python on two threads passes the GIL back and forth.)
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from authlib.oauth2.rfc6749.errors import InvalidGrantError, InvalidRequestError, OAuth2Error

from dostup.core.clock import Clock
from dostup.core.crypto import Keyring, random_id, random_token, sha256_hex
from dostup.oidc.provider import tokens
from dostup.oidc.provider.claims import subject_id
from dostup.oidc.provider.clients import CLIENT_SQL, SECRET_METHODS, Client, ClientRegistry
from dostup.oidc.provider.keys import KeyStore, sign_jwt
from dostup.oidc.provider.records import epoch
from dostup.oidc.provider.server import HttpRequest, HttpResponse
from dostup.oidc.provider.signer import AT_HASH_SLOT, Signer
from dostup.oidc.provider.store import access_jti
from dostup.persistence.db import Database, Raw, add_row
from dostup.persistence.models_oidc import OidcToken
from dostup.settings import OidcSettings

TOKEN_HEADERS = [("Content-Type", "application/json"), ("Cache-Control", "no-store"), ("Pragma", "no-cache")]
_VERIFIER = re.compile(r"[a-zA-Z0-9\-._~]{43,128}")  # RFC 7636 §4.1

_SPEND = ("UPDATE oidc_codes SET used_at = :now WHERE code_hash = :hash AND client_id = :client "
          "AND used_at IS NULL AND expires_at > :now RETURNING id, account_id, session_id, redirect_uri, scope, "
          "nonce, code_challenge, code_challenge_method, auth_time, acr, amr")
_USED = "SELECT id FROM oidc_codes WHERE code_hash = :hash AND used_at IS NOT NULL"
_REVOKE = "UPDATE oidc_grants SET revoked_at = :now WHERE id = :code AND revoked_at IS NULL"  # the code's grant


@dataclass(frozen=True, slots=True)
class _Credentials:
    method: str
    client_id: str
    secret: str | None


@dataclass(frozen=True, slots=True)
class _Issued:
    """What the transaction saved, for the tokens signed after it."""

    client: Client
    account_id: str
    session_id: str | None
    scope: str
    nonce: str | None
    auth_time: dt.datetime
    acr: str
    amr: tuple[str, ...]
    jti: str
    refresh: str | None


class _NotOurs:
    """The request is Authlib's to answer (nothing was written)."""


_NOT_OURS = _NotOurs()


def basic_credentials(header: str) -> tuple[str, str] | None:
    """RFC 6749 §2.3.1: ``Basic base64(urlencode(id) ":" urlencode(secret))``, both non-empty."""
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    client_id, colon, secret = decoded.partition(":")
    if not colon:
        return None
    client_id, secret = unquote(client_id), unquote(secret)
    return (client_id, secret) if client_id and secret else None


def credentials(headers: Mapping[str, str], form: Mapping[str, str]) -> _Credentials | None:
    """The one way this request authenticates, in the order Authlib tries them; None for any
    other shape (an assertion, a half-filled header …), which Authlib answers."""
    if "client_assertion" in form or "client_assertion_type" in form:
        return None
    header = headers.get("authorization")
    if header is not None:
        pair = basic_credentials(header)
        return _Credentials("client_secret_basic", *pair) if pair else None
    client_id, secret = form.get("client_id"), form.get("client_secret")
    if not client_id:
        return None
    if secret:
        return _Credentials("client_secret_post", client_id, secret)
    return None if "client_secret" in form else _Credentials("none", client_id, None)


def authenticated(client: Client | None, creds: _Credentials) -> bool:
    """The client may use this method at the token endpoint and, for a secret method, the secret
    matches its stored SHA-256 (``Client.check_client_secret``: a constant-time comparison)."""
    if client is None or not client.check_endpoint_auth_method(creds.method, "token"):
        return False
    if creds.method in SECRET_METHODS:
        return creds.secret is not None and client.check_client_secret(creds.secret)
    return creds.method == "none" and client.public


def pkce_refusal(creds: _Credentials, verifier: str | None, challenge: str | None,
                 method: str | None) -> OAuth2Error | None:
    """RFC 7636 §4.6 as Authlib's ``CodeChallenge.validate_code_verifier`` checks it (S256 only:
    the authorization endpoint accepts no other method)."""
    if creds.method == "none" and not verifier:
        return InvalidRequestError("Missing 'code_verifier'")
    if not challenge:
        if verifier:  # RFC 9700 §4.8.2
            return InvalidRequestError("The authorization request had no 'code_challenge', "
                                       "but a 'code_verifier' was provided.")
        return None
    if not verifier:
        return InvalidRequestError("Missing 'code_verifier'")
    if not _VERIFIER.fullmatch(verifier):
        return InvalidRequestError("Invalid 'code_verifier'")
    computed = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=")
    if method not in (None, "S256") or not hmac.compare_digest(computed, challenge.encode("ascii", "replace")):
        return InvalidGrantError(description="Code challenge failed.")
    return None


def refusal(error: OAuth2Error) -> HttpResponse:
    status, body, headers = error()
    return HttpResponse(status, dict(body), list(headers))


class CodeExchange:
    def __init__(self, *, issuer: str, db: Database, clients: ClientRegistry, keys: KeyStore, keyring: Keyring,
                 clock: Clock, settings: OidcSettings) -> None:
        self._issuer = issuer
        self._db = db
        self._clients = clients
        self._keys = keys
        self._keyring = keyring
        self._clock = clock
        self._settings = settings
        self._signer = Signer()

    def close(self) -> None:
        self._signer.close()

    async def __call__(self, req: HttpRequest) -> HttpResponse | None:
        """The token response, or None when Authlib's endpoint is to answer (see the module)."""
        form = req.form or {}
        if form.get("grant_type") != "authorization_code" or "?" in req.uri:
            return None
        creds = credentials(req.headers, form)
        code = form.get("code")
        if creds is None or not code or len(code) > 256:
            return None
        keys = await self._keys.snapshot()
        now = self._clock.now()
        outcome = await self._db.run_raw(lambda raw: self._spend(raw, creds, code, form, now))
        if isinstance(outcome, _NotOurs):
            return None
        if isinstance(outcome, OAuth2Error):
            return refusal(outcome)
        return HttpResponse(200, await self._tokens(outcome, keys.signing, now), TOKEN_HEADERS)

    def _spend(self, raw: Raw, creds: _Credentials, code: str, form: Mapping[str, str],
               now: dt.datetime) -> _Issued | OAuth2Error | _NotOurs:
        """One transaction: the client, the code's single use, the grant and token rows."""
        client = self._clients.from_raw(raw.one(CLIENT_SQL, {"id": creds.client_id}))
        if client is None or not authenticated(client, creds):
            return _NOT_OURS
        at = raw.time(now)
        code_hash = sha256_hex(code)
        row = raw.one(_SPEND, {"now": at, "hash": code_hash, "client": client.client_id})
        if row is None:
            used = raw.one(_USED, {"hash": code_hash})
            if used is not None:  # a replay: what the code issued is revoked (RFC 9700 §4.2.4)
                raw.run(_REVOKE, {"now": at, "code": used[0]})
            return InvalidGrantError("Invalid 'code' in request.")
        code_id, account_id, session_id, redirect_uri, scope, nonce, challenge, method, auth_time, acr, amr = row
        if redirect_uri and form.get("redirect_uri") != redirect_uri:
            return InvalidGrantError("Invalid 'redirect_uri' in request.")
        refused = pkce_refusal(creds, form.get("code_verifier"), challenge, method)
        if refused is not None:
            return refused
        auth_time = raw.read_time(auth_time)
        refresh = random_token(32) if "offline_access" in scope.split() else None
        if refresh is not None:  # the grant was written with the code, under its id (GrantStore.save_code)
            add_row(raw, OidcToken, {
                "id": random_id(), "grant_id": code_id, "kind": "refresh", "token_hash": sha256_hex(refresh),
                "scope": scope, "created_at": now,
                "expires_at": now + dt.timedelta(seconds=self._settings.refresh_token_seconds)})
        jti = access_jti(code_id)  # the access token has no row: its jti names the grant
        return _Issued(client, account_id, session_id, scope, nonce, auth_time, acr, tuple(amr.split()), jti, refresh)

    async def _tokens(self, issued: _Issued, signing: Mapping[str, Any], now: dt.datetime) -> dict[str, Any]:
        """The token response of RFC 6749 §5.1 with the ID token (Authlib's key order)."""
        client, settings = issued.client, self._settings
        sub = subject_id(self._keyring, client, issued.account_id)
        iat, auth_time = epoch(now), epoch(issued.auth_time)
        ttl = settings.access_token_seconds
        access_key = signing["ES256"]
        access_claims = tokens.access_token_claims(
            issuer=self._issuer, sub=sub, client_id=client.client_id, now=iat, ttl=ttl, jti=issued.jti,
            scope=issued.scope, auth_time=auth_time, acr=issued.acr, amr=issued.amr)
        id_token = None
        if "openid" in issued.scope.split():
            sid = tokens.session_sid(self._keyring, issued.session_id) if issued.session_id else None
            claims = tokens.id_token_claims(
                issuer=self._issuer, client_id=client.client_id, now=iat, ttl=settings.id_token_seconds,
                nonce=issued.nonce, auth_time=auth_time, acr=issued.acr, amr=issued.amr, at_hash=AT_HASH_SLOT,
                sub=sub, sid=sid)
            key = signing["RS256"]
            access, id_token = await self._signer.sign_pair(access_key, tokens.access_token_header(access_key),
                                                            access_claims, key, tokens.id_token_header(key), claims)
        else:
            access = sign_jwt(access_key, tokens.access_token_header(access_key), access_claims)
        body: dict[str, Any] = {"token_type": "Bearer", "access_token": access, "expires_in": ttl,
                                "scope": issued.scope}
        if issued.refresh is not None:
            body["refresh_token"] = issued.refresh
        if id_token is not None:
            body["id_token"] = id_token
        return body
