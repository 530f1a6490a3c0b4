"""The provider's use-cases: authorize (sign-in, level, consent), tokens, userinfo, logout, apps.

Plain values in, outcomes out; ``dostup.web.oidc`` maps them to pages, redirects and JSON.
An authorization request that must wait for sign-in or consent is kept server-side (a flow of
kind ``oidc_authorize``, 15 minutes), so the browser carries only its id through the sign-in
pages' ``return_to``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode

from authlib.oauth2.rfc6749.errors import AccessDeniedError, InvalidRequestError, OAuth2Error
from authlib.oidc.core.errors import ConsentRequiredError, LoginRequiredError
from sqlalchemy import select

from dostup.core.clock import Clock
from dostup.core.crypto import Keyring, random_token, sha256_hex
from dostup.guards.store import CounterStore
from dostup.oidc.provider import acr as acr_
from dostup.oidc.provider.backchannel import Notifier, logout_token
from dostup.oidc.provider.bridge import run, wait
from dostup.oidc.provider.claims import (
    CLAIMS_SUPPORTED,
    Person,
    consent_lines,
    load_person,
    person_in,
    subject_id,
    userinfo,
)
from dostup.oidc.provider.clients import SCOPES, ClientRegistry
from dostup.oidc.provider.exchange import CodeExchange
from dostup.oidc.provider.keys import KeyStore
from dostup.oidc.provider.outcomes import (
    AskConsent,
    ConfirmLogout,
    LevelTooLow,
    LoggedOut,
    Outcome,
    Redirect,
    ShowError,
    SignIn,
)
from dostup.oidc.provider.records import AccessClaims, Subject, TokenRecord
from dostup.oidc.provider.server import AUTH_METHODS, CALL, Call, DostupAuthorizationServer, HttpRequest, HttpResponse
from dostup.oidc.provider.store import GrantStore, access_token_in
from dostup.oidc.provider.tokens import decode_access_token
from dostup.persistence.db import Database, Raw
from dostup.persistence.models import Flow, Session
from dostup.session.reader import SessionRecord
from dostup.session.service import SID
from dostup.session.strength import AMR_VALUES, is_unrestricted
from dostup.settings import OidcSettings

T = TypeVar("T")
_KIND = "oidc_authorize"
_VERIFIED_MAX = 50_000  # access tokens remembered as verified (a few MB at most)
MAX_QUERY = 4096


class TokenRefused(Exception):
    """RFC 6750 §3.1 at userinfo: ``invalid_token`` (401) or ``insufficient_scope`` (403)."""

    def __init__(self, error: str, status: int) -> None:
        super().__init__(error)
        self.error = error
        self.status = status


@dataclass(frozen=True, slots=True)
class App:
    client_id: str
    name: str
    scopes: list[str]
    since: dt.datetime


class OidcProvider:
    def __init__(self, *, issuer: str, db: Database, keyring: Keyring, clock: Clock, store: CounterStore,
                 settings: OidcSettings, levels: tuple[int, ...] = acr_.REACHABLE_LEVELS) -> None:
        self.issuer = issuer.rstrip("/")
        self.levels = levels  # the levels of assurance an account can reach here
        self._db = db
        self._clock = clock
        self._keyring = keyring
        self._settings = settings
        self.clients = ClientRegistry(db, clock)
        self.grants = GrantStore(db)
        self._verified: dict[str, AccessClaims] = {}  # access token -> its claims, once its signature was checked
        self.keys = KeyStore(db, keyring, clock, settings)
        self.notifier = Notifier(settings.backchannel_timeout_seconds)
        self._exchange = CodeExchange(issuer=self.issuer, db=db, clients=self.clients, keys=self.keys,
                                      keyring=keyring, clock=clock, settings=settings)
        self.server = DostupAuthorizationServer(issuer=self.issuer, clients=self.clients, grants=self.grants,
                                                keyring=keyring, store=store, clock=clock, settings=settings,
                                                scopes=list(SCOPES))

    def close(self) -> None:
        """The code exchange's signing thread ends."""
        self._exchange.close()

    async def _core(self, fn: Callable[..., T], *args: Any) -> T:
        call = Call(await self.keys.snapshot(), self._clock.now())

        def inside() -> T:
            CALL.set(call)
            return fn(*args)

        return await run(inside)

    # -- documents ------------------------------------------------------------------------------
    def discovery(self) -> dict[str, Any]:
        i = self.issuer
        return {
            "issuer": i,
            "authorization_endpoint": f"{i}/oauth2/authorize",
            "token_endpoint": f"{i}/oauth2/token",
            "userinfo_endpoint": f"{i}/oauth2/userinfo",
            "jwks_uri": f"{i}/oauth2/jwks",
            "revocation_endpoint": f"{i}/oauth2/revoke",
            "introspection_endpoint": f"{i}/oauth2/introspect",
            "end_session_endpoint": f"{i}/oauth2/logout",
            "scopes_supported": list(SCOPES),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "subject_types_supported": ["public", "pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "userinfo_signing_alg_values_supported": ["none"],
            "token_endpoint_auth_methods_supported": AUTH_METHODS,
            "token_endpoint_auth_signing_alg_values_supported": ["RS256", "ES256"],
            "revocation_endpoint_auth_methods_supported": AUTH_METHODS,
            "introspection_endpoint_auth_methods_supported": [m for m in AUTH_METHODS if m != "none"],
            "code_challenge_methods_supported": ["S256"],
            "claims_supported": CLAIMS_SUPPORTED,
            "acr_values_supported": acr_.issuable_values(self.levels),
            # Not an OpenID Connect Discovery 1.0 field (§3 allows more): the ``amr`` values a partner
            # may see, ``fed`` (a sign-in at another provider) among them — see session/strength.py.
            "amr_values_supported": sorted(AMR_VALUES),
            "prompt_values_supported": ["none", "login", "consent"],
            "claims_parameter_supported": False,
            "request_parameter_supported": False,
            "request_uri_parameter_supported": False,
            "backchannel_logout_supported": True,
            "backchannel_logout_session_supported": True,
            "ui_locales_supported": ["ru", "en"],
        }

    async def jwks(self) -> dict[str, Any]:
        return (await self.keys.snapshot()).jwks

    # -- authorization --------------------------------------------------------------------------
    async def authorize(self, query: str, session: SessionRecord | None, *, request_id: str | None = None,
                        decision: bool | None = None) -> Outcome | Redirect:
        fresh_after = None
        if request_id is not None:
            loaded = await self._load_request(request_id)
            if loaded is None:
                return ShowError("invalid_request", "oidc.request_expired")
            query, fresh_after = loaded
        if len(query) > MAX_QUERY:
            return ShowError("invalid_request", "oidc.request_too_large")
        try:
            pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=False, max_num_fields=50)
        except ValueError:
            return ShowError("invalid_request", "oidc.invalid_request")
        if any(k in _ECHOED and not (v.isascii() and v.isprintable()) for k, v in pairs):
            # Authlib repeats these in its error_description, which RFC 6749 §5.2 keeps to printable ASCII (it
            # raises on anything else): a value no client sends is refused here, before it is repeated
            return ShowError("invalid_request", "oidc.invalid_request")
        outcome = await self._core(self._authorize, _normalised(pairs), session, fresh_after, decision, request_id)
        if isinstance(outcome, Redirect) and request_id is not None:
            await self._drop_request(request_id)
        return outcome

    def _subject(self, session: SessionRecord, level: int) -> Subject:
        return Subject(session.account_id, session.sid or session.id, session.authenticated_at,
                       acr_.acr_value(level, session.strength.aal), session.strength.amr)

    def _authorize(self, query: str, session: SessionRecord | None, fresh_after: dt.datetime | None,
                   decision: bool | None, request_id: str | None) -> Outcome:
        now = CALL.get().now
        req = HttpRequest("GET", f"{self.issuer}/oauth2/authorize?{query}", {})
        if session is not None and not is_unrestricted(session):
            return Redirect("/settings/password")
        # the stored level, as far as this cabinet vouches for levels now (discovery lists the same)
        level = min(wait(acr_.account_level(self._db, session.account_id)), max(self.levels)) if session is not None else 1
        subject = self._subject(session, level) if session is not None else None
        try:
            grant = self.server.get_consent_grant(req, end_user=subject)
        except OAuth2Error as exc:
            if not getattr(exc, "redirect_uri", None):
                return ShowError(exc.error, "oidc.invalid_request")
            return self._error_redirect(exc)
        data = grant.request.payload.data
        client = grant.request.client
        redirect_uri = grant.redirect_uri
        state = data.get("state")

        def deny(cls: type[OAuth2Error], description: str | None = None) -> Redirect | ShowError:
            return self._error_redirect(cls(description=description, redirect_uri=redirect_uri, state=state))

        prompts = set((data.get("prompt") or "").split())
        max_age = data.get("max_age")
        if max_age is not None and not (max_age.isdigit() and len(max_age) < 10):
            return deny(InvalidRequestError, "Invalid 'max_age'.")
        if session is None or subject is None or (
                "login" in prompts and (fresh_after is None or session.authenticated_at < fresh_after)) or (
                max_age is not None and (now - session.authenticated_at).total_seconds() > int(max_age)):
            if "none" in prompts:
                return deny(LoginRequiredError)
            rid = request_id or wait(self._save_request(query))
            return SignIn(rid, reauth=session is not None, login_hint=data.get("login_hint"))
        needed = max(client.min_level, acr_.requested_level(data.get("acr_values")))
        if needed > level:
            if decision is False or "none" in prompts:
                return deny(AccessDeniedError, f"The account's level of assurance is {level}; {needed} is required.")
            return LevelTooLow(request_id or wait(self._save_request(query)), client.name, needed, level,
                               redirect_uri)
        if decision is False:
            return deny(AccessDeniedError, "The user refused.")
        scopes = (grant.request.scope or "").split()
        if decision is None and ("consent" in prompts or not wait(
                self.grants.consented(subject.account_id, client.client_id, set(scopes)))):
            if "none" in prompts:
                return deny(ConsentRequiredError)
            person = wait(load_person(self._db, subject.account_id))
            if person is None:
                return deny(AccessDeniedError)
            return AskConsent(request_id or wait(self._save_request(query)), client.name,
                              consent_lines(person, scopes), redirect_uri)
        if decision is True:
            wait(self.grants.remember_consent(subject.account_id, client.client_id, scopes, now))
        resp: HttpResponse = self.server.create_authorization_response(req, grant_user=subject, grant=grant)
        return Redirect(resp.location() or "/")

    def _error_redirect(self, exc: OAuth2Error) -> Redirect | ShowError:
        """RFC 6749 §4.1.2.1: back to the (validated) redirect URI with ``error``, ``state``."""
        resp: HttpResponse = self.server.handle_error_response(None, exc)
        location = resp.location()
        return Redirect(location) if location else ShowError(exc.error, "oidc.invalid_request")

    async def _save_request(self, query: str) -> str:
        now = self._clock.now()
        rid = random_token(24)
        async with self._db.write() as s:
            s.add(Flow(id=rid, kind=_KIND, state="waiting", data={"query": query}, created_at=now, updated_at=now,
                       expires_at=now + dt.timedelta(seconds=self._settings.request_seconds)))
        return rid

    async def _load_request(self, request_id: str) -> tuple[str, dt.datetime] | None:
        if not request_id or len(request_id) > 64:
            return None
        async with self._db.read() as s:
            flow = await s.get(Flow, request_id)
        if flow is None or flow.kind != _KIND or flow.expires_at <= self._clock.now():
            return None
        return str(flow.data.get("query", "")), flow.created_at

    async def _drop_request(self, request_id: str) -> None:
        async with self._db.write() as s:
            flow = await s.get(Flow, request_id)
            if flow is not None and flow.kind == _KIND:
                await s.delete(flow)

    # -- token, revocation, introspection ----------------------------------------------------------
    async def token(self, req: HttpRequest) -> HttpResponse:
        """A code exchange on the direct path (``exchange.py``); any other request, and any it leaves, by Authlib."""
        answered = await self._exchange(req)
        if answered is not None:
            return answered
        return await self._core(self.server.create_token_response, req)

    async def revoke(self, req: HttpRequest) -> HttpResponse:
        return await self._core(self.server.create_endpoint_response, "revocation", req)

    async def introspect(self, req: HttpRequest) -> HttpResponse:
        return await self._core(self.server.create_endpoint_response, "introspection", req)

    async def _verified_claims(self, value: str) -> AccessClaims | None:
        """The claims of an access token whose signature is good.  Checked once per process (a
        token is immutable: the cache maps it to its claims); whether it was revoked, or its grant,
        is read from the database on every use, so a revocation holds at once in every process."""
        claims = self._verified.get(value)
        if claims is None:
            claims = decode_access_token(value, await self.keys.snapshot(), self.issuer)
            if claims is None:
                return None
            if len(self._verified) >= _VERIFIED_MAX:
                self._verified.clear()  # bounded; a token dropped here is simply checked again
            self._verified[value] = claims
        return claims

    async def access_token(self, value: str) -> TokenRecord | None:
        claims = await self._verified_claims(value)
        return await self.grants.access_token(claims, self._clock.now()) if claims else None

    async def userinfo(self, value: str | None) -> dict[str, Any]:
        """The token's record and the account's claims in one plain SQL read (both indexed)."""
        claims = await self._verified_claims(value or "")
        if claims is None:
            raise TokenRefused("invalid_token", 401)
        now = self._clock.now()

        def read(raw: Raw) -> tuple[TokenRecord | None, Person | None]:
            record = access_token_in(raw, claims, now)
            if record is None or not record.active() or "openid" not in record.scope.split():
                return record, None
            return record, person_in(raw, record.account_id, documents="ru_documents" in record.scope.split())

        record, person = await self._db.read_raw(read)
        if record is None or not record.active():
            raise TokenRefused("invalid_token", 401)
        if "openid" not in record.scope.split():
            raise TokenRefused("insufficient_scope", 403)
        client = await self.clients.recent(record.client_id)
        if client is None or person is None:
            raise TokenRefused("invalid_token", 401)
        return userinfo(person, record.scope, subject_id(self._keyring, client, record.account_id))

    # -- logout ---------------------------------------------------------------------------------
    async def end_session(self, req: HttpRequest, session: SessionRecord | None, *, confirmed: bool
                          ) -> ShowError | ConfirmLogout | LoggedOut:
        """RP-Initiated Logout 1.0: validate; confirm unless an ``id_token_hint`` names the user."""

        def validate() -> Any:
            return self.server.validate_endpoint_request("end_session", req)

        try:
            ended = await self._core(validate)
        except OAuth2Error as exc:
            return ShowError(exc.error, "oidc.logout_invalid")
        hint = ended.id_token_claims
        if session is not None and hint is not None:
            expected = subject_id(self._keyring, ended.client, session.account_id) if ended.client else None
            if hint.get("sub") != expected:
                hint = None  # a hint about someone else is no confirmation
        if session is not None and hint is None and not confirmed:
            return ConfirmLogout(ended.client.name if ended.client else None, ended.redirect_uri)
        if session is not None:
            await self.session_ended(session.sid or session.id)
        return LoggedOut(ended.redirect_uri)

    async def signed_out(self, session_token: str) -> None:
        """Dostup's own sign-out (pages and API) also signs the user out of partners (issue 12 §1)."""
        async with self._db.read() as s:
            sid = (await s.execute(select(SID).where(Session.token_hash == sha256_hex(session_token)))
                   ).scalar_one_or_none()
        if sid is not None:
            await self.session_ended(sid)

    async def sessions_ended(self, sids: Sequence[str]) -> None:
        """Sessions ended elsewhere in Dostup («Сеансы и безопасность», a password change)."""
        for sid in sids:
            await self.session_ended(sid)

    async def session_ended(self, session_id: str) -> None:
        """Dostup's session is over: end its partners' online grants and tell those that listen.

        ``session_id`` is the session's ``sid`` (SessionRecord.sid): a session rotated after step-up
        continues its predecessor's sign-in, and the grants made before the rotation are reached too.
        """
        now = self._clock.now()
        reached = await self.grants.end_session(session_id, now)
        if not reached:
            return
        keys = await self.keys.snapshot()
        for client_id, account_id in reached:
            client = await self.clients.get(client_id)
            if client is not None and client.backchannel_logout_uri:
                self.notifier.send(client.backchannel_logout_uri,
                                   logout_token(keys, self._keyring, self.issuer, client, account_id, session_id, now))

    # -- «Приложения с доступом» ------------------------------------------------------------------
    async def apps(self, account_id: str) -> list[App]:
        consents = await self.grants.consents(account_id)
        names = await self.clients.names([c[0] for c in consents])
        merged: dict[str, App] = {}
        for client_id, scope, since in consents:
            if client_id not in names:
                continue
            prev = merged.get(client_id)
            scopes = sorted(set(scope.split()) | set(prev.scopes if prev else []), key=_scope_order)
            merged[client_id] = App(client_id, names[client_id], scopes, prev.since if prev else since)
        return list(merged.values())

    async def withdraw(self, account_id: str, client_id: str) -> None:
        await self.grants.withdraw(account_id, client_id[:64], self._clock.now())

    # -- administration -------------------------------------------------------------------------
    async def remove_client(self, client_id: str) -> dict[str, Any]:
        client = await self.clients.remove(client_id)
        ended = await self.grants.revoke_client(client.client_id, self._clock.now())
        return {"client_id": client.client_id, "removed": True, "grants_revoked": ended}


def _scope_order(scope: str) -> int:
    return SCOPES.index(scope) if scope in SCOPES else len(SCOPES)


_ECHOED = frozenset({"response_type", "response_mode", "code_challenge_method"})


def _normalised(pairs: list[tuple[str, str]]) -> str:
    """``offline_access`` is honoured only with ``prompt=consent`` (OpenID Connect Core §11)."""
    prompts = " ".join(v for k, v in pairs if k == "prompt").split()
    if "consent" in prompts:
        return urlencode(pairs)
    out = [(k, " ".join(s for s in v.split() if s != "offline_access") if k == "scope" else v) for k, v in pairs]
    return urlencode(out)
