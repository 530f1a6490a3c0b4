"""The relational schema, one history for SQLite and PostgreSQL.

Times are naive UTC.  Identifiers (phone, email, login) are columns of ``accounts`` with unique
constraints: the database, not the application, guarantees that two parallel registrations of one
phone end in one account (SECURITY.md: registration).  Deleting an account sets them to NULL,
which releases them.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Account(Base):
    __tablename__ = "accounts"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    state: Mapped[str] = mapped_column(String(16), default="active")
    role: Mapped[str] = mapped_column(String(16), default="customer")
    segment: Mapped[str | None] = mapped_column(String(32))
    phone: Mapped[str | None] = mapped_column(String(20), unique=True)
    phone_verified_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    email: Mapped[str | None] = mapped_column(String(254), unique=True)
    email_verified_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    login: Mapped[str | None] = mapped_column(String(64), unique=True)
    snils: Mapped[str | None] = mapped_column(String(11), unique=True)
    region: Mapped[str | None] = mapped_column(String(100))
    deleted_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    password_changed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    given_name: Mapped[str | None] = mapped_column(String(100))
    family_name: Mapped[str | None] = mapped_column(String(100))
    middle_name: Mapped[str | None] = mapped_column(String(100))
    locale: Mapped[str] = mapped_column(String(8), default="ru")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime)


class Flow(Base):
    """A self-service flow in progress (Kratos-style persisted state machine)."""

    __tablename__ = "flows"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(32))
    data: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
    account_id: Mapped[str | None] = mapped_column(String(32), index=True)
    return_to: Mapped[str | None] = mapped_column(String(512))
    requested_aal: Mapped[int | None] = mapped_column(Integer)
    ip: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime, index=True)


class SpentChallenge(Base):
    """A first-factor ceremony's signed flow id, once answered (``login/ceremony.py``:
    ``SignedFlows``): its options wrote nothing, and this row is what makes the challenge
    single-use.  The id alone is the key and the row (``WITHOUT ROWID`` on SQLite: one b-tree, so
    the sign-in's commit writes one page for it, where a ``flows`` row wrote four); rows past
    ``expires_at`` are refused by the id's own signed expiry and purged."""

    __tablename__ = "spent_challenges"
    __table_args__ = {"sqlite_with_rowid": False}

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime)


class OneTimeCode(Base):
    __tablename__ = "codes"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    purpose: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(8))
    destination: Mapped[str] = mapped_column(String(254))
    flow_id: Mapped[str | None] = mapped_column(String(64))
    account_id: Mapped[str | None] = mapped_column(String(32), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=5)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime, index=True)  # housekeeping deletes by it
    used_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    invalidated_at: Mapped[dt.datetime | None] = mapped_column(DateTime)

    # a flow's latest code: read in order, never sorted
    __table_args__ = (Index("ix_codes_flow_time", "flow_id", "created_at"),)


class Session(Base):
    __tablename__ = "sessions"
    # housekeeping: ended sessions by the time they ended (expires_at above; revoked_at here, only
    # the revoked ones: a sign-in's new row, not revoked, adds no entry to this index)
    __table_args__ = (Index("ix_sessions_revoked_at", "revoked_at", sqlite_where=text("revoked_at IS NOT NULL"),
                            postgresql_where=text("revoked_at IS NOT NULL")),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    aal: Mapped[int] = mapped_column(Integer, default=1)
    amr: Mapped[str] = mapped_column(String(64), default="pwd")  # RFC 8176 values, space-separated
    restrictions: Mapped[str] = mapped_column(String(64), default="")  # e.g. "password_change"
    remember: Mapped[bool] = mapped_column(Boolean, default=False)
    kind: Mapped[str] = mapped_column(String(8), default="cookie")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    authenticated_at: Mapped[dt.datetime] = mapped_column(DateTime)
    last_seen_at: Mapped[dt.datetime] = mapped_column(DateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime, index=True)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(512))
    # The sign-in this session continues (OIDC ``sid``): a session rotated after step-up keeps its
    # predecessor's, so partners told of the sign-in are told of its end.  NULL: the session's own id.
    sid: Mapped[str | None] = mapped_column(String(32))


class Credential(Base):
    """A way to prove who one is beyond the identifier columns: recovery codes, TOTP, passkeys,
    social links (Kratos's ``identity_credentials``).  ``config`` is the method's own JSON;
    ``version`` guards read-modify-write updates (a single-use code is spent by
    ``UPDATE … WHERE version = :seen``, so two racing requests cannot both spend it)."""

    __tablename__ = "credentials"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    type: Mapped[str] = mapped_column(String(32))
    name: Mapped[str | None] = mapped_column(String(100))
    config: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class CredentialIdentifier(Base):
    """A credential's public identifier (a passkey's credential id, a provider's subject),
    unique per type across all accounts: one passkey or social account opens one cabinet."""

    __tablename__ = "credential_identifiers"
    __table_args__ = (UniqueConstraint("type", "identifier"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    credential_id: Mapped[str] = mapped_column(ForeignKey("credentials.id", ondelete="CASCADE"), index=True)
    type: Mapped[str] = mapped_column(String(32))
    identifier: Mapped[str] = mapped_column(String(255))


class Device(Base):
    """A device bound to an account for the quick passcode («Код для входа»).

    The device holds a random secret (a long-lived ``HttpOnly`` cookie, or an app's storage);
    only its SHA-256 is stored, and the passcode's argon2id hash.  Wrong passcodes are counted on
    the row by an atomic UPDATE; the fifth revokes the binding."""

    __tablename__ = "devices"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    passcode_hash: Mapped[str] = mapped_column(String(255))
    name: Mapped[str | None] = mapped_column(String(100))
    failures: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class Consent(Base):
    """One consent decision (given or withdrawn), never updated: the history is the record."""

    __tablename__ = "consents"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    granted: Mapped[bool] = mapped_column(Boolean)
    document_version: Mapped[str] = mapped_column(String(32))
    document_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(512))
    channel: Mapped[str] = mapped_column(String(8))


class NotificationPreference(Base):
    """Whether the account wants one kind of message on one channel («Настройка уведомлений»).

    A missing row means the kind's default.  Marketing rows say which channels the user chose;
    whether marketing may be sent at all is the latest marketing :class:`Consent`.
    """

    __tablename__ = "notification_preferences"

    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    channel: Mapped[str] = mapped_column(String(8), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime)


class OutboxMessage(Base):
    __tablename__ = "outbox"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    account_id: Mapped[str | None] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(8))
    kind: Mapped[str] = mapped_column(String(48))
    to: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(255), default="")
    body: Mapped[str] = mapped_column(Text)
    code: Mapped[str | None] = mapped_column(String(16))
    locale: Mapped[str] = mapped_column(String(8), default="ru")
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(DateTime)
    claimed_until: Mapped[dt.datetime | None] = mapped_column(DateTime)
    last_error: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, index=True)
    sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime)

    __table_args__ = (
        Index("ix_outbox_due", "status", "next_attempt_at", "id"),  # the courier's claim, in its order
        Index("ix_outbox_account_time", "account_id", "created_at", "id"),  # «История уведомлений» by keyset
        Index("ix_outbox_to", "to", "created_at"),  # a registration files its codes under the new account
    )


class SecurityEvent(Base):
    __tablename__ = "security_events"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    account_id: Mapped[str | None] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(48))
    outcome: Mapped[str] = mapped_column(String(16))
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(512))
    detail: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, index=True)

    # the security history by keyset: one index range per page, in order
    __table_args__ = (Index("ix_security_events_account_time", "account_id", "created_at", "id"),)


class Counter(Base):
    """Fixed-window counters and one-shot markers for the SQL limiter store (no Redis)."""

    __tablename__ = "counters"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime, index=True)
