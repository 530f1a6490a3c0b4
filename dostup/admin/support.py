"""The operators' side of support requests (SPEC §4.14: «answers support requests»; «every operator action is
audit-logged with who, when, why»).

* The queue: requests waiting for support (``open``), the longest-waiting first (``queued_at``: since the
  customer last wrote after an answer), 50 a page by keyset (``after`` = the previous page's ``next``).  It
  shows topics, times and account ids, no texts, and is not itself recorded.
* Reading one shows what the customer wrote, so it is audited with its reason, as the account card is.
* An answer is a message of the operator's; the request becomes ``answered`` and the customer is told by
  SMS or email through the outbox, in the same unit of work (and the courier woken), and reads it on the
  request's page.  Closing ends the conversation, and the customer is told so the same way.  Both notices
  are of the optional ``service`` kind: they go to the first confirmed channel the customer left on for it
  in «Настройка уведомлений», and to none when both are off (the answer still waits in the cabinet).  Both
  actions are audited with their reason.

An operator answers customers only, an administrator also operators, nobody themselves (as for every other
action: :mod:`dostup.admin.accounts`).  A closed request takes nothing more (409).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, fields

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dostup.accounts import support as S
from dostup.accounts.history import oldest_first
from dostup.accounts.support import RequestView
from dostup.admin.accounts import may_act_on
from dostup.admin.audit import entry
from dostup.admin.search import operator_reason
from dostup.core.clock import Clock, UtcTime
from dostup.core.context import Context
from dostup.core.errors import Conflict, Forbidden
from dostup.persistence.db import Database
from dostup.persistence.models import Account
from dostup.persistence.models_support import SupportRequest

PER_PAGE = 50

# a notice of an optional kind to the customer, in the caller's unit of work (it reads their preferences)
Notice = Callable[[AsyncSession, Account, str, Context, dt.datetime], Awaitable[None]]


@dataclass(frozen=True)
class QueuedRequest:
    id: str
    account_id: str
    topic: str
    created_at: UtcTime
    queued_at: UtcTime  # since when it waits for support


@dataclass(frozen=True)
class QueuePage:
    items: list[QueuedRequest]
    next: str | None  # the ``after`` of the next page; None at the end


@dataclass(frozen=True)
class StaffRequestView(RequestView):
    account_id: str = ""


def _staff_view(view: RequestView, account_id: str) -> StaffRequestView:
    return StaffRequestView(**{f.name: getattr(view, f.name) for f in fields(view)}, account_id=account_id)


class SupportQueue:
    def __init__(self, db: Database, clock: Clock, *, notify: Notice | None = None,
                 wake_courier: Callable[[], None] = lambda: None) -> None:
        self._db = db
        self._clock = clock
        self._notify = notify  # the answer's and the closing's notices, by the customer's preferences
        self._wake = wake_courier

    async def waiting(self, after: str | None) -> QueuePage:
        r = SupportRequest
        rows = select(r.id, r.account_id, r.topic, r.created_at, r.queued_at).where(r.state == S.OPEN)
        async with self._db.read() as s:
            shown, after = await oldest_first(s, rows, r.queued_at, r.id, after, PER_PAGE)
        return QueuePage([QueuedRequest(x.id, x.account_id, x.topic, x.created_at, x.queued_at) for x in shown], after)

    async def read(self, staff_id: str, request_id: str, reason: str | None, ctx: Context) -> StaffRequestView:
        why = operator_reason(reason)
        now = self._clock.now()
        async with self._db.write() as s:
            req = await s.get(SupportRequest, request_id) if S.valid_id(request_id) else None
            if req is None:
                raise S.not_found()
            view = S.view_of(req, await S.messages_of(s, req.id))
            s.add(entry(staff_id, "support_read", why, ctx, now, {"account": req.account_id, "request": req.id}))
        return _staff_view(view, req.account_id)

    async def answer(self, staff_id: str, staff_role: str, request_id: str, text: str | None, reason: str | None,
                     ctx: Context) -> StaffRequestView:
        why = operator_reason(reason)
        body = S.parse_text(text, required_id="support.answer_required")
        now = self._clock.now()
        async with self._db.write() as s:
            req, account = await self._target(staff_id, staff_role, request_id, s)
            seq = await S.next_seq(s, req)
            await self._move(s, req, to=S.ANSWERED, now=now)
            S.add_message(s, req, seq, author=S.OPERATOR, text=body, now=now, operator_id=staff_id)
            s.add(entry(staff_id, "support_answer", why, ctx, now, {"account": req.account_id, "request": req.id}))
            if self._notify is not None:
                await self._notify(s, account, "support_answered", ctx, now)
            await s.flush()
            await s.refresh(req)
            view = S.view_of(req, await S.messages_of(s, req.id))
        self._wake()
        return _staff_view(view, req.account_id)

    async def close(self, staff_id: str, staff_role: str, request_id: str, reason: str | None, ctx: Context) -> None:
        why = operator_reason(reason)
        now = self._clock.now()
        async with self._db.write() as s:
            req, account = await self._target(staff_id, staff_role, request_id, s)
            if req.state == S.CLOSED:
                raise Conflict("support.closed", code="closed")
            await self._move(s, req, to=S.CLOSED, now=now, closed_by=staff_id)
            s.add(entry(staff_id, "support_close", why, ctx, now, {"account": req.account_id, "request": req.id}))
            if self._notify is not None:
                await self._notify(s, account, "support_closed", ctx, now)
        self._wake()

    @staticmethod
    async def _target(staff_id: str, staff_role: str, request_id: str, s: AsyncSession) -> tuple[SupportRequest, Account]:
        req = await s.get(SupportRequest, request_id, with_for_update=True) if S.valid_id(request_id) else None
        if req is None:
            raise S.not_found()
        account = await s.get(Account, req.account_id)
        if account is None or not may_act_on(staff_id, staff_role, account):
            raise Forbidden("operator.not_allowed", code="not_allowed")
        return req, account

    @staticmethod
    async def _move(s: AsyncSession, req: SupportRequest, *, to: str, now: dt.datetime,
                    closed_by: str | None = None) -> None:
        values: dict[str, object] = {"state": to, "updated_at": now}
        if to == S.CLOSED:
            values.update(closed_at=now, closed_by=closed_by)
        moved = await s.execute(update(SupportRequest).where(SupportRequest.id == req.id,
                                                             SupportRequest.state == req.state)
                                .values(**values).execution_options(synchronize_session=False))
        if moved.rowcount != 1:  # type: ignore[attr-defined]
            raise Conflict("support.changed", code="conflict")

