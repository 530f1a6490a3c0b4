"""Levels of assurance (SPEC §4.8, the gosuslugi seed): the account's level, the full profile a
«Стандартная учётная запись» needs, and the requests to check it.

``identity_profiles`` holds one row per account that has filled the profile or been given a level;
no row is level 1 («Упрощённая»).  Names and the SNILS stay in ``accounts`` (they are identifiers and
claims already); the rest of the person — gender, birth, citizenship, the passport — is here.

``verification_requests`` is a persisted state machine (``submitted`` → ``approved`` | ``rejected``,
or ``cancelled`` when a checked field changes before the answer), moved by guarded
``UPDATE … WHERE state = 'submitted'`` as the ``flows`` are.  It is not a ``flows`` row: a flow lives
minutes and is purged after it expires, a request waits hours or days for its verifier, is listed by
state for the operators' queue, and stays as the record of what was checked.  ``data`` is the profile
as it was sent, its passport sealed (``dostup.core.passport``), while the check waits; then a digest of it
(erased with the account).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Boolean, Date, DateTime, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from dostup.persistence.models import Base

_CLEAR = text("passport IS NULL AND passport_number IS NOT NULL")  # a profile saved before 0051, not sealed yet


class IdentityProfile(Base):
    __tablename__ = "identity_profiles"

    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    level: Mapped[int] = mapped_column(Integer, default=1)  # 1 simplified, 2 standard, 3 confirmed
    no_middle_name: Mapped[bool] = mapped_column(Boolean, default=False)
    gender: Mapped[str | None] = mapped_column(String(8))
    birth_date: Mapped[dt.date | None] = mapped_column(Date)
    birth_place: Mapped[str | None] = mapped_column(String(200))
    citizenship: Mapped[str | None] = mapped_column(String(2))
    passport_series: Mapped[str | None] = mapped_column(String(4))
    passport_number: Mapped[str | None] = mapped_column(String(6))
    passport_issued_on: Mapped[dt.date | None] = mapped_column(Date)
    passport_division_code: Mapped[str | None] = mapped_column(String(7))
    passport_issuer: Mapped[str | None] = mapped_column(String(200))
    # the five passport fields above, sealed (selfservice/verification/passport.py); the columns above are
    # only read for a profile saved before 0051, and emptied at its next save
    passport: Mapped[str | None] = mapped_column(Text)
    # what the level was given for (PersonData.snapshot): a change to any of it lowers the level
    checked: Mapped[dict[str, object] | None] = mapped_column(JSON)
    level_changed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime)

    __table_args__ = (
        # the profiles with a passport still in the old columns, which housekeeping seals (persistence/reseal.py):
        # empty once they are, so its pass reads nothing rather than the whole table (keyed by the number, which
        # such a profile always has: SQLite then searches the index instead of reading it through)
        Index("ix_identity_profiles_passport_clear", "passport_number", sqlite_where=_CLEAR, postgresql_where=_CLEAR),
    )


class VerificationRequest(Base):
    __tablename__ = "verification_requests"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"))
    level: Mapped[int] = mapped_column(Integer, default=2)  # the level it asks for
    state: Mapped[str] = mapped_column(String(16))  # submitted, approved, rejected, cancelled
    verifier: Mapped[str] = mapped_column(String(16))  # operator, registry
    data: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
    answer: Mapped[str | None] = mapped_column(String(300))  # the verifier's reason
    answered_by: Mapped[str | None] = mapped_column(String(32))  # an operator's account id, or "registry"
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime)
    answered_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    # a registered letter's (dostup.accounts.letters): until when its code may be entered; None for a profile's check
    expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    # a registered letter waiting to be printed: since when (its order); None once printed or ended, and for a
    # profile's check — the print queue is the rows that have it, read oldest first from its index
    queued_at: Mapped[dt.datetime | None] = mapped_column(DateTime)

    __table_args__ = (
        Index("ix_verification_requests_account_time", "account_id", "created_at", "id"),  # the latest of an account
        Index("ix_verification_requests_state_time", "state", "created_at", "id"),  # the operators' queue, oldest first
        # the letters to print, oldest first (with their expiry: the expired ones are left out within the index)
        Index("ix_verification_requests_print_queue", "queued_at", "id", "expires_at"),
        Index("ix_verification_requests_expiry", "state", "expires_at"),  # housekeeping ends the expired letters
    )
