"""The limiter's counter stores: ORM-free SQLite (default), SQLAlchemy (PostgreSQL without Redis), Redis.

Every store must count a batch of limits in order, stop at the first one over its limit, read the
peeked keys in the same round trip, and never lose a count under concurrency.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading

import pytest
from sqlalchemy.engine import make_url

from dostup.core.clock import FrozenClock
from dostup.core.errors import RateLimited
from dostup.guards.limits import Count, Limiter, Rule
from dostup.guards.store import CounterStore, Seen, SqlCounterStore, SqliteCounterStore
from dostup.services import Services


@pytest.fixture(params=["default", "sqlalchemy"])
def store(request: pytest.FixtureRequest, services: Services, clock: FrozenClock) -> CounterStore:
    """The store the app built (SQLite: ORM-free; PostgreSQL: Redis), or the SQLAlchemy one."""
    if request.param == "sqlalchemy":
        return SqlCounterStore(services.db, clock)
    return services.store


def follows_clock(store: CounterStore) -> bool:
    return isinstance(store, SqliteCounterStore | SqlCounterStore)  # Redis windows follow real time


async def test_default_sqlite_store_is_orm_free(services: Services) -> None:
    if services.db.is_sqlite:
        assert isinstance(services.store, SqliteCounterStore)


async def test_counts_in_order_and_stops_at_the_first_full_limit(store: CounterStore) -> None:
    hits = [("t-a", 1, 60), ("t-b", 5, 60), ("t-c", 5, 600)]
    counted, peeked = await store.hit_many(hits, peek=["t-a", "t-none"])
    assert [s.count for s in counted] == [1, 1, 1]
    assert 55 <= counted[0].ttl <= 60 and 595 <= counted[2].ttl <= 600
    assert peeked[0].count == 1 and peeked[1] == Seen(0, 0)

    counted, _ = await store.hit_many(hits)
    assert [s.count for s in counted] == [2]  # t-a went over: t-b and t-c were not counted
    assert await store.get("t-b") == 1
    assert await store.get("t-c") == 1


async def test_peek_alone_changes_nothing(store: CounterStore) -> None:
    await store.put("t-p", 7, 120)
    counted, peeked = await store.hit_many([], peek=["t-p", "t-p2"])
    assert counted == []
    assert peeked[0].count == 7 and 115 <= peeked[0].ttl <= 120
    assert peeked[1] == Seen(0, 0)
    assert await store.get("t-p") == 7


async def test_window_restarts_after_it_ends(store: CounterStore, clock: FrozenClock) -> None:
    if not follows_clock(store):
        pytest.skip("Redis windows follow real time")
    for _ in range(3):
        await store.hit_many([("t-w", 10, 60)])
    clock.advance(seconds=61)
    assert await store.get("t-w") == 0
    assert await store.ttl("t-w") == 0
    counted, _ = await store.hit_many([("t-w", 10, 60)])
    assert counted == [Seen(1, 60)]


async def test_parallel_hits_are_all_counted(store: CounterStore) -> None:
    results = await asyncio.gather(*(store.hit_many([("t-par", 10, 60), ("t-after", 100, 60)]) for _ in range(40)))
    firsts = sorted(counted[0].count for counted, _ in results)
    assert firsts == list(range(1, 41))
    # only the 10 within the first limit went on to count the second key
    assert await store.get("t-after") == 10


async def test_limiter_names_the_full_limit_and_its_retry(services: Services) -> None:
    limiter = Limiter(services.store)
    short, long = Rule("t-short", 2, 30), Rule("t-long", 100, 3600)
    counts = [Count(short, "x", "code.cooldown"), Count(long, "x", "code.too_many", field="phone")]
    for _ in range(2):
        over, _ = await limiter.count(counts)
        assert over is None
    over, _ = await limiter.count(counts)
    assert over is not None and over.count.rule is short and 25 <= over.retry_after <= 30
    with pytest.raises(RateLimited) as caught:
        await limiter.hit_all(counts)
    assert caught.value.retry_after <= 30


async def test_sqlite_store_waits_for_a_lock_held_by_another_process(services: Services) -> None:
    """A writer elsewhere holds the lock: the hit waits off the loop and then counts, no error."""
    if not services.db.is_sqlite:
        pytest.skip("SQLite locking")
    path = make_url(services.settings.database_url).database
    assert path
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    release = threading.Event()

    def hold() -> None:
        release.wait(5)
        other.execute("COMMIT")

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        task = asyncio.create_task(services.store.hit_many([("t-locked", 5, 60)]))
        ticks = 0
        while not task.done() and ticks < 20:  # the loop keeps running while the hit waits
            await asyncio.sleep(0.01)
            ticks += 1
        assert not task.done() and ticks == 20
        release.set()
        counted, _ = await asyncio.wait_for(task, 10)
        assert counted == [Seen(1, 60)]
    finally:
        release.set()
        holder.join()
        other.close()


async def test_store_calls_share_one_connection_safely(services: Services) -> None:
    """Writes and reads interleaved from many tasks: every count lands, reads see them."""
    store = services.store

    async def hit(i: int) -> None:
        await store.hit_many([(f"t-mix{i % 3}", 1000, 60)])

    async def read(i: int) -> None:
        await store.get(f"t-mix{i % 3}")

    await asyncio.gather(*(job(i) for i in range(30) for job in (hit, read)))
    assert [await store.get(f"t-mix{k}") for k in range(3)] == [10, 10, 10]
