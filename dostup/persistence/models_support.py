"""Support requests («Обращения в службу поддержки», SPEC §4.14: the operator console's «support requests»).

``support_requests`` is a persisted record, not a ``flows`` row: it waits hours or days for an answer, is
listed by state for the operators' queue and by account for the cabinet, and stays as the record of what
was asked.  Its state moves ``open`` → ``answered`` (an operator wrote) → ``open`` again (the customer
replied) … → ``closed``, by guarded ``UPDATE … WHERE state = …``.  ``queued_at`` is when it last started
waiting for an operator: the queue is served oldest first by it, and a second customer message while it
already waits does not move it back.

``support_messages`` are the request's texts in order (``seq`` 1 is the customer's first); an operator's
carries the operator's id, kept without a foreign key as the audit trail keeps it.  Deleting the account
empties every text (``erased``) and closes what was still open.  Housekeeping deletes a closed request with its
messages ``DOSTUP_HOUSEKEEPING__SUPPORT_REQUESTS_DAYS`` after it was closed (``dostup.persistence.housekeeping``).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from dostup.persistence.models import Base

MAX_MESSAGES = 100  # a request's messages at most (a conversation, not a chat); housekeeping sizes its batches by it


class SupportRequest(Base):
    __tablename__ = "support_requests"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"))
    topic: Mapped[str] = mapped_column(String(32))  # one of dostup.accounts.support.TOPICS
    state: Mapped[str] = mapped_column(String(16))  # open, answered, closed
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime)
    queued_at: Mapped[dt.datetime] = mapped_column(DateTime)  # since when it waits for an operator
    closed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    closed_by: Mapped[str | None] = mapped_column(String(32))  # an operator's account id, or "account_deleted"

    __table_args__ = (
        Index("ix_support_requests_account_time", "account_id", "created_at", "id"),  # the cabinet's list, limits
        Index("ix_support_requests_state_queue", "state", "queued_at", "id"),  # the operators' queue, oldest first
        Index("ix_support_requests_closed", "state", "closed_at"),  # housekeeping: closed ones past their retention
    )


class SupportMessage(Base):
    __tablename__ = "support_messages"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    request_id: Mapped[str] = mapped_column(ForeignKey("support_requests.id"))
    seq: Mapped[int] = mapped_column(Integer)  # 1, 2, … within the request
    author: Mapped[str] = mapped_column(String(16))  # customer or operator
    operator_id: Mapped[str | None] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(String(2000))  # emptied when the account is deleted
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)

    __table_args__ = (Index("ux_support_messages_request_seq", "request_id", "seq", unique=True),)
