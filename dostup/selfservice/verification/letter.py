"""«Подтверждённая учётная запись» by a code sent in a registered letter (SPEC §4.8; the gosuslugi seed:
«закажите код подтверждения через «Почту России» … нужно указать адрес, на который будет отправлено письмо …
После получения кода необходимо ввести его в специальном поле»).

* :meth:`LetterService.order` — a «Стандартная» account gives the postal address; a ``submitted`` letter
  request with a fresh code (:mod:`dostup.accounts.letters`) joins the operators' print queue
  (:mod:`dostup.admin.letters`).  At most one letter waits per account: the account's row is locked for
  the check (PostgreSQL; SQLite's write unit is serial), so two orders racing make one letter.
* :meth:`LetterService.cancel` — a letter not printed yet is withdrawn by its customer.
* :meth:`LetterService.enter_code` — the code from the letter.  The request's row is locked
  (``SELECT … FOR UPDATE``; SQLite's write unit is serial) while the try is counted and compared, so
  parallel tries are each counted and of parallel right codes exactly one is taken; the wrong try's count
  is committed before the error is raised (a raise inside the unit would roll it back).  The fifth wrong
  try ends the letter even if a sixth would be right (SECURITY.md, one-time codes); the right one makes the
  account «Подтверждённая» and the customer is told by SMS or email through the outbox.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dostup.accounts import letters as Lt
from dostup.accounts import levels as L
from dostup.accounts.events import record_event
from dostup.core.clock import Clock, UtcTime
from dostup.core.context import Context
from dostup.core.crypto import random_id
from dostup.core.errors import Conflict, NotFound, ValidationFailed
from dostup.persistence.db import Database
from dostup.persistence.models import Account
from dostup.persistence.models_levels import IdentityProfile, VerificationRequest
from dostup.selfservice.notices import AccountNotice as Notice
from dostup.selfservice.verification import flow


@dataclass(frozen=True, slots=True)
class Letter:
    id: str
    # printing (in the operators' queue; may be cancelled), sent (enter the code), confirmed, expired,
    # exhausted (5 wrong tries), cancelled (by the customer, or a checked field changed)
    state: str
    address: dict[str, object]
    ordered_at: UtcTime
    printed_at: UtcTime | None
    expires_at: UtcTime
    tries_left: int


@dataclass(frozen=True, slots=True)
class LetterView:
    """The account's latest letter as its owner sees it (``letter`` None: never ordered)."""

    level: str  # the account's level (dostup.accounts.levels.LEVELS)
    may_order: bool  # «Стандартная» and no letter waiting
    letter: Letter | None = None


def _letter(req: VerificationRequest, now: dt.datetime) -> Letter:
    data: Mapping[str, Any] = req.data or {}
    expires = req.expires_at or req.created_at
    printed = dt.datetime.fromisoformat(str(data["printed_at"])) if data.get("printed_at") else None
    if req.state == flow.APPROVED:
        state = "confirmed"
    elif req.state == flow.SUBMITTED:
        state = "expired" if expires <= now else ("sent" if printed else "printing")
    else:
        state = {Lt.ENDED_EXHAUSTED: "exhausted", Lt.ENDED_EXPIRED: "expired"}.get(req.answer or "", "cancelled")
    return Letter(req.id, state, Lt.address_of(data), req.created_at, printed, expires,
                  max(Lt.MAX_TRIES - Lt.tries(data), 0))


class LetterService:
    def __init__(self, *, db: Database, clock: Clock, codes: Lt.LetterCodes, notify: Notice,
                 wake_courier: Callable[[], None], enabled: bool, code_days: int) -> None:
        self._db = db
        self._clock = clock
        self._codes = codes
        self._notify = notify  # «Подтверждённая»: a notice to the customer's confirmed phone or email
        self._wake = wake_courier
        self.enabled = enabled  # levels on (gosuslugi); otherwise every use-case is 404
        self._ttl = dt.timedelta(days=code_days)

    def _on(self) -> None:
        if not self.enabled:
            raise NotFound()

    async def view(self, account_id: str) -> LetterView:
        self._on()
        async with self._db.read() as s:
            return await self._view(s, account_id)

    async def _view(self, s: AsyncSession, account_id: str) -> LetterView:
        now = self._clock.now()
        level = await L.stored_level(s, account_id)
        latest = await self._latest(s, account_id)
        letter = _letter(latest, now) if latest is not None else None
        waiting = letter is not None and letter.state in ("printing", "sent")
        return LetterView(L.level_name(level), level == L.STANDARD and not waiting, letter)

    @staticmethod
    async def _latest(s: AsyncSession, account_id: str, *, lock: bool = False) -> VerificationRequest | None:
        r = VerificationRequest
        q = (select(r).where(r.account_id == account_id, r.verifier == Lt.VERIFIER)
             # at one instant (a frozen clock, a coarse one) the waiting letter is the latest
             .order_by(r.created_at.desc(), case((r.state == flow.SUBMITTED, 0), else_=1), r.id.desc()).limit(1))
        return (await s.execute(q.with_for_update() if lock else q)).scalar_one_or_none()

    async def order(self, account_id: str, raw: Mapping[str, object], ctx: Context) -> LetterView:
        """Order the letter to ``raw``'s address (every part checked before anything is written)."""
        self._on()
        address = Lt.parse_address(raw)
        now = self._clock.now()
        async with self._db.write() as s:
            await s.get(Account, account_id, with_for_update=True)  # two orders racing: one after the other
            if await L.stored_level(s, account_id) != L.STANDARD:
                raise Conflict("letter.not_standard", code="not_standard")
            latest = await self._latest(s, account_id)
            if latest is not None and latest.state == flow.SUBMITTED:
                if Lt.live(latest, now):
                    raise Conflict("letter.already_ordered", code="letter_waiting")
                self._end(latest, Lt.ENDED_EXPIRED, now)
            request_id = random_id()
            code_hash, sealed = self._codes.new(request_id)
            s.add(VerificationRequest(
                id=request_id, account_id=account_id, level=L.CONFIRMED, state=flow.SUBMITTED, verifier=Lt.VERIFIER,
                data={"address": address.as_data(), "code_hash": code_hash, "code_sealed": sealed, "tries": 0,
                      "printed_at": None},
                created_at=now, updated_at=now, expires_at=now + self._ttl, queued_at=now))
            record_event(s, kind="letter_ordered", outcome="success", ctx=ctx, now=now, account_id=account_id)
            await s.flush()
            return await self._view(s, account_id)

    async def cancel(self, account_id: str, ctx: Context) -> LetterView:
        """Withdraw a letter still in the print queue (409 once printed: the code is on its way)."""
        self._on()
        now = self._clock.now()
        async with self._db.write() as s:
            latest = await self._latest(s, account_id, lock=True)
            if latest is None or latest.state != flow.SUBMITTED:
                raise NotFound("letter.none")
            if latest.data.get("printed_at"):
                raise Conflict("letter.already_printed", code="letter_printed")
            self._end(latest, Lt.ENDED_BY_CUSTOMER, now)
            record_event(s, kind="letter_cancelled", outcome="success", ctx=ctx, now=now, account_id=account_id)
            await s.flush()
            return await self._view(s, account_id)

    @staticmethod
    def _end(req: VerificationRequest, why: str, now: dt.datetime) -> None:
        req.state, req.answer, req.answered_at, req.updated_at = flow.CANCELLED, why, now, now
        req.data, req.queued_at = Lt.without_code_text(req.data), None

    async def enter_code(self, account_id: str, code: str | None, ctx: Context) -> LetterView:
        """The code from the letter: right → «Подтверждённая»; wrong → 422 with the tries left; the letter
        expired, ended or used → a message saying so."""
        self._on()
        value = "".join((code or "").split())
        if not value:
            raise ValidationFailed("letter.code_required", field="code", code="required")
        if not value.isascii() or not value.isdigit() or len(value) != Lt.CODE_LENGTH:
            raise ValidationFailed("letter.code_format", field="code", params={"length": Lt.CODE_LENGTH})
        now = self._clock.now()
        async with self._db.write() as s:
            outcome, left = await self._try(s, account_id, value, ctx, now)
            view = await self._view(s, account_id) if outcome == "ok" else None
        if view is None:  # the try is committed; now say what was wrong
            raise _refusal(outcome, left)
        self._wake()
        return view

    async def _try(self, s: AsyncSession, account_id: str, value: str, ctx: Context,
                   now: dt.datetime) -> tuple[str, int]:
        req = await self._latest(s, account_id, lock=True)
        if req is None:
            return "none", 0
        if req.state == flow.APPROVED:
            return "used", 0
        if req.state != flow.SUBMITTED:
            return {Lt.ENDED_EXHAUSTED: "exhausted", Lt.ENDED_EXPIRED: "expired"}.get(req.answer or "", "cancelled"), 0
        if not req.data.get("printed_at"):
            return "not_printed", 0
        if not Lt.live(req, now):
            self._end(req, Lt.ENDED_EXPIRED, now)
            return "expired", 0
        tries = Lt.tries(req.data) + 1
        if not self._codes.matches(req.data, req.id, value):
            req.data = {**req.data, "tries": tries}
            req.updated_at = now
            if tries >= Lt.MAX_TRIES:
                self._end(req, Lt.ENDED_EXHAUSTED, now)
            record_event(s, kind="letter_code", outcome="failure", ctx=ctx, now=now, account_id=account_id)
            return ("exhausted" if tries >= Lt.MAX_TRIES else "wrong"), Lt.MAX_TRIES - tries
        done = await s.execute(update(VerificationRequest)
                               .where(VerificationRequest.id == req.id, VerificationRequest.state == flow.SUBMITTED)
                               .values(state=flow.APPROVED, answered_by="letter", answered_at=now, updated_at=now,
                                       data={**req.data, "tries": tries})
                               .execution_options(synchronize_session=False))
        if done.rowcount != 1:  # type: ignore[attr-defined]
            return "used", 0
        profile = await s.get(IdentityProfile, account_id)
        if profile is not None and profile.level < L.CONFIRMED:
            profile.level, profile.level_changed_at, profile.updated_at = L.CONFIRMED, now, now
        record_event(s, kind="letter_confirmed", outcome="success", ctx=ctx, now=now, account_id=account_id)
        account = await s.get(Account, account_id)
        if account is not None and account.state == "active":
            self._notify(s, account, "identity_confirmed_letter", ctx, now)
        await s.flush()
        s.expire_all()
        return "ok", 0


def _refusal(outcome: str, left: int) -> Exception:
    if outcome == "wrong":
        return ValidationFailed("letter.code_wrong", field="code", code="code_invalid", params={"left": left})
    if outcome == "exhausted":
        return ValidationFailed("letter.code_exhausted", field="code", code="code_exhausted")
    if outcome == "expired":
        return ValidationFailed("letter.code_expired", field="code", code="code_expired")
    if outcome == "none":
        return NotFound("letter.none")
    message = {"used": "letter.used", "not_printed": "letter.not_printed"}.get(outcome, "letter.cancelled")
    return Conflict(message, code="letter_" + outcome)  # used, cancelled, not_printed
