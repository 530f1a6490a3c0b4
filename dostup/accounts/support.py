"""Support requests («Обращения в службу поддержки»; SPEC §4.14, the kit seed's «направьте обращение в службу
поддержки на сайте»): the topics, the checks of a text, the views both sides read, and the eraser.

A text is what the customer or the operator typed, kept as typed (quotes, ``<``, ``--`` and all; escaped
where it is shown): outer spaces trimmed, line breaks kept (``\\r\\n`` read as ``\\n``), at most
:data:`MAX_TEXT` characters.  Control characters other than line breaks and tabs, lone surrogates,
private-use characters and the bidirectional overrides are refused: they would break a mail line or make a
text read differently from what it says (Trojan Source, CVE-2021-42574).

The customer's and the operator's use-cases (``dostup.selfservice.support``, ``dostup.admin.support``) share
this module; neither imports the other.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dostup.core.clock import UtcTime
from dostup.core.crypto import random_id
from dostup.core.errors import Conflict, NotFound, ValidationFailed
from dostup.persistence import models_support
from dostup.persistence.models_support import SupportMessage, SupportRequest

# «Вход и восстановление доступа», «Личные данные и контакты», «Компании и лицевые счета», «Уведомления», «Другое»
TOPICS = ("access", "profile", "contracts", "notifications", "other")
OPEN, ANSWERED, CLOSED = "open", "answered", "closed"
STATES = (OPEN, ANSWERED, CLOSED)
CUSTOMER, OPERATOR = "customer", "operator"
MAX_TEXT = 2000
MAX_MESSAGES = models_support.MAX_MESSAGES  # a request is a conversation, not a chat: past this, write a new one
_REFUSED = frozenset({"Cc", "Cs", "Co", "Zl", "Zp"})
_KEPT_CONTROLS = frozenset("\n\t")
_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")


@dataclass(frozen=True, slots=True)
class MessageView:
    author: str  # customer or operator
    text: str  # empty once the account was deleted
    created_at: UtcTime


@dataclass(frozen=True, slots=True)
class RequestLine:
    id: str
    topic: str
    state: str  # open (waits for support), answered (support wrote), closed
    created_at: UtcTime
    updated_at: UtcTime


@dataclass(frozen=True, slots=True)
class RequestView:
    id: str
    topic: str
    state: str
    created_at: UtcTime
    updated_at: UtcTime
    closed_at: UtcTime | None
    messages: list[MessageView]  # in the order they were written


def parse_topic(raw: str | None) -> str:
    if raw not in TOPICS:
        raise ValidationFailed("support.topic_invalid", field="topic", code="required" if not raw else "invalid")
    return raw


def parse_text(raw: str | None, *, field: str = "text", required_id: str = "support.text_required") -> str:
    """A request's or a reply's text: 1 to :data:`MAX_TEXT` characters after trimming, line breaks kept."""
    value = (raw or "").replace("\r\n", "\n").replace("\r", "\n").strip()
    if not value:
        raise ValidationFailed(required_id, field=field, code="required")
    if len(value) > MAX_TEXT:
        raise ValidationFailed("support.text_too_long", field=field, code="too_long", params={"max": MAX_TEXT})
    if any(ch in _BIDI or (unicodedata.category(ch) in _REFUSED and ch not in _KEPT_CONTROLS) for ch in value):
        raise ValidationFailed("support.text_invalid", field=field)
    return value


def not_found() -> NotFound:
    return NotFound("support.not_found")


def valid_id(request_id: str | None) -> bool:
    return bool(request_id) and len(request_id or "") <= 32 and (request_id or "").isalnum()


async def messages_of(s: AsyncSession, request_id: str) -> list[SupportMessage]:
    m = SupportMessage
    return list((await s.execute(select(m).where(m.request_id == request_id).order_by(m.seq))).scalars())


async def next_seq(s: AsyncSession, req: SupportRequest) -> int:
    """The number of the request's next message; a closed request or a full one takes none (409)."""
    if req.state == CLOSED:
        raise Conflict("support.closed", code="closed")
    last = (await s.execute(select(func.max(SupportMessage.seq)).where(SupportMessage.request_id == req.id))).scalar()
    if (last or 0) >= MAX_MESSAGES:
        raise Conflict("support.too_many_messages", code="too_many_messages", params={"max": MAX_MESSAGES})
    return (last or 0) + 1


def view_of(req: SupportRequest, messages: list[SupportMessage]) -> RequestView:
    return RequestView(req.id, req.topic, req.state, req.created_at, req.updated_at, req.closed_at,
                       [MessageView(m.author, m.text, m.created_at) for m in messages])


def add_message(s: AsyncSession, req: SupportRequest, seq: int, *, author: str, text: str, now: dt.datetime,
                operator_id: str | None = None) -> None:
    s.add(SupportMessage(id=random_id(), request_id=req.id, seq=seq, author=author, operator_id=operator_id,
                         text=text, created_at=now))


async def erase_support(s: AsyncSession, account_id: str, now: dt.datetime) -> None:
    """An ``Eraser`` for account deletion (SPEC §4.11): every text of the account's requests is emptied and the
    requests still open are closed, so they leave the operators' queue; the rows stay (topic, dates, states)."""
    r = SupportRequest
    ids = select(r.id).where(r.account_id == account_id).scalar_subquery()
    await s.execute(update(SupportMessage).where(SupportMessage.request_id.in_(ids)).values(text="")
                    .execution_options(synchronize_session=False))
    await s.execute(update(r).where(r.account_id == account_id, r.state != CLOSED)
                    .values(state=CLOSED, closed_at=now, closed_by="account_deleted", updated_at=now)
                    .execution_options(synchronize_session=False))
