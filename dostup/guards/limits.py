"""The limits of SECURITY.md, expressed over a :class:`CounterStore`.

Fixed windows keyed by ``<rule>:<subject>``.  Each hit counts first and checks after, so
parallel requests are all counted (no read-then-write race).  Several limits that guard one
action are counted together, in one round trip to the store (:meth:`Limiter.count`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from dostup.core.errors import RateLimited
from dostup.guards.store import CounterStore, Seen


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
        hits = [(c.key, c.rule.limit, c.rule.window_seconds) for c in counts]
        counted, peeked = await self.store.hit_many(hits, peek)
        if counted and counted[-1].count > counts[len(counted) - 1].rule.limit:
            last = counts[len(counted) - 1]
            return Over(last, counted[-1].ttl or last.rule.window_seconds), peeked
        return None, peeked

    async def hit_all(self, counts: Sequence[Count], peek: Sequence[str] = ()) -> list[Seen]:
        """As :meth:`count`, raising :class:`RateLimited` for a count over its limit."""
        over, peeked = await self.count(counts, peek)
        if over is not None:
            raise over.error()
        return peeked

    async def hit(self, rule: Rule, subject: str, *, message_id: str | None = None, field: str | None = None) -> None:
        await self.hit_all([Count(rule, subject, message_id, field)])
