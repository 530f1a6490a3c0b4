"""What operators did: the audit trail of the operator console (SPEC §4.14: «every operator action is
audit-logged with who, when, why»; SECURITY.md: every operator view of personal data is audited).

A row is written in the unit of work that shows or changes the data, so nothing is shown unrecorded.
``operator_id`` is kept without a foreign key, as security events keep theirs: the trail outlives
the operator's account.  ``detail`` names what was looked up, masked as the pages mask it, and the
accounts that were shown.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, DateTime, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from dostup.persistence.models import Base


class OperatorAction(Base):
    __tablename__ = "operator_actions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    operator_id: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(32))  # "search"
    reason: Mapped[str] = mapped_column(String(300))  # why, as the operator wrote it
    ip: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)

    __table_args__ = (Index("ix_operator_actions_operator_time", "operator_id", "created_at"),)
