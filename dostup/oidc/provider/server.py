"""The Authlib authorization server: which grants, endpoints and client auth methods Dostup runs.

Authlib supplies the protocol (RFC 6749 code grant, RFC 7636 PKCE, OpenID Connect Core's code
flow and ID token, RFC 7009 revocation, RFC 7662 introspection, RFC 7523 ``private_key_jwt``,
RP-Initiated Logout); this module supplies its storage callbacks and Dostup's stricter choices:

* PKCE: S256 only (``plain`` protects nothing against a code seen in transit), and required for
  public clients at the authorization request already (RFC 9700 §2.1.1);
* access tokens are RFC 9068 JWTs signed ES256, with a ``jti`` recorded for revocation;
* a refresh token is issued only when ``offline_access`` was granted, and rotated on every use.
"""

from __future__ import annotations

import contextvars
import datetime as dt
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from authlib.oauth2.rfc6749 import AuthorizationServer, OAuth2Payload, OAuth2Request
from authlib.oauth2.rfc6749.errors import InvalidRequestError
from authlib.oauth2.rfc6749.grants import AuthorizationCodeGrant, RefreshTokenGrant
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from authlib.oidc.core import OpenIDCode
from authlib.oidc.rpinitiated import EndSessionEndpoint
from joserfc.jwk import KeySet

from dostup.core.clock import Clock
from dostup.core.crypto import Keyring, random_token
from dostup.guards.store import CounterStore
from dostup.oidc.provider import tokens
from dostup.oidc.provider.bridge import wait
from dostup.oidc.provider.claims import subject_id
from dostup.oidc.provider.clients import Client, ClientRegistry
from dostup.oidc.provider.keys import KeySnapshot
from dostup.oidc.provider.records import CodeRecord, Subject, TokenRecord, epoch
from dostup.oidc.provider.store import GrantStore, access_jti
from dostup.settings import OidcSettings

AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"]


@dataclass
class Call:
    """What one request's run of the core sees: the keys and the time it started with."""

    keys: KeySnapshot
    now: dt.datetime


CALL: contextvars.ContextVar[Call] = contextvars.ContextVar("oidc_call")


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """A request as the core needs it (built by ``dostup.web.oidc``)."""

    method: str
    uri: str
    headers: Mapping[str, str]
    form: dict[str, str] | None = None


@dataclass(frozen=True, slots=True)
class HttpResponse:
    status: int
    body: Any
    headers: list[tuple[str, str]]

    def location(self) -> str | None:
        return next((v for k, v in self.headers if k.lower() == "location"), None)


class DostupAuthorizationServer(AuthorizationServer):  # type: ignore[misc]
    def __init__(self, *, issuer: str, clients: ClientRegistry, grants: GrantStore, keyring: Keyring,
                 store: CounterStore, clock: Clock, settings: OidcSettings, scopes: list[str]) -> None:
        super().__init__(scopes_supported=scopes)
        self.issuer = issuer
        self.clients = clients
        self.grants = grants
        self.keyring = keyring
        self.counter_store = store
        self.clock = clock
        self.settings = settings
        self.register_token_generator("default", self._generate)
        self.register_client_auth_method("private_key_jwt", _PrivateKeyJWT(self))
        self.register_grant(_CodeGrant, [_S256Only(required=True), _OpenIDCode(self)])
        self.register_grant(_RefreshGrant)
        self.register_endpoint(_Revocation(self))
        self.register_endpoint(_Introspection(self))
        self.register_endpoint(_EndSession(self))

    # -- Authlib's storage and framework hooks --------------------------------------------------
    def query_client(self, client_id: str) -> Client | None:
        return wait(self.clients.get(client_id))

    def create_oauth2_request(self, request: HttpRequest) -> OAuth2Request:
        return _CoreRequest(request)

    def create_json_request(self, request: HttpRequest) -> OAuth2Request:
        return self.create_oauth2_request(request)

    def handle_response(self, status: int, body: Any, headers: list[tuple[str, str]]) -> HttpResponse:
        return HttpResponse(status, body, list(headers))

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        return None

    def _generate(self, grant_type: str, client: Client, user: Subject, scope: str, expires_in: int | None = None,
                  include_refresh_token: bool = True) -> dict[str, Any]:
        """RFC 9068 access token (``typ: at+jwt``), plus a refresh token for ``offline_access``."""
        call = CALL.get()
        now = call.now
        ttl = self.settings.access_token_seconds
        assert user.grant_id is not None  # the code's (written with it) or the refresh token's
        jti = access_jti(user.grant_id)
        access = tokens.access_token(
            call.keys.signing["ES256"], issuer=self.issuer, sub=subject_id(self.keyring, client, user.account_id),
            client_id=client.client_id, now=epoch(now), ttl=ttl, jti=jti, scope=scope,
            auth_time=epoch(user.auth_time), acr=user.acr, amr=user.amr)
        token: dict[str, Any] = {"token_type": "Bearer", "access_token": access, "expires_in": ttl, "scope": scope}
        if include_refresh_token and "offline_access" in scope.split():
            token["refresh_token"] = random_token(32)
        return token

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        """Only a refresh token has a row (an access token's grant was written with the code)."""
        refresh = token.get("refresh_token")
        if refresh:
            call = CALL.get()
            wait(self.grants.save_refresh(
                subject=request.user, scope=token.get("scope", ""), refresh=refresh,
                expires=call.now + dt.timedelta(seconds=self.settings.refresh_token_seconds), now=call.now))

    # -- reading tokens back ----------------------------------------------------------------------
    def read_access_token(self, value: str) -> TokenRecord | None:
        """A JWT access token that is ours (signature, issuer) and of a known grant; expired/revoked ones too."""
        call = CALL.get()
        claims = tokens.decode_access_token(value, call.keys, self.issuer)
        return wait(self.grants.access_token(claims, call.now)) if claims else None

    def read_token(self, value: str, hint: str | None) -> TokenRecord | None:
        if not value or len(value) > 4096:
            return None
        if value.count(".") == 2 and hint != "refresh_token":
            return self.read_access_token(value)
        record = wait(self.grants.refresh_token(value, CALL.get().now))
        if record is None and hint == "refresh_token" and value.count(".") == 2:
            return self.read_access_token(value)
        return record


class _Payload(OAuth2Payload):  # type: ignore[misc]
    """Query and form parameters together, as Authlib's framework integrations present them."""

    def __init__(self, args: list[tuple[str, str]], form: dict[str, str]) -> None:
        self._datalist: defaultdict[str, list[str]] = defaultdict(list)
        for k, v in [*args, *form.items()]:
            self._datalist[k].append(v)
        self._data = {k: v[0] for k, v in self._datalist.items()}

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> defaultdict[str, list[str]]:
        return self._datalist


class _CoreRequest(OAuth2Request):  # type: ignore[misc]
    def __init__(self, request: HttpRequest) -> None:
        # Authlib refuses non-https URIs; TLS is the deployment's (production requires an https
        # DOSTUP_PUBLIC_URL, settings.py), and here the URI only carries the query.
        uri = "https://" + request.uri.split("://", 1)[-1]
        super().__init__(request.method, uri, headers=request.headers)
        self._args = parse_qsl(urlsplit(request.uri).query, keep_blank_values=True)
        self._form = request.form or {}
        self.payload = _Payload(self._args, self._form)

    @property
    def args(self) -> dict[str, str]:
        return dict(self._args)

    @property
    def form(self) -> dict[str, str]:
        return self._form


class _CodeGrant(AuthorizationCodeGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS
    AUTHORIZATION_CODE_LENGTH = 43

    def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
        server: DostupAuthorizationServer = self.server
        data = request.payload.data
        wait(server.grants.save_code(
            code, client_id=request.client.get_client_id(), subject=request.user,
            redirect_uri=request.payload.redirect_uri, scope=request.scope or "", nonce=data.get("nonce"),
            challenge=data.get("code_challenge"), method=data.get("code_challenge_method"),
            now=CALL.get().now, ttl=server.settings.code_seconds))

    def query_authorization_code(self, code: str, client: Client) -> CodeRecord | None:
        grants: GrantStore = self.server.grants
        return wait(grants.spend_code(code, client.get_client_id(), CALL.get().now))

    def delete_authorization_code(self, authorization_code: CodeRecord) -> None:
        return None  # spent when it was read (GrantStore.spend_code)

    def authenticate_user(self, authorization_code: CodeRecord) -> Subject:
        return authorization_code.subject()


class _S256Only(CodeChallenge):  # type: ignore[misc]
    """PKCE with S256 only; a public client must send a challenge (RFC 7636, RFC 9700 §2.1.1)."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]  # noqa: RUF012 - Authlib's class attribute
    DEFAULT_CODE_CHALLENGE_METHOD = "S256"

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if data.get("code_challenge") and data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("PKCE requires 'code_challenge_method=S256'.", redirect_uri=redirect_uri)
        if grant.request.client.public and not data.get("code_challenge"):
            raise InvalidRequestError("Public clients must use PKCE (S256).", redirect_uri=redirect_uri)
        super().validate_code_challenge(grant, redirect_uri)


class _OpenIDCode(OpenIDCode):  # type: ignore[misc]
    """ID token: ``sub`` (public or pairwise), ``auth_time``, ``acr``, ``amr``, ``nonce``, ``sid``; RS256."""

    def __init__(self, server: DostupAuthorizationServer) -> None:
        super().__init__(require_nonce=False)
        self._server = server

    def encode_id_token(self, token: dict[str, Any], request: OAuth2Request) -> str:
        """The ID token of ``tokens.py`` (the direct exchange path writes the same one)."""
        call = CALL.get()
        code: CodeRecord | None = request.authorization_code
        user: Subject = request.user
        server = self._server
        claims = tokens.id_token_claims(
            issuer=server.issuer, client_id=request.client.client_id, now=epoch(call.now),
            ttl=server.settings.id_token_seconds, nonce=code.nonce if code else None,
            auth_time=epoch(code.auth_time) if code else 0, acr=code.acr if code else None,
            amr=code.amr if code else (),
            at_hash=tokens.at_hash(token["access_token"]) if token.get("access_token") else None,
            sub=subject_id(server.keyring, request.client, user.account_id),
            sid=tokens.session_sid(server.keyring, user.session_id) if user.session_id else None)
        return tokens.id_token(call.keys.signing["RS256"], claims)

    def exists_nonce(self, nonce: str, request: OAuth2Request) -> bool:
        return False  # a nonce is the client's replay check (Core §15.5.2); codes are single-use here

    def resolve_client_private_key(self, client: Client) -> Any:
        return CALL.get().keys.signing["RS256"].key

    def get_client_algorithm(self, client: Client) -> str:
        return "RS256"

    def get_encode_header(self, client: Client) -> dict[str, str]:
        return {"alg": "RS256", "kid": CALL.get().keys.signing["RS256"].kid, "typ": "JWT"}


class _RefreshGrant(RefreshTokenGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token: str) -> TokenRecord | None:
        grants: GrantStore = self.server.grants
        return wait(grants.spend_refresh(refresh_token, self.request.client.get_client_id(), CALL.get().now))

    def authenticate_user(self, refresh_token: TokenRecord) -> Subject:
        return refresh_token.subject()

    def revoke_old_credential(self, refresh_token: TokenRecord) -> None:
        return None  # spent when it was read (GrantStore.spend_refresh)


class _PrivateKeyJWT(JWTBearerClientAssertion):  # type: ignore[misc]
    CLIENT_AUTH_METHOD = "private_key_jwt"

    def __init__(self, server: DostupAuthorizationServer) -> None:
        super().__init__(validate_jti=True, leeway=30)
        self._server = server

    def get_audiences(self) -> list[str]:
        return [self._server.issuer, self._server.issuer + "/oauth2/token"]

    def validate_jti(self, claims: dict[str, Any], jti: str) -> bool:
        """An assertion is single-use (RFC 7523 §3 item 7): its ``jti`` is remembered for 10 minutes."""
        key = f"oidc-assertion:{claims['sub']}:{str(jti)[:128]}"
        return wait(self._server.counter_store.add_once(key, 600))

    def resolve_client_public_key(self, client: Client) -> KeySet:
        return KeySet.import_key_set(client.jwks or {"keys": []})  # type: ignore[arg-type]


class _Revocation(RevocationEndpoint):  # type: ignore[misc]
    CLIENT_AUTH_METHODS = AUTH_METHODS

    def query_token(self, token_string: str, token_type_hint: str | None) -> TokenRecord | None:
        server: DostupAuthorizationServer = self.server
        return server.read_token(token_string, token_type_hint)

    def revoke_token(self, token: TokenRecord, request: OAuth2Request) -> None:
        """A refresh token takes its grant's access tokens with it (RFC 7009 §2.1)."""
        now = CALL.get().now
        if token.kind == "refresh":
            wait(self.server.grants.revoke_grant(token.grant_id, now))
        else:
            wait(self.server.grants.revoke_access(token, now))


class _Introspection(IntrospectionEndpoint):  # type: ignore[misc]
    CLIENT_AUTH_METHODS = [m for m in AUTH_METHODS if m != "none"]  # resource servers are confidential

    def query_token(self, token_string: str, token_type_hint: str | None) -> TokenRecord | None:
        server: DostupAuthorizationServer = self.server
        return server.read_token(token_string, token_type_hint)

    def check_permission(self, token: TokenRecord, client: Client, request: OAuth2Request) -> bool:
        return True  # any registered confidential client may act as a resource server

    def introspect_token(self, token: TokenRecord) -> dict[str, Any]:
        server: DostupAuthorizationServer = self.server
        client = wait(server.clients.get(token.client_id))
        sub = subject_id(server.keyring, client, token.account_id) if client else token.account_id
        return {"active": True, "client_id": token.client_id, "scope": token.scope, "sub": sub,
                "token_type": "Bearer" if token.kind == "access" else "refresh_token",
                "exp": token.get_expires_at(), "iat": epoch(token.created_at), "iss": server.issuer,
                "aud": token.client_id, "acr": token.acr, "auth_time": epoch(token.auth_time)}


class _EndSession(EndSessionEndpoint):  # type: ignore[misc]
    def get_server_jwks(self) -> KeySet:
        return CALL.get().keys.public

    def get_algorithms(self) -> list[str]:
        return ["RS256", "ES256"]

    def end_session(self, end_session_request: Any) -> None:
        return None  # the web layer ends Dostup's session (cookies) and tells partners
