"""What the Authlib core reads: codes, the signed-in subject, tokens (its ``*Mixin`` protocols)."""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass
from typing import Any


def epoch(value: dt.datetime) -> int:
    return calendar.timegm(value.utctimetuple())


@dataclass(frozen=True, slots=True)
class Subject:
    """Who is being authorized, and how they signed in (carried from the session into the tokens)."""

    account_id: str
    session_id: str | None
    auth_time: dt.datetime
    acr: str
    amr: tuple[str, ...]
    grant_id: str | None = None  # the grant the tokens join: a code's (written with it), or a refresh token's


@dataclass(frozen=True, slots=True)
class CodeRecord:
    """An authorization code just spent (Authlib's ``AuthorizationCodeMixin`` for OpenID Connect)."""

    id: str
    client_id: str
    account_id: str
    session_id: str | None
    redirect_uri: str
    scope: str
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    auth_time: dt.datetime
    acr: str
    amr: tuple[str, ...]

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return epoch(self.auth_time)

    def get_acr(self) -> str:
        return self.acr

    def get_amr(self) -> list[str]:
        return list(self.amr)

    def subject(self) -> Subject:
        # the grant was written with the code, under its id (GrantStore.save_code)
        return Subject(self.account_id, self.session_id, self.auth_time, self.acr, self.amr, grant_id=self.id)


@dataclass(frozen=True, slots=True)
class AccessClaims:
    """What a verified JWT access token says of itself: its ``jti`` (``{grant id}.{random}``), scope
    and lifetime."""

    jti: str
    grant_id: str
    scope: str
    issued_at: dt.datetime
    expires_at: dt.datetime


@dataclass(frozen=True, slots=True)
class TokenRecord:
    """An access or refresh token with its grant (Authlib's ``TokenMixin``)."""

    id: str
    kind: str
    grant_id: str
    client_id: str
    account_id: str
    scope: str
    created_at: dt.datetime
    expires_at: dt.datetime
    revoked: bool
    now: dt.datetime
    auth_time: dt.datetime
    acr: str
    amr: tuple[str, ...]
    session_id: str | None

    def check_client(self, client: Any) -> bool:
        return bool(client.get_client_id() == self.client_id)

    def get_client_id(self) -> str:
        return self.client_id

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return int((self.expires_at - self.created_at).total_seconds())

    def get_expires_at(self) -> int:
        return epoch(self.expires_at)

    def is_expired(self) -> bool:
        return self.expires_at <= self.now

    def is_revoked(self) -> bool:
        return self.revoked

    def active(self) -> bool:
        return not self.revoked and not self.is_expired()

    def subject(self) -> Subject:
        return Subject(self.account_id, self.session_id, self.auth_time, self.acr, self.amr, grant_id=self.grant_id)
