"""The limits of SECURITY.md, expressed over a :class:`CounterStore`.

Fixed windows keyed by ``<rule>:<subject>``.  Each ``hit`` counts first and checks after, so
parallel requests are all counted (no read-then-write race).
"""

from __future__ import annotations

from dataclasses import dataclass

from dostup.core.errors import RateLimited
from dostup.guards.store import CounterStore


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    limit: int
    window_seconds: int


class Limiter:
    def __init__(self, store: CounterStore) -> None:
        self.store = store

    async def hit(self, rule: Rule, subject: str, *, message_id: str | None = None, field: str | None = None) -> int:
        key = f"{rule.name}:{subject}"
        count = await self.store.incr(key, rule.window_seconds)
        if count > rule.limit:
            retry = await self.store.ttl(key) or rule.window_seconds
            raise RateLimited(retry, message_id, field=field)
        return count

    async def check(self, rule: Rule, subject: str, *, message_id: str | None = None, field: str | None = None) -> None:
        """Raise if the window is already full, without counting."""
        key = f"{rule.name}:{subject}"
        if await self.store.get(key) >= rule.limit:
            retry = await self.store.ttl(key) or rule.window_seconds
            raise RateLimited(retry, message_id, field=field)
