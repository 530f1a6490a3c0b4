"""Shared counters for rate limits: the database by default, Redis when configured.

No limit lives in one process's memory (SPEC §7): with the embedded default the counters are
rows of the same SQLite file that every worker opens; with ``DOSTUP_REDIS_URL`` they are Redis
keys.  When Redis is unreachable every call raises :class:`ServiceUnavailable`, so sign-in and
code endpoints fail closed (SECURITY.md) instead of running unlimited.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

from sqlalchemy import delete, select, text

from dostup.core.clock import Clock
from dostup.core.errors import ServiceUnavailable
from dostup.persistence.db import Database
from dostup.persistence.models import Counter

T = TypeVar("T")


class CounterStore(Protocol):
    async def incr(self, key: str, ttl_seconds: int) -> int:
        """Add one to ``key`` (created with ``ttl_seconds`` to live) and return the new value."""

    async def get(self, key: str) -> int: ...

    async def ttl(self, key: str) -> int:
        """Seconds until ``key`` expires, 0 when it does not exist."""

    async def put(self, key: str, value: int, ttl_seconds: int) -> None: ...

    async def delete(self, *keys: str) -> None: ...

    async def add_once(self, key: str, ttl_seconds: int) -> bool:
        """Mark ``key``; True the first time, False while it lives (replay protection)."""

    async def close(self) -> None: ...


class SqlCounterStore:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock
        self._upsert = text(
            "INSERT INTO counters (key, count, expires_at) VALUES (:key, 1, :exp) "
            "ON CONFLICT (key) DO UPDATE SET "
            "count = CASE WHEN counters.expires_at <= :now THEN 1 ELSE counters.count + 1 END, "
            "expires_at = CASE WHEN counters.expires_at <= :now THEN :exp ELSE counters.expires_at END "
            "RETURNING count"
        )

    async def incr(self, key: str, ttl_seconds: int) -> int:
        now = self._clock.now()
        async with self._db.write() as s:
            result = await s.execute(
                self._upsert, {"key": key, "now": now, "exp": now + dt.timedelta(seconds=ttl_seconds)}
            )
            return int(result.scalar_one())

    async def _row(self, key: str) -> Counter | None:
        async with self._db.read() as s:
            row = (await s.execute(select(Counter).where(Counter.key == key))).scalar_one_or_none()
        if row is None or row.expires_at <= self._clock.now():
            return None
        return row

    async def get(self, key: str) -> int:
        row = await self._row(key)
        return row.count if row else 0

    async def ttl(self, key: str) -> int:
        row = await self._row(key)
        if row is None:
            return 0
        return max(1, int((row.expires_at - self._clock.now()).total_seconds() + 0.999))

    async def put(self, key: str, value: int, ttl_seconds: int) -> None:
        now = self._clock.now()
        async with self._db.write() as s:
            await s.execute(
                text(
                    "INSERT INTO counters (key, count, expires_at) VALUES (:key, :v, :exp) "
                    "ON CONFLICT (key) DO UPDATE SET count = :v, expires_at = :exp"
                ),
                {"key": key, "v": value, "exp": now + dt.timedelta(seconds=ttl_seconds)},
            )

    async def delete(self, *keys: str) -> None:
        async with self._db.write() as s:
            await s.execute(delete(Counter).where(Counter.key.in_(keys)))

    async def add_once(self, key: str, ttl_seconds: int) -> bool:
        return await self.incr(key, ttl_seconds) == 1

    async def purge_expired(self) -> None:
        async with self._db.write() as s:
            await s.execute(delete(Counter).where(Counter.expires_at <= self._clock.now()))

    async def close(self) -> None:
        return None


class RedisCounterStore:
    def __init__(self, url: str, prefix: str = "dostup:") -> None:
        import redis.asyncio as aioredis

        self._redis = aioredis.Redis.from_url(
            url, socket_timeout=1.0, socket_connect_timeout=1.0, health_check_interval=30
        )
        self._prefix = prefix

    def _k(self, key: str) -> str:
        return self._prefix + key

    async def _call(self, coro_factory: Callable[[], Awaitable[T]]) -> T:
        from redis.exceptions import RedisError

        try:
            return await coro_factory()
        except (RedisError, OSError) as exc:
            raise ServiceUnavailable() from exc

    async def incr(self, key: str, ttl_seconds: int) -> int:
        async def run() -> int:
            pipe = self._redis.pipeline(transaction=True)
            pipe.incr(self._k(key))
            pipe.expire(self._k(key), ttl_seconds, nx=True)
            value, _ = await pipe.execute()
            return int(value)

        return int(await self._call(run))

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

    async def add_once(self, key: str, ttl_seconds: int) -> bool:
        return bool(await self._call(lambda: self._redis.set(self._k(key), 1, ex=ttl_seconds, nx=True)))

    async def close(self) -> None:
        await self._redis.aclose()
