"""A crowd queued for a database connection when the database freezes is refused as soon as the
first unit of work finds it frozen (persistence.db.Breaker), instead of each opening a connection
of its own and waiting out a connect timeout after its wait for the pool (issue 13 §3: the waits
added up to 5.9 s for a crowd arriving at the moment of the freeze).

A hung server (SIGSTOP of the postmaster and its backends, tests/resilience/support.py): nothing
on the server ends a wait, only Dostup's own timeouts do.  The waits are chosen to make the
difference plain: statements give up after 1 s, a connection attempt after 2 s, and the pool lets
a unit wait 10 s.  The units holding the connections fail at ~1 s; a queued unit is refused right
then, where it used to open a connection and fail 2 s later.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import text

from dostup.persistence.db import Database, Timeouts, unavailable
from dostup.session.reader import PostgresSessionReader
from tests.resilience.support import OwnPostgres

WAITS = Timeouts(connect_timeout_seconds=2.0, statement_timeout_seconds=1.0, pool_timeout_seconds=10.0, pool_size=1)
HOLDERS = 2  # the engine's pool_size plus as many overflow; the reader's slots below
QUEUED = 3


async def _ended_at(unit: Callable[[], Awaitable[Any]], start: float) -> tuple[float, BaseException | None]:
    try:
        await asyncio.wait_for(unit(), 30)
    except Exception as exc:  # noqa: BLE001 - what the unit raised is checked by the caller
        return time.monotonic() - start, exc
    return time.monotonic() - start, None


async def _crowd_at_the_freeze(pg: OwnPostgres, unit: Callable[[], Awaitable[Any]]) -> tuple[list[float], list[float]]:
    """The holders' and the queued units' seconds to their failure, all started at the freeze."""
    await asyncio.gather(*(unit() for _ in range(HOLDERS)))  # every connection open
    await asyncio.to_thread(pg.freeze)
    try:
        start = time.monotonic()
        holders = [asyncio.create_task(_ended_at(unit, start)) for _ in range(HOLDERS)]
        await asyncio.sleep(0.1)  # the holders have the connections; the rest queue behind them
        queued = [asyncio.create_task(_ended_at(unit, start)) for _ in range(QUEUED)]
        ended = await asyncio.gather(*holders, *queued)
    finally:
        await asyncio.to_thread(pg.thaw)
    for took, exc in ended:
        assert exc is not None and unavailable(exc), (took, repr(exc))
    times = [round(took, 2) for took, _ in ended]
    print("\nseconds to the failure, holders then queued:", times)  # noqa: T201 - the figures of the report
    return times[:HOLDERS], times[HOLDERS:]


def _refused_when_found_frozen(holders: list[float], queued: list[float]) -> None:
    # Refused when the first holder fails, not a connect timeout (2 s) later: half of it is slack.
    assert max(queued) < min(holders) + WAITS.connect_timeout_seconds / 2, (holders, queued)


async def test_units_queued_on_the_pool_are_refused_once_the_database_is_found_frozen(own_pg: OwnPostgres) -> None:
    db = Database(own_pg.url, timeouts=WAITS)

    async def unit() -> None:
        async with db.read() as s:
            await s.execute(text("SELECT 1"))

    try:
        holders, queued = await _crowd_at_the_freeze(own_pg, unit)
        _refused_when_found_frozen(holders, queued)
        await unit()  # after the thaw the next unit is the probe, and it finds the database back
        assert not db.breaker.down
    finally:
        await db.dispose()


async def test_session_checks_queued_for_a_reader_slot_are_refused_once_the_database_is_found_frozen(
        own_pg: OwnPostgres) -> None:
    reader = PostgresSessionReader(own_pg.url, WAITS)
    reader.SIZE = HOLDERS

    async def unit() -> None:
        assert await reader.fetch("no such token") is None

    try:
        holders, queued = await _crowd_at_the_freeze(own_pg, unit)
        _refused_when_found_frozen(holders, queued)
        await unit()
    finally:
        await reader.close()
