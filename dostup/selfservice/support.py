"""«Обращения»: the customer writes to support, reads the answers and replies (SPEC §4.14; the kit seed's
«направьте обращение в службу поддержки на сайте»).  The pages and the JSON API call these same methods.

Limits (``DOSTUP_SUPPORT__*``): at most ``max_open`` requests not closed yet per account (409
``too_many_open``: the open ones are answered or closed first) and ``requests_per_day`` new ones in any 24
hours (429 with ``Retry-After``), counted from the account's own rows through its index — the rows are the
record, so the count holds across processes.  The account's row is locked while a request is written
(PostgreSQL; SQLite's write unit is serial), so two racing posts are counted in turn.  Every field is
checked before anything is written: a refused post leaves nothing behind.

Another account's request id answers 404 like an unknown one (SECURITY.md: bad input).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dostup.accounts import support as S
from dostup.accounts.history import DEFAULT_PER_PAGE, MAX_PER_PAGE, Page, newest_first
from dostup.accounts.support import RequestLine, RequestView
from dostup.core.clock import Clock
from dostup.core.context import Context
from dostup.core.crypto import random_id
from dostup.core.errors import Conflict, FormErrors, RateLimited, ValidationFailed
from dostup.persistence.db import Database
from dostup.persistence.models import Account
from dostup.persistence.models_support import SupportRequest

DAY = dt.timedelta(days=1)


def _parse_new(topic: str | None, text: str | None) -> tuple[str, str]:
    """The topic and the text, every problem reported at once (:class:`FormErrors`)."""
    errors: list[ValidationFailed] = []
    parsed: list[str] = []
    for parse, raw in ((S.parse_topic, topic), (S.parse_text, text)):
        try:
            parsed.append(parse(raw))
        except ValidationFailed as e:
            errors.append(e)
    if errors:
        raise FormErrors(errors) if len(errors) > 1 else errors[0]
    return parsed[0], parsed[1]


class SupportService:
    def __init__(self, *, db: Database, clock: Clock, max_open: int, per_day: int) -> None:
        self._db = db
        self._clock = clock
        self.max_open = max_open
        self.per_day = per_day

    async def list(self, account_id: str, *, before: str | None = None, after: str | None = None,
                   per_page: int = DEFAULT_PER_PAGE, clamp: bool = False) -> Page[RequestLine]:
        """The account's requests, newest first, by keyset pages (``before`` / ``after`` as in the histories)."""
        r = SupportRequest
        found, total, nxt, prev = await newest_first(self._db, r, (r.id, r.topic, r.state, r.created_at, r.updated_at),
                                                     account_id, before, after, per_page, clamp)
        items = [RequestLine(row.id, row.topic, row.state, row.created_at, row.updated_at) for row in found]
        return Page(items, min(max(per_page, 1), MAX_PER_PAGE), total, nxt, prev)

    async def view(self, account_id: str, request_id: str | None) -> RequestView:
        async with self._db.read() as s:
            req = await self._own(s, account_id, request_id)
            return S.view_of(req, await S.messages_of(s, req.id))

    async def create(self, account_id: str, topic: str | None, text: str | None, ctx: Context) -> RequestView:
        """A new request: the topic and the first message, in one unit of work after every check."""
        parsed = _parse_new(topic, text)
        now = self._clock.now()
        async with self._db.write() as s:
            await s.get(Account, account_id, with_for_update=True)  # racing posts are counted in turn
            await self._within_limits(s, account_id, now)
            req = SupportRequest(id=random_id(), account_id=account_id, topic=parsed[0], state=S.OPEN,
                                 created_at=now, updated_at=now, queued_at=now)
            s.add(req)
            await s.flush()  # the request before its message (the foreign key)
            S.add_message(s, req, 1, author=S.CUSTOMER, text=parsed[1], now=now)
            await s.flush()
            return S.view_of(req, await S.messages_of(s, req.id))

    async def reply(self, account_id: str, request_id: str | None, text: str | None, ctx: Context) -> RequestView:
        """The customer writes again: an answered request waits for support again (queued anew); an open one
        keeps its place in the queue.  A closed one takes no more (409 ``closed``)."""
        body = S.parse_text(text)
        now = self._clock.now()
        async with self._db.write() as s:
            req = await self._own(s, account_id, request_id, lock=True)
            seq = await S.next_seq(s, req)
            queued = now if req.state == S.ANSWERED else req.queued_at
            moved = await s.execute(update(SupportRequest)
                                    .where(SupportRequest.id == req.id, SupportRequest.state == req.state)
                                    .values(state=S.OPEN, updated_at=now, queued_at=queued)
                                    .execution_options(synchronize_session=False))
            if moved.rowcount != 1:  # type: ignore[attr-defined]
                raise Conflict("support.changed", code="conflict")
            S.add_message(s, req, seq, author=S.CUSTOMER, text=body, now=now)
            await s.flush()
            await s.refresh(req)
            return S.view_of(req, await S.messages_of(s, req.id))

    async def close(self, account_id: str, request_id: str | None, ctx: Context) -> RequestView:
        """«Закрыть обращение»: the customer's question is settled; the request leaves the queue and stops counting
        towards the open limit (409 ``closed`` when it is closed already)."""
        now = self._clock.now()
        async with self._db.write() as s:
            req = await self._own(s, account_id, request_id, lock=True)
            closed = await s.execute(update(SupportRequest)
                                     .where(SupportRequest.id == req.id, SupportRequest.state != S.CLOSED)
                                     .values(state=S.CLOSED, updated_at=now, closed_at=now, closed_by=account_id)
                                     .execution_options(synchronize_session=False))
            if closed.rowcount != 1:  # type: ignore[attr-defined]
                raise Conflict("support.closed", code="closed")
            await s.refresh(req)
            return S.view_of(req, await S.messages_of(s, req.id))

    @staticmethod
    async def _own(s: AsyncSession, account_id: str, request_id: str | None, *, lock: bool = False) -> SupportRequest:
        req = (await s.get(SupportRequest, request_id, with_for_update=lock)
               if request_id and S.valid_id(request_id) else None)
        if req is None or req.account_id != account_id:
            raise S.not_found()
        return req

    async def _within_limits(self, s: AsyncSession, account_id: str, now: dt.datetime) -> None:
        r = SupportRequest
        open_now = (await s.execute(select(func.count()).select_from(r).where(
            r.account_id == account_id, r.state != S.CLOSED))).scalar_one()
        if open_now >= self.max_open:
            raise Conflict("support.too_many_open", code="too_many_open", params={"max": self.max_open})
        made = (await s.execute(select(func.count(), func.min(r.created_at)).where(
            r.account_id == account_id, r.created_at > now - DAY))).one()
        if made[0] >= self.per_day:
            raise RateLimited(int((made[1] + DAY - now).total_seconds()) + 1, "support.too_many_today",
                              params={"count": self.per_day})
