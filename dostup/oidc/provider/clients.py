"""Relying parties: what Authlib asks of a client, and their administration.

Secrets are 256-bit random values shown once; only their SHA-256 is stored (SECURITY.md: client
secrets stored hashed; a value of that entropy needs no slow hash).  A *public* client (a
single-page or mobile app) has no secret, authenticates with ``none`` and must use PKCE S256.
A confidential client authenticates with its secret (``client_secret_basic`` or ``_post``), or —
when it registered a JWKS — with ``private_key_jwt`` (RFC 7523 §2.2) only.
"""

from __future__ import annotations

import datetime as dt
import hmac
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import bindparam, select, update

from dostup.core.clock import Clock
from dostup.core.crypto import random_id, random_token, sha256_hex
from dostup.core.errors import ValidationFailed
from dostup.oidc.provider.errors import ClientNotFound
from dostup.persistence.db import Database, Raw
from dostup.persistence.models_oidc import OidcClient

#: Scopes Dostup knows; ``ru_documents`` (SNILS, INN) only for clients registered with it.
SCOPES = ("openid", "profile", "email", "phone", "offline_access", "ru_documents")
DEFAULT_SCOPES = "openid profile email phone offline_access"
SECRET_METHODS = ("client_secret_basic", "client_secret_post")


@dataclass(frozen=True, slots=True)
class Client:
    """A registered client, in the shape Authlib's ``ClientMixin`` asks for."""

    client_id: str
    name: str
    secret_hash: str | None
    public: bool
    redirect_uris: tuple[str, ...]
    post_logout_redirect_uris: tuple[str, ...]
    backchannel_logout_uri: str | None
    scopes: tuple[str, ...]
    min_level: int
    subject_type: str
    auth_method: str
    jwks: dict[str, Any] | None = None
    client_metadata: dict[str, Any] = field(default_factory=dict)  # read by Authlib's end-session endpoint

    # -- ClientMixin ----------------------------------------------------------------------------
    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        return None  # OpenID Connect Core §3.1.2.1: redirect_uri is required, never guessed

    def get_allowed_scope(self, scope: str | None) -> str:
        wanted = (scope or "").split()
        return " ".join(dict.fromkeys(s for s in wanted if s in self.scopes))

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uris  # exact string match (RFC 9700 §4.1.3)

    def check_client_secret(self, client_secret: str) -> bool:
        if self.secret_hash is None:
            return False
        return hmac.compare_digest(sha256_hex(client_secret), self.secret_hash)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if self.public:
            return method == "none"
        if self.auth_method == "private_key_jwt":
            return method == "private_key_jwt"
        return method in SECRET_METHODS

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in ("authorization_code", "refresh_token")

    @property
    def sector(self) -> str:
        """The pairwise-subject sector (OpenID Connect Core §8.1): the redirect URIs' host."""
        return urlsplit(self.redirect_uris[0]).hostname or self.client_id if self.redirect_uris else self.client_id


_RECENT_SECONDS = 30
_BY_ID = select(OidcClient).where(OidcClient.id == bindparam("client_id"))


def _client(row: Any) -> Client:
    """From an ``OidcClient`` or a Core row of its columns (same names)."""
    return Client(
        client_id=row.id, name=row.name, secret_hash=row.secret_hash, public=row.public,
        redirect_uris=tuple(row.redirect_uris), post_logout_redirect_uris=tuple(row.post_logout_redirect_uris),
        backchannel_logout_uri=row.backchannel_logout_uri, scopes=tuple(row.scopes.split()),
        min_level=row.min_level, subject_type=row.subject_type, auth_method=row.auth_method, jwks=row.jwks,
        client_metadata={"post_logout_redirect_uris": list(row.post_logout_redirect_uris)},
    )


def _check_uri(value: str, name: str) -> str:
    """https, http on a loopback address (RFC 8252 §7.3), or an app's private-use scheme (§7.1); no fragment."""
    try:
        parts = urlsplit(value)
    except ValueError:
        parts = urlsplit("")
    scheme = parts.scheme.lower()
    web = scheme == "https" or (scheme == "http" and parts.hostname in ("127.0.0.1", "localhost", "::1"))
    app = "." in scheme and scheme not in ("http", "https")
    if parts.fragment or len(value) > 512 or not ((web and parts.netloc) or app):
        raise ValidationFailed("oidc.bad_uri", field=name, params={"uri": value[:100]})
    return value


def _public_view(c: Client, created_at: dt.datetime | None = None) -> dict[str, Any]:
    view: dict[str, Any] = {
        "client_id": c.client_id, "name": c.name, "public": c.public,
        "token_endpoint_auth_method": "none" if c.public else c.auth_method,
        "redirect_uris": list(c.redirect_uris), "post_logout_redirect_uris": list(c.post_logout_redirect_uris),
        "backchannel_logout_uri": c.backchannel_logout_uri, "scopes": " ".join(c.scopes),
        "min_level": c.min_level, "subject_type": c.subject_type,
    }
    if created_at is not None:
        view["created_at"] = created_at.isoformat() + "Z"
    return view


#: A client's row in plain SQL (``Raw``), for :meth:`ClientRegistry.from_raw`.
CLIENT_SQL = ("SELECT id, name, secret_hash, public, redirect_uris, post_logout_redirect_uris, backchannel_logout_uri, "
              "scopes, min_level, subject_type, auth_method, jwks, removed_at FROM oidc_clients WHERE id = :id")
_PARSED_MAX = 1000


class ClientRegistry:
    """Reads clients for the protocol and administers them (CLI and admin API)."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock
        self._recent: dict[str, tuple[dt.datetime, Client | None]] = {}
        self._parsed: dict[tuple[Any, ...], Client] = {}

    def from_raw(self, row: tuple[Any, ...] | None) -> Client | None:
        """The client of a :data:`CLIENT_SQL` row read just now (None: unknown or removed).

        The row is read on every request, so a removed client or a rotated secret holds at once in
        every process; only the parsing (JSON columns) is remembered, keyed by the row's values.
        """
        if row is None or row[12] is not None:
            return None
        try:
            client = self._parsed.get(row)
        except TypeError:  # a driver that hands JSON columns back decoded (lists are not hashable)
            client, row = None, tuple(Raw.json(v) if isinstance(v, list | dict) else v for v in row)
        if client is None:
            client = Client(
                client_id=row[0], name=row[1], secret_hash=row[2], public=bool(row[3]),
                redirect_uris=tuple(Raw.read_json(row[4]) or ()),
                post_logout_redirect_uris=tuple(Raw.read_json(row[5]) or ()), backchannel_logout_uri=row[6],
                scopes=tuple(row[7].split()), min_level=row[8], subject_type=row[9], auth_method=row[10],
                jwks=Raw.read_json(row[11]) if row[11] is not None else None,
                client_metadata={"post_logout_redirect_uris": list(Raw.read_json(row[5]) or ())})
            if len(self._parsed) >= _PARSED_MAX:
                self._parsed.clear()
            self._parsed[row] = client
        return client

    async def get(self, client_id: str | None) -> Client | None:
        if not client_id or len(client_id) > 64:
            return None
        row = await self._db.first(_BY_ID, {"client_id": client_id})  # no ORM session: the hot path
        return _client(row) if row is not None and row.removed_at is None else None

    async def recent(self, client_id: str) -> Client | None:
        """:meth:`get`, remembered for a few seconds: for the hot reads of a client's fixed facts
        (its subject type for userinfo's ``sub``), never for authenticating it.  A removed client
        ends its grants, which the token's own read sees at once."""
        now = self._clock.now()
        hit = self._recent.get(client_id)
        if hit is not None and 0 <= (now - hit[0]).total_seconds() < _RECENT_SECONDS:
            return hit[1]
        client = await self.get(client_id)
        if len(self._recent) >= 1000:
            self._recent.clear()
        self._recent[client_id] = (now, client)
        return client

    async def names(self, client_ids: list[str]) -> dict[str, str]:
        if not client_ids:
            return {}
        async with self._db.read() as s:
            rows = (await s.execute(select(OidcClient.id, OidcClient.name).where(OidcClient.id.in_(client_ids)))).all()
        return {r[0]: r[1] for r in rows}

    async def add(self, *, name: str, redirect_uris: list[str], post_logout_redirect_uris: list[str] | None = None,
                  backchannel_logout_uri: str | None = None, public: bool = False, min_level: int = 1,
                  scopes: str | None = None, subject_type: str = "public", jwks: dict[str, Any] | None = None,
                  ) -> dict[str, Any]:
        """Register a client; the answer carries ``client_secret`` once (confidential clients)."""
        name = (name or "").strip()
        if not name or len(name) > 200:
            raise ValidationFailed("oidc.bad_name", field="name")
        if not redirect_uris:
            raise ValidationFailed("oidc.redirect_required", field="redirect_uri")
        uris = [_check_uri(u, "redirect_uri") for u in redirect_uris]
        logout_uris = [_check_uri(u, "post_logout_redirect_uri") for u in post_logout_redirect_uris or []]
        backchannel = _check_uri(backchannel_logout_uri, "backchannel_logout_uri") if backchannel_logout_uri else None
        wanted = (scopes or DEFAULT_SCOPES).split()
        unknown = [s for s in wanted if s not in SCOPES]
        if unknown or "openid" not in wanted:
            raise ValidationFailed("oidc.bad_scopes", field="scopes", params={"scopes": " ".join(unknown)})
        if min_level not in (1, 2, 3):
            raise ValidationFailed("oidc.bad_level", field="min_level")
        if subject_type not in ("public", "pairwise"):
            raise ValidationFailed("oidc.bad_subject_type", field="subject_type")
        secret = None if public or jwks else random_token(32)
        method = "none" if public else ("private_key_jwt" if jwks else "client_secret_basic")
        now = self._clock.now()
        row = OidcClient(
            id=random_id(), name=name, secret_hash=sha256_hex(secret) if secret else None, public=public,
            redirect_uris=uris, post_logout_redirect_uris=logout_uris, backchannel_logout_uri=backchannel,
            scopes=" ".join(dict.fromkeys(wanted)), min_level=min_level, subject_type=subject_type,
            auth_method=method, jwks=jwks, created_at=now,
        )
        async with self._db.write() as s:
            s.add(row)
        view = _public_view(_client(row), now)
        if secret:
            view["client_secret"] = secret
        return view

    async def listing(self) -> list[dict[str, Any]]:
        async with self._db.read() as s:
            rows = list((await s.execute(select(OidcClient).where(OidcClient.removed_at.is_(None))
                                         .order_by(OidcClient.created_at))).scalars())
        return [_public_view(_client(r), r.created_at) for r in rows]

    async def remove(self, client_id: str) -> Client:
        """Retire a client: it can no longer sign anyone in, and (the caller ends) its tokens."""
        client = await self.get(client_id)
        if client is None:
            raise ClientNotFound()
        async with self._db.write() as s:
            await s.execute(update(OidcClient).where(OidcClient.id == client_id).values(removed_at=self._clock.now()))
        return client

    async def rotate_secret(self, client_id: str) -> dict[str, Any]:
        client = await self.get(client_id)
        if client is None:
            raise ClientNotFound()
        if client.public or client.auth_method == "private_key_jwt":
            raise ValidationFailed("oidc.no_secret", field="client_id")
        secret = random_token(32)
        async with self._db.write() as s:
            await s.execute(update(OidcClient).where(OidcClient.id == client_id)
                            .values(secret_hash=sha256_hex(secret)))
        return {"client_id": client_id, "client_secret": secret}
