"""The operators' review queue: the built-in verifier of the full profile (SPEC §4.8, §4.14: «review
verification requests»).

A request submitted with the ``operator`` verifier waits in ``verification_requests``; an operator lists
the waiting ones (oldest first, with the data to compare against the documents) and approves or rejects
each with a reason.  Listing shows passport and SNILS data, so it is audited like the account card
(SECURITY.md: every operator view of them is audited), and so is each answer, in the unit of work that
records it.  The request keeps the passport sealed (:mod:`dostup.core.passport`): the listing opens it (a
request written before it was sealed is shown as it is).  A rejection's reason is what the customer is told.
The same operators confirm identity in person (:meth:`VerificationQueue.confirm_identity`: «Стандартная» →
«Подтверждённая»).  An operator answers customers' requests only — never their own — as for the other actions
(:mod:`dostup.admin.accounts`).

The answer itself (the level, the event, the notice) is the verification flow's; the composition root
passes it in (``answer``), as admin does not import the flows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dostup.accounts.events import record_event
from dostup.accounts.history import oldest_first
from dostup.accounts.levels import CONFIRMED, STANDARD, cancel_pending
from dostup.admin.accounts import Notice, may_act_on
from dostup.admin.audit import entry
from dostup.admin.search import operator_reason
from dostup.core.clock import Clock, UtcTime
from dostup.core.context import Context
from dostup.core.errors import Conflict, Forbidden, NotFound
from dostup.core.passport import PassportSealer
from dostup.persistence.db import Database
from dostup.persistence.models import Account
from dostup.persistence.models_levels import IdentityProfile, VerificationRequest

PER_PAGE = 50


class Answer(Protocol):
    async def __call__(self, s: AsyncSession, request_id: str, *, approved: bool, reason: str | None, by: str,
                       ctx: Context, now: dt.datetime) -> Any: ...


@dataclass(frozen=True)
class PendingRequest:
    id: str
    account_id: str
    phone: str | None
    email: str | None
    submitted_at: UtcTime
    data: dict[str, object]  # the full profile as sent: names, gender, birth, citizenship, passport, SNILS


@dataclass(frozen=True)
class PendingPage:
    items: list[PendingRequest]
    next: str | None  # the ``before`` of the next (newer) page; None at the end


class VerificationQueue:
    def __init__(self, db: Database, clock: Clock, answer: Answer, wake_courier: Callable[[], None],
                 notify: Notice | None = None, *, passports: PassportSealer, enabled: bool = True) -> None:
        self._passports = passports  # a waiting request keeps the passport sealed (dostup.core.passport)
        self._notify = notify  # a notice to the customer's confirmed phone or email
        self._enabled = enabled  # levels are on (as the customers' side): otherwise every call is 404
        self._db = db
        self._clock = clock
        self._answer = answer
        self._wake = wake_courier

    def _on(self) -> None:
        if not self._enabled:
            raise NotFound()

    async def pending(self, staff_id: str, reason: str | None, after: str | None, ctx: Context) -> PendingPage:
        self._on()
        why = operator_reason(reason)
        now = self._clock.now()
        r = VerificationRequest
        rows = (select(r.id, r.account_id, r.created_at, r.data, Account.phone, Account.email)
                .join(Account, Account.id == r.account_id)
                .where(r.state == "submitted", r.verifier == "operator"))
        async with self._db.write() as s:
            shown, after = await oldest_first(s, rows, r.created_at, r.id, after, PER_PAGE)
            s.add(entry(staff_id, "verification_queue", why, ctx, now, {"requests": [row.id for row in shown]}))
        items = [PendingRequest(row.id, row.account_id, row.phone, row.email, row.created_at,
                                self._passports.open_within(row.data or {})) for row in shown]
        return PendingPage(items, after)

    async def confirm_identity(self, staff_id: str, staff_role: str, account_id: str, reason: str | None,
                               ctx: Context) -> None:
        """«Подтверждённая учётная запись» in a service centre: the customer showed the passport and SNILS, and
        the operator compared them with the checked profile («Их сверят с теми сведениями, которые вы указали
        при создании стандартной учётной записи»).  Only a «Стандартная» account can be confirmed (409
        otherwise: nothing checked to compare with, or confirmed already)."""
        self._on()
        why = operator_reason(reason)
        now = self._clock.now()
        async with self._db.write() as s:
            account = await s.get(Account, account_id) if 0 < len(account_id) <= 32 else None
            if account is None or account.state == "deleted":
                raise NotFound("operator.account_not_found")
            if not may_act_on(staff_id, staff_role, account):
                raise Forbidden("operator.not_allowed", code="not_allowed")
            done = await s.execute(update(IdentityProfile).where(IdentityProfile.account_id == account_id,
                                                                 IdentityProfile.level == STANDARD)
                                   .values(level=CONFIRMED, level_changed_at=now, updated_at=now)
                                   .execution_options(synchronize_session=False))
            if done.rowcount != 1:  # type: ignore[attr-defined]
                raise Conflict("verification.not_standard", code="not_standard")
            await cancel_pending(s, account_id, now)  # a letter still waiting with its code is not needed now
            record_event(s, kind="identity_confirmed", outcome="success", ctx=ctx, now=now, account_id=account_id)
            s.add(entry(staff_id, "confirm_identity", why, ctx, now, {"account": account_id}))
            if self._notify is not None:
                self._notify(s, account, "identity_confirmed", ctx, now)
        self._wake()

    async def decide(self, staff_id: str, staff_role: str, request_id: str, *, approved: bool, reason: str | None,
                     ctx: Context) -> None:
        self._on()
        why = operator_reason(reason)
        now = self._clock.now()
        async with self._db.write() as s:
            req = await s.get(VerificationRequest, request_id) if 0 < len(request_id) <= 32 else None
            if req is None or req.verifier != "operator":
                raise NotFound("verification.not_found")
            account = await s.get(Account, req.account_id)
            if account is None or not may_act_on(staff_id, staff_role, account):
                raise Forbidden("operator.not_allowed", code="not_allowed")
            await self._answer(s, request_id, approved=approved, reason=why, by=staff_id, ctx=ctx, now=now)
            s.add(entry(staff_id, "verification_approve" if approved else "verification_reject", why, ctx, now,
                              {"account": req.account_id, "request": request_id}))
        self._wake()

