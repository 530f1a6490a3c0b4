"""Housekeeping: delete the rows whose time is over, a small batch at a time.

Every sign-in adds a ``sessions`` row, every code a ``codes`` row, every partner's sign-in an OIDC
code and tokens; none of them is read once it has expired (each reader checks the expiry itself),
so without this job the tables would only grow.  What goes, and when (the settings are
``DOSTUP_HOUSEKEEPING__*``, :class:`Retention` here):

* ``flows``, ``codes``, ``counters``, ``spent_challenges``, ``oidc_codes``, ``oidc_tokens``:
  ``grace`` after ``expires_at`` (1 h).  The grace covers clocks of other hosts, lets a late answer
  to a flow still read «срок истёк» rather than «не найден», and keeps a used OIDC code long enough
  that its replay still revokes what it issued (RFC 6749 §4.1.2; the code lives 60 s) — and an
  OIDC code stays as long as its grant (written with it, under its id), whose partner signing out
  tells only if the code was exchanged;
* ``sessions``: ``ended_sessions`` after the session ended — its absolute expiry, or its
  revocation (sign-out, «Завершить сеанс», rotation, a password change).  A live session is never
  touched: it is neither revoked nor past ``expires_at``.  Nothing reads an ended session's row
  (the active-sessions list shows live ones; the security history is ``security_events``; the OIDC
  back-channel logout is sent when the session ends, from the grants' own ``session_id``);
* ``security_events`` (the user's security history): only when ``security_events`` is set; by
  default it is kept for ever.

* ``oidc_grants`` (written with each code at a partner's authorization): ``grace`` after the
  lifetime of their code and of the access tokens of its exchange (2 h), once no token row of
  theirs is left (refresh tokens and revoked access tokens go first, above) and their session has
  ended, so that signing out still reaches the partner (back-channel logout).

* ``support_requests`` with their ``support_messages``: ``support_requests`` (3 years) after they were
  closed — by the customer, an operator, or the account's deletion (which empties their texts at once).  A
  batch is ``batch_size // 100`` requests (a request holds at most 100 messages) whose messages and then
  themselves go in one transaction, so no request is ever left without its first message.

Not deleted but ended: a registered letter (``verification_requests``, verifier ``letter``) left past its
expiry becomes what the customer's next order or code would make it — ``cancelled`` with the answer
``code_expired``, its sealed code's text erased (only the hash stays; ``dostup.accounts.letters``) and out of
the print queue — ``batch_size`` letters a transaction, through ``(state, expires_at)``.  Its count is reported
under ``verification_requests``.

Not deleted but sealed: a passport still in clear from before it was sealed — a profile's old columns, a waiting
check's copy of the person — moves into its sealed form (:mod:`dostup.persistence.reseal`, given the seals by the
process that runs the job), ``batch_size`` rows a transaction; reported as ``identity_profiles_sealed`` and
``verification_requests_sealed``.

Not purged: accounts (a deleted one is a tombstone), consents and operator actions (records kept
by law and for audit), the outbox (the notification history), OIDC consents and keys,
devices, credentials, companies, contracts, verification requests (the record of what was checked).

Each statement deletes at most ``batch_size`` rows, found through an index on the column it
deletes by (``tests/flows/test_query_plans.py`` explains them), in its own short write
transaction, with a pause between batches: on SQLite the write lock is held for milliseconds and
the sign-ins waiting for it get it between batches; the deletes run in aiosqlite's thread, not
on the event loop.  Deleting is idempotent, so any number of workers on any number of hosts may
run the job at once.  On PostgreSQL a batch locks its rows with ``FOR UPDATE SKIP LOCKED``: two
workers delete different rows instead of one waiting for the other's, and a row a request is
writing just then is left for the next run (see :func:`delete_statement`).

``spent_challenges`` has no index on ``expires_at`` on purpose (its rows are one b-tree, so a
passkey sign-in's commit writes one page for it, ``tests/flows/test_write_pages.py``): its delete
reads the whole table, which holds only the last few minutes of passkey sign-ins — one answer in
256 already deletes what expired (``selfservice/login/ceremony.py``); this job catches the rest
when sign-ins are few.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    JSON,
    ColumnElement,
    CursorResult,
    DateTime,
    Delete,
    Integer,
    Select,
    Table,
    Update,
    bindparam,
    cast,
    delete,
    exists,
    func,
    literal_column,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB

from dostup.persistence import models_oidc  # noqa: F401 - registers the OIDC tables in the metadata
from dostup.persistence.db import Database
from dostup.persistence.models import Base
from dostup.persistence.models_levels import VerificationRequest
from dostup.persistence.models_support import MAX_MESSAGES, SupportMessage, SupportRequest
from dostup.persistence.reseal import Reseal

log = logging.getLogger(__name__)

Now = Callable[[], dt.datetime]
"""The time, naive UTC (``Clock.now``; persistence imports nothing of ``dostup.core``)."""


@dataclass(frozen=True, slots=True)
class Retention:
    """How long rows stay past their time (``HousekeepingSettings``, in plain values)."""

    grace: dt.timedelta = dt.timedelta(hours=1)
    ended_sessions: dt.timedelta = dt.timedelta(days=1)
    security_events: dt.timedelta | None = None  # None: kept for ever
    support_requests: dt.timedelta = dt.timedelta(days=3 * 365)  # after they were closed
    batch_size: int = 1000
    pause_seconds: float = 0.05


@dataclass(frozen=True, slots=True)
class _Target:
    """Rows of ``table`` whose ``column`` is before ``now - keep(retention)`` (``None``: none go),
    and for which every condition of ``also(table)`` holds (``:now`` is the pass's time)."""

    table: str
    column: str
    keep: Callable[[Retention], dt.timedelta | None]
    also: Callable[[Table], list[ColumnElement[bool]]] | None = None


def _grace(r: Retention) -> dt.timedelta:
    return r.grace


def _ended(r: Retention) -> dt.timedelta:
    return r.ended_sessions


def _events(r: Retention) -> dt.timedelta | None:
    return r.security_events


# A grant outlives its code (≤ 10 min) and the access tokens of its exchange (≤ 1 h, which have
# no rows): it goes ``grace`` after those, once it has no token row left (a refresh token, or
# an access token revoked on its own) and its session has ended — until then signing out must
# still reach its partner (back-channel logout reads the session's grants).
_GRANT_LIFE = dt.timedelta(hours=2)


def _grants(r: Retention) -> dt.timedelta:
    return r.grace + _GRANT_LIFE


def _code_is_done(codes: Table) -> list[ColumnElement[bool]]:
    """A code stays while its grant does: its ``used_at`` says whether the grant's partner was
    handed tokens, which signing out reads (``GrantStore.end_session``)."""
    grants = Base.metadata.tables["oidc_grants"]
    return [~exists().where(grants.c.id == codes.c.id)]


def _grant_is_done(grants: Table) -> list[ColumnElement[bool]]:
    tokens, sessions = Base.metadata.tables["oidc_tokens"], Base.metadata.tables["sessions"]
    now = bindparam("now", type_=DateTime())
    return [~exists().where(tokens.c.grant_id == grants.c.id),
            ~exists().where(sessions.c.id == grants.c.session_id, sessions.c.revoked_at.is_(None),
                            sessions.c.expires_at > now)]


TARGETS: tuple[_Target, ...] = (
    _Target("flows", "expires_at", _grace),
    _Target("codes", "expires_at", _grace),
    _Target("counters", "expires_at", _grace),
    _Target("spent_challenges", "expires_at", _grace),
    _Target("oidc_codes", "expires_at", _grace, _code_is_done),  # once its grant is gone
    _Target("oidc_tokens", "expires_at", _grace),
    _Target("oidc_grants", "created_at", _grants, _grant_is_done),  # after its tokens' rows
    _Target("sessions", "expires_at", _ended),
    _Target("sessions", "revoked_at", _ended),  # the partial index ix_sessions_revoked_at
    _Target("security_events", "created_at", _events),
)
"""In this order; the counts are reported per table (a table's targets add up)."""


def delete_statement(target: _Target, *, postgresql: bool) -> Delete:
    """``DELETE`` of at most ``:limit`` rows whose time is before ``:before``.

    SQLite: ``DELETE FROM t WHERE rowid IN (SELECT rowid FROM t WHERE col < :before LIMIT :limit)``,
    the rows found by the time's index (the primary key instead of ``rowid`` in a ``WITHOUT ROWID``
    table).  PostgreSQL: ``… WHERE ctid IN (SELECT ctid … LIMIT :limit FOR UPDATE SKIP LOCKED)``:
    the subquery locks its rows, so workers running at once split them, and the rows are then
    reached by their physical address (a TID scan; a locked row cannot move before this statement
    deletes it).  ``IN``, not ``= ANY(ARRAY(…))``: the planner
    then knows how many rows the subquery gives (for an array it assumes ten, and a small table
    would be read whole instead).
    """
    table: Table = Base.metadata.tables[target.table]
    column = table.c[target.column]
    before, limit = bindparam("before", type_=DateTime()), bindparam("limit", type_=Integer())
    due = [column < before, *(target.also(table) if target.also else ())]
    key: ColumnElement[Any]
    if postgresql:
        key = literal_column("ctid")
        picked = select(key).select_from(table).where(*due).limit(limit).with_for_update(skip_locked=True)
    else:
        (key,) = table.primary_key.columns
        if table.dialect_options["sqlite"]["with_rowid"] is not False:
            key = literal_column("rowid")  # what the time's index holds: no look-up by primary key
        picked = select(key).select_from(table).where(*due).limit(limit)
    return delete(table).where(key.in_(picked.scalar_subquery()))


# -- registered letters past their expiry (dostup.accounts.letters: the names below are its) ----------------

LETTER, SUBMITTED, ENDED, ENDED_EXPIRED = "letter", "submitted", "cancelled", "code_expired"
SEALED_CODE = "code_sealed"  # the key of the code's sealed text in a letter's ``data``


def end_letters_statement(*, postgresql: bool) -> Update:
    """``UPDATE`` of at most ``:limit`` letters still ``submitted`` whose ``expires_at`` is before ``:now``: ended
    as expired, the sealed code's text removed from ``data`` in SQL (PostgreSQL ``jsonb - key``, SQLite
    ``json_remove``), out of the print queue.  On PostgreSQL the letters are picked ``FOR UPDATE SKIP LOCKED``:
    a letter whose code is being entered just then (its row locked) is left for the next run."""
    r = VerificationRequest
    now, limit = bindparam("now", type_=DateTime()), bindparam("limit", type_=Integer())
    picked = select(r.id).where(r.state == SUBMITTED, r.expires_at < now, r.verifier == LETTER).limit(limit)
    data: ColumnElement[Any]
    if postgresql:
        picked = picked.with_for_update(skip_locked=True)
        data = cast(cast(r.data, JSONB).op("-")(literal_column(f"'{SEALED_CODE}'::text")), JSON)
    else:
        data = func.json_remove(r.data, literal_column(f"'$.{SEALED_CODE}'"))
    return (update(r).where(r.id.in_(picked.scalar_subquery()))
            .values(state=ENDED, answer=ENDED_EXPIRED, answered_at=now, updated_at=now, queued_at=None, data=data)
            .execution_options(synchronize_session=False))


def closed_requests_statement(*, postgresql: bool) -> Select[Any]:
    """The ids of at most ``:limit`` support requests closed before ``:before`` (PostgreSQL: locked, skipping
    those another worker holds)."""
    r = SupportRequest
    before, limit = bindparam("before", type_=DateTime()), bindparam("limit", type_=Integer())
    picked = select(r.id).where(r.state == "closed", r.closed_at < before).limit(limit)
    return picked.with_for_update(skip_locked=True) if postgresql else picked


class Housekeeping:
    """Deletes what :data:`TARGETS` says, in batches, then the support requests past their retention, and ends
    the expired letters, and seals what :class:`Reseal` finds in clear; :meth:`run_forever` every ``interval``."""

    def __init__(self, db: Database, now: Now, retention: Retention, reseal: Reseal | None = None) -> None:
        self._db = db
        self._now = now
        self.retention = retention
        self._reseal = reseal  # None: no instance key here (a test's second job), nothing sealed
        postgresql = not db.is_sqlite
        self._statements = [(t, delete_statement(t, postgresql=postgresql)) for t in TARGETS]
        self._end_letters = end_letters_statement(postgresql=postgresql)
        self._closed_requests = closed_requests_statement(postgresql=postgresql)

    async def purge(self) -> dict[str, int]:
        """One pass over every table: the rows deleted per table (0 where nothing was due).

        The cut-offs are taken once, at the start, so the pass ends however fast rows expire."""
        now = self._now()
        counts: dict[str, int] = {}
        for target, stmt in self._statements:
            counts.setdefault(target.table, 0)
            keep = target.keep(self.retention)
            if keep is None:
                continue
            counts[target.table] += await self._batches(stmt, {"before": now - keep, "now": now})
        counts["verification_requests"] = await self._batches(self._end_letters, {"now": now})
        counts.update(await self._delete_support(now - self.retention.support_requests))
        if self._reseal is not None:
            counts.update(await self._reseal.run())
        return counts

    async def _batches(self, stmt: Delete | Update, values: dict[str, object]) -> int:
        """``stmt`` (deleting or changing at most ``:limit`` rows) in its own short transaction, again while it
        takes a whole batch (on PostgreSQL a short one may also mean: the rest is another worker's), with
        a pause between, so the write lock is free for others a while."""
        size = self.retention.batch_size
        total = 0
        while True:
            async with self._db.write() as s:
                result = await s.execute(stmt, {**values, "limit": size})
            assert isinstance(result, CursorResult)  # a DELETE's or an UPDATE's
            total += result.rowcount
            if result.rowcount < size:
                return total
            await asyncio.sleep(self.retention.pause_seconds)

    async def _delete_support(self, before: dt.datetime) -> dict[str, int]:
        """Closed support requests older than ``before``, a few at a time, each batch's messages first."""
        size = max(1, self.retention.batch_size // MAX_MESSAGES)  # at most batch_size messages a transaction
        counts = {"support_messages": 0, "support_requests": 0}
        while True:
            async with self._db.write() as s:
                ids = list((await s.execute(self._closed_requests, {"before": before, "limit": size})).scalars())
                if ids:
                    gone = await s.execute(delete(SupportMessage).where(SupportMessage.request_id.in_(ids))
                                           .execution_options(synchronize_session=False))
                    assert isinstance(gone, CursorResult)
                    counts["support_messages"] += gone.rowcount
                    await s.execute(delete(SupportRequest).where(SupportRequest.id.in_(ids))
                                    .execution_options(synchronize_session=False))
                    counts["support_requests"] += len(ids)
            if len(ids) < size:
                return counts
            await asyncio.sleep(self.retention.pause_seconds)

    async def run_forever(self, interval_seconds: float, *, first_now: bool = True) -> None:
        """Purge now (or after an interval: ``first_now=False``, a web process, which has requests
        to serve as it starts), then every ``interval_seconds`` (±10 %, so that processes started
        together drift apart); a failed pass (the database down) is logged and the next one runs."""
        if not first_now:
            await _pause(interval_seconds)
        while True:
            try:
                counts = await self.purge()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - a database outage must not end the worker
                log.exception("housekeeping failed")
            else:
                if any(counts.values()):
                    log.info("housekeeping deleted %s", {k: v for k, v in counts.items() if v})
            await _pause(interval_seconds)


async def _pause(interval_seconds: float) -> None:
    """An interval, ±10 % (so that processes started together drift apart)."""
    await asyncio.sleep(interval_seconds * random.uniform(0.9, 1.1))  # noqa: S311 - not a secret
