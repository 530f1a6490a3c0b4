"""The limits of SECURITY.md, expressed over a :class:`CounterStore`.

Fixed windows keyed by ``<rule>:<subject>``.  Each hit counts first and checks after, so
parallel requests are all counted (no read-then-write race).  Several limits that guard one
action are counted together, in one round trip to the store (:meth:`Limiter.count`).
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass

from dostup.core.errors import DostupError, RateLimited
from dostup.guards.store import CounterStore, Hit, Seen, UnitCounters
from dostup.persistence.db import Database

log = logging.getLogger(__name__)

# What the current unit of work (a request) has charged: (store, keys) per count.  None: no ledger.
_ledger: contextvars.ContextVar[list[tuple[CounterStore, list[str]]] | None] = contextvars.ContextVar(
    "dostup_limits_ledger", default=None)


@asynccontextmanager
async def charged_only_on_success() -> AsyncIterator[None]:
    """Limits counted inside are given back if the work fails on our side (SECURITY.md «Outages»).

    Limits are counted in Redis or the counter table *before* the unit of work they guard (a code
    is reserved, then the flow and its message are written): if that unit then fails on the
    database (or any other error that is not the user's — not a :class:`DostupError`), the user
    must not have spent a send, a cool-down or a try on nothing.  A refusal the user caused (a
    wrong password, a full limit, bad input) keeps every count.  Each request runs inside one
    (``web.middleware.LimitsLedger``); nesting starts a ledger of its own.
    """
    ledger: list[tuple[CounterStore, list[str]]] = []
    token = _ledger.set(ledger)
    try:
        yield
    except DostupError:
        raise
    except Exception:  # not a cancellation: a request cut short by its client is no failure of ours
        for store, keys in reversed(ledger):
            with suppress(Exception):  # the store may be what failed: the counts then expire as usual
                await store.give_back(keys)
        if ledger:
            log.info("gave back %d limit counts of a failed unit of work", sum(len(k) for _, k in ledger))
        raise
    finally:
        _ledger.reset(token)


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    limit: int
    window_seconds: int


@dataclass(frozen=True, slots=True)
class Count:
    """One hit of ``rule`` for ``subject``, and the error shown when it is over the limit."""

    rule: Rule
    subject: str
    message_id: str | None = None
    field: str | None = None

    @property
    def key(self) -> str:
        return f"{self.rule.name}:{self.subject}"


@dataclass(frozen=True, slots=True)
class Over:
    """The first count that went over its limit, and when its window ends."""

    count: Count
    retry_after: int

    def error(self) -> RateLimited:
        return RateLimited(self.retry_after, self.count.message_id, field=self.count.field)


class Limiter:
    def __init__(self, store: CounterStore) -> None:
        self.store = store

    async def count(self, counts: Sequence[Count], peek: Sequence[str] = ()) -> tuple[Over | None, list[Seen]]:
        """Hit ``counts`` in order up to the first one over its limit; read ``peek`` meanwhile."""
        counted, peeked = await self.hit_many(_hits(counts), peek)
        return _over(counts, counted), peeked

    async def hit_many(self, hits: Sequence[Hit], peek: Sequence[str] = ()) -> tuple[list[Seen], list[Seen]]:
        """The store's ``hit_many``, in the ledger of :func:`charged_only_on_success` as :meth:`count`
        is: for a caller that reads the counts themselves (a flow's tries)."""
        counted, peeked = await self.store.hit_many(hits, peek)
        ledger = _ledger.get()
        if ledger is not None and counted:
            ledger.append((self.store, [key for key, _, _ in hits[: len(counted)]]))
        return counted, peeked

    def count_in(self, counters: UnitCounters, counts: Sequence[Count]) -> Over | None:
        """:meth:`count` in the caller's unit of work (when :meth:`in_units_of` its database).  Not
        in the ledger of :func:`charged_only_on_success`: the counts commit or roll back with the
        unit, so a unit that fails on our side gives them back by itself."""
        counted, _ = counters.hit_many(_hits(counts))
        return _over(counts, counted)

    def in_units_of(self, db: Database) -> bool:
        return self.store.in_units_of(db)

    async def hit_all(self, counts: Sequence[Count], peek: Sequence[str] = ()) -> list[Seen]:
        """As :meth:`count`, raising :class:`RateLimited` for a count over its limit."""
        over, peeked = await self.count(counts, peek)
        if over is not None:
            raise over.error()
        return peeked

    async def hit(self, rule: Rule, subject: str, *, message_id: str | None = None, field: str | None = None) -> None:
        await self.hit_all([Count(rule, subject, message_id, field)])


def _hits(counts: Sequence[Count]) -> list[Hit]:
    return [(c.key, c.rule.limit, c.rule.window_seconds) for c in counts]


def _over(counts: Sequence[Count], counted: list[Seen]) -> Over | None:
    if counted and counted[-1].count > counts[len(counted) - 1].rule.limit:
        last = counts[len(counted) - 1]
        return Over(last, counted[-1].ttl or last.rule.window_seconds)
    return None
