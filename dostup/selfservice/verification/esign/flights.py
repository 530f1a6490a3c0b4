"""Revocation status fetched once for everyone who needs it at the moment, and not asked again while it just failed.

:class:`Flights`: at most one fetch per key at a time in a process.  A check that needs a list or an answer
already being fetched awaits that fetch instead of starting its own — ten signatures arriving together with
nothing kept cause one download per distribution point, not ten — and gets its outcome, result or failure.  The
fetch runs as a task of its own, shielded from those waiting: a caller that is cancelled (its client went away,
its request timed out) stops waiting, not the fetch, so the others still get its outcome and what the fetch
keeps or remembers is kept or remembered as if nobody had left.

:class:`Failures`: a fetch that failed is remembered for ``seconds``
(``DOSTUP_LEVELS__ESIGN_REVOCATION__FAILURE_CACHE_SECONDS``; 0: never).  While a CA's list or responder is down,
a signature then gets its answer (the next point, or 503 ``revocation_unavailable``) at once instead of after
the timeout for each point and responder of each certificate of its chain; after the window the next check asks
again, so a mended CA is seen at most that much later.  Kept in the process, like the lists themselves.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Coroutine, Hashable
from dataclasses import dataclass
from functools import partial
from typing import Any, Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Flights(Generic[K, V]):
    def __init__(self) -> None:
        self._running: dict[K, asyncio.Task[V]] = {}

    async def run(self, key: K, fetch: Callable[[], Coroutine[Any, Any, V]]) -> V:
        """The outcome of the fetch for ``key`` in flight, or of ``fetch()`` started now."""
        loop = asyncio.get_running_loop()
        task = self._running.get(key)
        if task is None or task.get_loop() is not loop:  # another loop's: only where a loop ended mid-fetch
            task = loop.create_task(fetch())
            self._running[key] = task
            task.add_done_callback(partial(self._landed, key))
        return await asyncio.shield(task)

    def _landed(self, key: K, task: asyncio.Task[V]) -> None:
        if self._running.get(key) is task:
            del self._running[key]
        if not task.cancelled():
            task.exception()  # taken: where every caller left, a failure is no "never retrieved" error


@dataclass(frozen=True, slots=True)
class _Failed:
    why: str
    until: dt.datetime


class Failures(Generic[K]):
    def __init__(self, seconds: int) -> None:
        self.window = dt.timedelta(seconds=seconds)
        self._failed: dict[K, _Failed] = {}

    def recent(self, key: K, now: dt.datetime) -> str | None:
        """Why ``key`` failed within the window (for the log), or None."""
        failed = self._failed.get(key)
        if failed is None or now >= failed.until:
            return None
        return f"{failed.why} (failed within the last {self.window.total_seconds():g} s, not asked again)"

    def remember(self, key: K, why: str, now: dt.datetime) -> None:
        if not self.window:
            return
        for stale in [k for k, v in self._failed.items() if v.until <= now]:
            del self._failed[stale]
        self._failed[key] = _Failed(why, now + self.window)
