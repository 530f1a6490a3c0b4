"""Shared counters for rate limits: the database by default, Redis when configured.

No limit lives in one process's memory (SPEC §7): with the embedded default the counters are
rows of the same SQLite file that every worker opens; with ``DOSTUP_REDIS_URL`` they are Redis
keys.  When Redis is unreachable every call raises :class:`ServiceUnavailable`, so sign-in and
code endpoints fail closed (SECURITY.md) instead of running unlimited.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from sqlalchemy import delete, select, text

from dostup.core.clock import Clock
from dostup.core.errors import ServiceUnavailable
from dostup.persistence.db import Database, Raw, SyncOnLoop
from dostup.persistence.models import Counter

T = TypeVar("T")

Hit = tuple[str, int, int]
"""One count for :meth:`CounterStore.hit_many`: key, limit, window in seconds."""


@dataclass(frozen=True, slots=True)
class Seen:
    count: int
    ttl: int  # seconds until the window ends; 0 when the key does not exist


class CounterStore(Protocol):
    async def hit_many(self, hits: Sequence[Hit], peek: Sequence[str] = ()) -> tuple[list[Seen], list[Seen]]:
        """Count ``hits`` in order, atomically, in one round trip, and read the ``peek`` keys.

        Counting stops after the first hit whose count goes over its limit (the later ones are
        not counted, as if checked one by one).  Returns what each counted hit now holds, then
        what each peeked key holds.
        """

    async def incr(self, key: str, ttl_seconds: int) -> int:
        """Add one to ``key`` (created with ``ttl_seconds`` to live) and return the new value."""

    async def get(self, key: str) -> int: ...

    async def ttl(self, key: str) -> int:
        """Seconds until ``key`` expires, 0 when it does not exist."""

    async def put(self, key: str, value: int, ttl_seconds: int) -> None: ...

    async def delete(self, *keys: str) -> None: ...

    async def give_back(self, keys: Sequence[str]) -> None:
        """Take back one count of each key (a key that reaches zero is gone, cool-down and all)."""

    async def add_once(self, key: str, ttl_seconds: int) -> bool:
        """Mark ``key``; True the first time, False while it lives (replay protection)."""

    async def close(self) -> None: ...

    def in_units_of(self, db: Database) -> bool:
        """Whether the counters are rows of ``db``, so a unit of work of ``db`` can count them in
        its own transaction (:class:`UnitCounters`); False for Redis."""


# Counters are rows (key, count, expires_at); an expired row counts as absent and is restarted by
# the next hit, and deleted by housekeeping (``persistence/housekeeping.py``) an hour later.  Times are naive UTC in SQLAlchemy's SQLite text form, so the ORM-free SQLite
# store and the SQLAlchemy one read and write the same rows.
_UPSERT = (
    "INSERT INTO counters (key, count, expires_at) VALUES (:key, 1, :exp) "
    "ON CONFLICT (key) DO UPDATE SET "
    "count = CASE WHEN counters.expires_at <= :now THEN 1 ELSE counters.count + 1 END, "
    "expires_at = CASE WHEN counters.expires_at <= :now THEN :exp ELSE counters.expires_at END "
    "RETURNING count, expires_at"
)
# A hit inside a live window changes only ``count``: it is counted by an UPDATE that leaves
# ``expires_at`` out of its SET, so SQLite does not rewrite the row's entry in
# ``ix_counters_expires_at`` (the upsert names the column, and a commit then writes that index's
# page too).  No row, or an expired one: the upsert starts the window.  Both run in one write
# transaction, so nothing happens between them.
_BUMP = "UPDATE counters SET count = count + 1 WHERE key = :key AND expires_at > :now RETURNING count, expires_at"
_PUT = ("INSERT INTO counters (key, count, expires_at) VALUES (:key, :v, :exp) "
        "ON CONFLICT (key) DO UPDATE SET count = :v, expires_at = :exp")


_GIVE_BACK = "UPDATE counters SET count = count - 1 WHERE key = ?"
_GONE = "DELETE FROM counters WHERE key = ? AND count <= 0"  # by key: the table holds every live counter


def _left(expires_at: dt.datetime | str, now: dt.datetime) -> int:
    if isinstance(expires_at, str):
        expires_at = dt.datetime.fromisoformat(expires_at)
    seconds = (expires_at - now).total_seconds()
    return max(1, int(seconds + 0.999)) if seconds > 0 else 0


def _seen(row: Any, now: dt.datetime) -> Seen:
    left = _left(row[1], now)
    return Seen(int(row[0]) if left else 0, left)


class _RowStore:
    """What the two row stores derive from their :meth:`hit_many`."""

    async def hit_many(self, hits: Sequence[Hit], peek: Sequence[str] = ()) -> tuple[list[Seen], list[Seen]]:
        raise NotImplementedError

    async def incr(self, key: str, ttl_seconds: int) -> int:
        counted, _ = await self.hit_many([(key, 2**62, ttl_seconds)])
        return counted[0].count

    async def get(self, key: str) -> int:
        return (await self.hit_many([], [key]))[1][0].count

    async def ttl(self, key: str) -> int:
        return (await self.hit_many([], [key]))[1][0].ttl

    async def add_once(self, key: str, ttl_seconds: int) -> bool:
        return await self.incr(key, ttl_seconds) == 1


class UnitCounters:
    """The database's counters inside one of its write units of work (:meth:`Database.run_raw`):
    the same rows and the same rules as the stores', committed with the unit's other writes, so
    a hot path counts its limits without a transaction of their own."""

    __slots__ = ("_raw", "_now", "_now_p")

    def __init__(self, raw: Raw, now: dt.datetime) -> None:
        self._raw = raw
        self._now = now
        self._now_p = raw.time(now)

    def hit_many(self, hits: Sequence[Hit], peek: Sequence[str] = ()) -> tuple[list[Seen], list[Seen]]:
        counted: list[Seen] = []
        for key, limit, window in hits:
            row = self._raw.one(_BUMP, {"key": key, "now": self._now_p})
            if row is None:
                exp = self._raw.time(self._now + dt.timedelta(seconds=window))
                row = self._raw.one(_UPSERT, {"key": key, "now": self._now_p, "exp": exp})
            seen = _seen(row, self._now)
            counted.append(seen)
            if seen.count > limit:
                break
        peeked: list[Seen] = []
        if peek:
            marks = ", ".join(f":k{i}" for i in range(len(peek)))
            rows = self._raw.all(f"SELECT key, count, expires_at FROM counters WHERE key IN ({marks})",  # noqa: S608 - placeholders
                                 {f"k{i}": key for i, key in enumerate(peek)})
            found = {row[0]: _seen(row[1:], self._now) for row in rows}
            peeked = [found.get(key, Seen(0, 0)) for key in peek]
        return counted, peeked

    def incr(self, key: str, ttl_seconds: int) -> int:
        return self.hit_many([(key, 2**62, ttl_seconds)])[0][0].count

    def put(self, key: str, value: int, ttl_seconds: int) -> None:
        exp = self._raw.time(self._now + dt.timedelta(seconds=ttl_seconds))
        self._raw.run(_PUT, {"key": key, "v": value, "exp": exp})

    def delete(self, *keys: str) -> None:
        marks = ", ".join(f":k{i}" for i in range(len(keys)))
        self._raw.run(f"DELETE FROM counters WHERE key IN ({marks})", {f"k{i}": key for i, key in enumerate(keys)})  # noqa: S608


class SqliteCounterStore(_RowStore):
    """The embedded default: counter rows in the SQLite file, updated without the ORM (hot path)."""

    def __init__(self, raw: SyncOnLoop, clock: Clock) -> None:
        self._raw = raw
        self._clock = clock

    @staticmethod
    def _text(value: dt.datetime) -> str:
        return value.isoformat(" ", "microseconds")

    async def hit_many(self, hits: Sequence[Hit], peek: Sequence[str] = ()) -> tuple[list[Seen], list[Seen]]:
        now = self._clock.now()
        now_s = self._text(now)

        def run(conn: sqlite3.Connection) -> tuple[list[Seen], list[Seen]]:
            counted: list[Seen] = []
            for key, limit, window in hits:
                row = conn.execute(_BUMP, {"key": key, "now": now_s}).fetchone()
                if row is None:
                    exp = self._text(now + dt.timedelta(seconds=window))
                    row = conn.execute(_UPSERT, {"key": key, "now": now_s, "exp": exp}).fetchone()
                seen = _seen(row, now)
                counted.append(seen)
                if seen.count > limit:
                    break
            return counted, self._peek(conn, peek, now)

        if hits:
            return await self._raw.write_sqlite3(run)
        return [], await self._raw.read_sqlite3(lambda conn: self._peek(conn, peek, now))

    def _peek(self, conn: sqlite3.Connection, keys: Sequence[str], now: dt.datetime) -> list[Seen]:
        if not keys:
            return []
        marks = ", ".join("?" * len(keys))
        rows = conn.execute(f"SELECT key, count, expires_at FROM counters WHERE key IN ({marks})",  # noqa: S608 - placeholders
                            tuple(keys)).fetchall()
        found = {row[0]: _seen(row[1:], now) for row in rows}
        return [found.get(key, Seen(0, 0)) for key in keys]

    async def put(self, key: str, value: int, ttl_seconds: int) -> None:
        exp = self._text(self._clock.now() + dt.timedelta(seconds=ttl_seconds))
        await self._raw.write_sqlite3(lambda conn: conn.execute(_PUT, {"key": key, "v": value, "exp": exp}))

    async def delete(self, *keys: str) -> None:
        marks = ", ".join("?" * len(keys))
        await self._raw.write_sqlite3(lambda conn: conn.execute(f"DELETE FROM counters WHERE key IN ({marks})", keys))  # noqa: S608

    async def give_back(self, keys: Sequence[str]) -> None:
        def run(conn: sqlite3.Connection) -> None:
            for key in keys:
                conn.execute(_GIVE_BACK, (key,))
                conn.execute(_GONE, (key,))

        await self._raw.write_sqlite3(run)

    def in_units_of(self, db: Database) -> bool:
        return db.on_loop() is self._raw

    async def close(self) -> None:
        return None  # the connection belongs to the Database


class SqlCounterStore(_RowStore):
    """Counter rows through SQLAlchemy: PostgreSQL without Redis, or an SQLite URL with options."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock
        self._upsert = text(_UPSERT)

    async def hit_many(self, hits: Sequence[Hit], peek: Sequence[str] = ()) -> tuple[list[Seen], list[Seen]]:
        now = self._clock.now()
        counted: list[Seen] = []
        async with (self._db.write() if hits else self._db.read()) as s:
            for key, limit, window in hits:
                params = {"key": key, "now": now, "exp": now + dt.timedelta(seconds=window)}
                seen = _seen((await s.execute(self._upsert, params)).one(), now)
                counted.append(seen)
                if seen.count > limit:
                    break
            peeked: list[Seen] = []
            if peek:
                rows = (await s.execute(select(Counter.key, Counter.count, Counter.expires_at)
                                        .where(Counter.key.in_(peek)))).all()
                found = {row[0]: _seen(row[1:], now) for row in rows}
                peeked = [found.get(key, Seen(0, 0)) for key in peek]
        return counted, peeked

    async def put(self, key: str, value: int, ttl_seconds: int) -> None:
        now = self._clock.now()
        async with self._db.write() as s:
            await s.execute(text(_PUT), {"key": key, "v": value, "exp": now + dt.timedelta(seconds=ttl_seconds)})

    async def delete(self, *keys: str) -> None:
        async with self._db.write() as s:
            await s.execute(delete(Counter).where(Counter.key.in_(keys)))

    async def give_back(self, keys: Sequence[str]) -> None:
        async with self._db.write() as s:
            for key in keys:
                await s.execute(text(_GIVE_BACK.replace("?", ":key")), {"key": key})
                await s.execute(text(_GONE.replace("?", ":key")), {"key": key})

    def in_units_of(self, db: Database) -> bool:
        return db is self._db

    async def close(self) -> None:
        return None


def sql_store(db: Database, clock: Clock) -> SqliteCounterStore | SqlCounterStore:
    """The database's own counter store: ORM-free on an SQLite file, through SQLAlchemy otherwise."""
    raw = db.on_loop()
    return SqliteCounterStore(raw, clock) if raw is not None else SqlCounterStore(db, clock)


# KEYS: the hit keys, then the peeked keys; ARGV: the number of hits, then limit and window of each.
_HIT_MANY = """
local hits = tonumber(ARGV[1])
local counted, peeked = {}, {}
for i = 1, hits do
  local value = redis.call('INCR', KEYS[i])
  local left = redis.call('TTL', KEYS[i])
  if left < 0 then
    left = tonumber(ARGV[2 * i + 1])
    redis.call('EXPIRE', KEYS[i], left)
  end
  counted[#counted + 1] = {value, left}
  if value > tonumber(ARGV[2 * i]) then break end
end
for i = hits + 1, #KEYS do
  local value = redis.call('GET', KEYS[i])
  local left = redis.call('TTL', KEYS[i])
  if not value or left == -2 then value, left = 0, 0 end
  peeked[#peeked + 1] = {tonumber(value), left}
end
return {counted, peeked}
"""


_GIVE_BACK_REDIS = """
for i = 1, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 and redis.call('DECR', KEYS[i]) <= 0 then redis.call('DEL', KEYS[i]) end
end
return 0
"""


class RedisCounterStore:
    """Counters as Redis keys, all under ``prefix``.

    One call of :meth:`hit_many` runs one script over several keys (an IP's and an identifier's
    counters), and Redis Cluster runs a script only when all its keys hash to one slot: the
    default prefix ``{dostup}:`` is a hash tag that puts every limiter key in the same slot (one
    shard holds them all; the limiter's few commands per sign-in are far below what one shard
    serves).  A prefix without ``{…}`` works on a single Redis or Sentinel-managed primary, and on
    a cluster fails closed with CROSSSLOT (``tests/flows/test_redis_cluster.py``).  With
    ``cluster`` (``DOSTUP_REDIS_CLUSTER``) the client is redis-py's RedisCluster, which follows
    the cluster's slot map (``tests/resilience/test_redis_cluster.py``).
    """

    def __init__(self, url: str, prefix: str = "{dostup}:", *, cluster: bool = False, timeout: float = 1.0) -> None:
        import redis.asyncio as aioredis

        options: dict[str, Any] = {"socket_timeout": timeout, "socket_connect_timeout": timeout}
        self._redis: Any = (aioredis.RedisCluster.from_url(url, **options) if cluster
                            else aioredis.Redis.from_url(url, health_check_interval=30, **options))
        self._prefix = prefix
        self._hit_many = self._redis.register_script(_HIT_MANY)
        self._give_back = self._redis.register_script(_GIVE_BACK_REDIS)

    def _k(self, key: str) -> str:
        return self._prefix + key

    async def _call(self, coro_factory: Callable[[], Awaitable[T]]) -> T:
        from redis.exceptions import RedisError

        try:
            return await coro_factory()
        except (RedisError, OSError) as exc:
            raise ServiceUnavailable() from exc

    async def hit_many(self, hits: Sequence[Hit], peek: Sequence[str] = ()) -> tuple[list[Seen], list[Seen]]:
        keys = [self._k(key) for key, _, _ in hits] + [self._k(key) for key in peek]
        args: list[int] = [len(hits)]
        for _, limit, window in hits:
            args += [limit, window]
        counted, peeked = await self._call(lambda: self._hit_many(keys=keys, args=args))
        return ([Seen(int(v), max(0, int(t))) for v, t in counted],
                [Seen(int(v), max(0, int(t))) for v, t in peeked])

    async def incr(self, key: str, ttl_seconds: int) -> int:
        # The script rather than a MULTI pipeline: a cluster client has no transactions.
        counted, _ = await self.hit_many([(key, 2**62, ttl_seconds)])
        return counted[0].count

    async def get(self, key: str) -> int:
        value = await self._call(lambda: self._redis.get(self._k(key)))
        return int(value or 0)

    async def ttl(self, key: str) -> int:
        value = await self._call(lambda: self._redis.ttl(self._k(key)))
        return max(0, int(value))

    async def put(self, key: str, value: int, ttl_seconds: int) -> None:
        await self._call(lambda: self._redis.set(self._k(key), value, ex=ttl_seconds))

    async def delete(self, *keys: str) -> None:
        await self._call(lambda: self._redis.delete(*[self._k(k) for k in keys]))

    async def give_back(self, keys: Sequence[str]) -> None:
        await self._call(lambda: self._give_back(keys=[self._k(key) for key in keys]))

    async def add_once(self, key: str, ttl_seconds: int) -> bool:
        return bool(await self._call(lambda: self._redis.set(self._k(key), 1, ex=ttl_seconds, nx=True)))

    def in_units_of(self, db: Database) -> bool:
        return False

    async def close(self) -> None:
        await self._redis.aclose()
