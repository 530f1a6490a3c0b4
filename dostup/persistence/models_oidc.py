"""Tables of the OpenID Connect provider (issue 12, SPEC §4.13).

* ``oidc_clients`` — registered relying parties; a confidential client's secret is stored as a
  SHA-256 hash only (a 256-bit random secret needs no slow hash: there is nothing to brute-force).
* ``oidc_keys`` — signing keys; the private JWK is encrypted with a key derived from the instance
  secret (AES-GCM), the public JWK is published from ``active_at`` … ``expires_at``.
* ``oidc_codes`` — authorization codes (hash only), single-use through ``used_at``.
* ``oidc_grants`` — one authorization of a client by an account: the *family* that every token
  issued from one code belongs to, written with the code under the code's id.  Revoking the grant
  revokes the family (code replay, refresh reuse, «Приложения с доступом», logout).
* ``oidc_tokens`` — one row per refresh token (hash), and per access token revoked on its own
  (RFC 7009; its ``jti``).  A JWT access token otherwise has no row: its ``jti`` names its grant,
  which userinfo and introspection read, so a revoked family is refused at once (RFC 9068 §5
  leaves revocation to the server).
* ``oidc_consents`` — the scope set an account allowed a client, until withdrawn.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from dostup.persistence.models import Base


class OidcClient(Base):
    __tablename__ = "oidc_clients"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    secret_hash: Mapped[str | None] = mapped_column(String(64))
    public: Mapped[bool] = mapped_column(Boolean, default=False)
    redirect_uris: Mapped[list[str]] = mapped_column(JSON, default=list)
    post_logout_redirect_uris: Mapped[list[str]] = mapped_column(JSON, default=list)
    backchannel_logout_uri: Mapped[str | None] = mapped_column(String(512))
    scopes: Mapped[str] = mapped_column(String(255))
    min_level: Mapped[int] = mapped_column(Integer, default=1)
    subject_type: Mapped[str] = mapped_column(String(16), default="public")
    auth_method: Mapped[str] = mapped_column(String(32))
    jwks: Mapped[dict[str, object] | None] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    removed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class OidcKey(Base):
    __tablename__ = "oidc_keys"

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    alg: Mapped[str] = mapped_column(String(8))
    public_jwk: Mapped[dict[str, object]] = mapped_column(JSON)
    private_enc: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    active_at: Mapped[dt.datetime] = mapped_column(DateTime)
    retired_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class OidcCode(Base):
    __tablename__ = "oidc_codes"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    client_id: Mapped[str] = mapped_column(String(64))
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    session_id: Mapped[str | None] = mapped_column(String(32))
    redirect_uri: Mapped[str] = mapped_column(String(512))
    scope: Mapped[str] = mapped_column(String(255))
    nonce: Mapped[str | None] = mapped_column(String(255))
    code_challenge: Mapped[str | None] = mapped_column(String(128))
    code_challenge_method: Mapped[str | None] = mapped_column(String(8))
    auth_time: Mapped[dt.datetime] = mapped_column(DateTime)
    acr: Mapped[str] = mapped_column(String(64))
    amr: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime, index=True)  # housekeeping deletes by it
    used_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class OidcGrant(Base):
    __tablename__ = "oidc_grants"

    # a partner's grants (removing it), an account's with one partner («Приложения с доступом»)
    __table_args__ = (Index("ix_oidc_grants_client_account", "client_id", "account_id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64))
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"))
    code_id: Mapped[str | None] = mapped_column(String(32))  # the code it was written with: its id is the code's
    session_id: Mapped[str | None] = mapped_column(String(32), index=True)
    scope: Mapped[str] = mapped_column(String(255))
    auth_time: Mapped[dt.datetime] = mapped_column(DateTime)
    acr: Mapped[str] = mapped_column(String(64))
    amr: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, index=True)  # housekeeping deletes by it
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class OidcToken(Base):
    __tablename__ = "oidc_tokens"

    # Refresh tokens only have a hash: the unique index leaves the access tokens' NULLs out, and the
    # rows live in their key's b-tree on SQLite (two pages an access token, not four).
    __table_args__ = (Index("uq_oidc_tokens_token_hash", "token_hash", unique=True,
                            sqlite_where=text("token_hash IS NOT NULL"),
                            postgresql_where=text("token_hash IS NOT NULL")),
                      {"sqlite_with_rowid": False})

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # the access token's jti, or a refresh id
    grant_id: Mapped[str] = mapped_column(ForeignKey("oidc_grants.id"), index=True)
    kind: Mapped[str] = mapped_column(String(8))  # access | refresh
    token_hash: Mapped[str | None] = mapped_column(String(64))  # refresh tokens only
    scope: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime, index=True)  # housekeeping deletes by it
    used_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class OidcConsent(Base):
    __tablename__ = "oidc_consents"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    client_id: Mapped[str] = mapped_column(String(64))
    scope: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    withdrawn_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
