"""The operators' print queue of registered letters (SPEC §4.14: «print queue for letter codes»; §4.8).

A customer's letter (:mod:`dostup.accounts.letters`) waits here until an operator prints it: the list shows
each letter's address, the customer's name and the code — the one place a code's text is ever read — so
every view is audited with the letters it showed, in the unit of work that read them.  Marking a batch
printed erases the codes' text (only their hashes stay) and starts nothing else: the customer enters the
code when the letter arrives.  Staff bearer of a two-factor sign-in and a reason, as for the review queue
(:mod:`dostup.admin.verifications`).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from dostup.accounts import letters as Lt
from dostup.accounts.history import oldest_first
from dostup.admin.audit import entry
from dostup.admin.search import operator_reason
from dostup.core.clock import Clock, UtcTime
from dostup.core.context import Context
from dostup.core.errors import NotFound, ValidationFailed
from dostup.persistence.db import Database
from dostup.persistence.models import Account
from dostup.persistence.models_levels import VerificationRequest

PER_PAGE = 50
MAX_BATCH = 200


@dataclass(frozen=True)
class LetterToPrint:
    id: str
    account_id: str
    family_name: str | None
    given_name: str | None
    middle_name: str | None
    address: dict[str, object]  # postcode, region, city, street, house, flat
    code: str
    ordered_at: UtcTime


@dataclass(frozen=True)
class PrintPage:
    items: list[LetterToPrint]
    next: str | None  # the ``after`` of the next page; None at the end


@dataclass(frozen=True)
class Printed:
    printed: list[str]  # the letters marked now
    skipped: list[str]  # unknown, printed already, or no longer waiting (cancelled or expired meanwhile)


class PrintQueue:
    def __init__(self, db: Database, clock: Clock, codes: Lt.LetterCodes, *, enabled: bool = True) -> None:
        self._db = db
        self._clock = clock
        self._codes = codes
        self._enabled = enabled  # levels on; otherwise there are no letters and the queue is 404

    def _on(self) -> None:
        if not self._enabled:
            raise NotFound()

    async def waiting(self, staff_id: str, reason: str | None, after: str | None, ctx: Context) -> PrintPage:
        """The letters waiting to be printed, oldest first, 50 a page; the view (which letters, hence which codes)
        is audited.

        One keyset query through ``(queued_at, id, expires_at)``: a letter has ``queued_at`` only while it waits to be
        printed (printing, cancelling or ending it clears it), and one past its expiry is left out here, in
        SQL, until housekeeping ends it."""
        self._on()
        why = operator_reason(reason)
        now = self._clock.now()
        r = VerificationRequest
        rows = (select(r.id, r.account_id, r.data, r.queued_at, Account.family_name, Account.given_name,
                       Account.middle_name)
                .join(Account, Account.id == r.account_id)
                # ``queued_at`` is there only while the letter is ``submitted`` and not printed: no ``state`` here,
                # which would lead the planner to the expiry's index and a sort
                .where(r.queued_at.is_not(None), r.expires_at > now, r.verifier == Lt.VERIFIER))
        async with self._db.write() as s:
            shown, nxt = await oldest_first(s, rows, r.queued_at, r.id, after, PER_PAGE)
            s.add(entry(staff_id, "letter_queue", why, ctx, now, {"letters": [row.id for row in shown]}))
        items = [LetterToPrint(row.id, row.account_id, row.family_name, row.given_name, row.middle_name,
                               Lt.address_of(row.data), self._codes.text(row.data) or "", row.queued_at)
                 for row in shown]
        return PrintPage(items, nxt)

    async def mark_printed(self, staff_id: str, ids: list[str], reason: str | None, ctx: Context) -> Printed:
        """The batch is printed: each waiting letter's code text erased, ``printed_at`` set (an id already
        printed, cancelled or unknown is skipped and named)."""
        self._on()
        why = operator_reason(reason)
        if not ids or len(ids) > MAX_BATCH:
            raise ValidationFailed("letter.batch_size", field="ids", params={"max": MAX_BATCH})
        now = self._clock.now()
        done: list[str] = []
        skipped: list[str] = []
        async with self._db.write() as s:
            wanted = sorted({i for i in ids if 0 < len(i) <= 32})
            found = {req.id: req for req in (await s.execute(
                select(VerificationRequest).where(VerificationRequest.id.in_(wanted))
                .order_by(VerificationRequest.id).with_for_update())).scalars()}
            for request_id in dict.fromkeys(ids):
                req = found.get(request_id)
                if (req is None or req.verifier != Lt.VERIFIER or req.state != "submitted"
                        or req.data.get("printed_at") or "code_sealed" not in req.data or not Lt.live(req, now)):
                    skipped.append(request_id)
                    continue
                req.data = Lt.without_code_text(req.data, printed_at=now.isoformat())
                req.updated_at, req.queued_at = now, None
                done.append(request_id)
            s.add(entry(staff_id, "letters_printed", why, ctx, now,
                                           {"letters": done, "skipped": skipped}))
        return Printed(done, skipped)

