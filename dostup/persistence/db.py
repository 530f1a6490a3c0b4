"""Engines and units of work.

SQLite rules (why zero requests fail under 50 concurrent writers, with two processes too):
WAL journal so readers never wait for the writer; ``busy_timeout`` so a writer waits for the lock
instead of failing; and every *write* unit of work starts with ``BEGIN IMMEDIATE``, because a
deferred transaction that reads first and writes later cannot wait on a lock upgrade and fails
with SQLITE_BUSY at once.  Slow work (password hashing, network) never runs inside a unit of work.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import NullPool

SQLITE_BUSY_TIMEOUT_MS = 60_000


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.isolation_level = None  # we emit BEGIN ourselves
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


class Database:
    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            self.writer = create_async_engine(url, echo=echo, pool_size=8, max_overflow=8)
            self.reader = create_async_engine(url, echo=echo, pool_size=8, max_overflow=8)
            event.listen(self.writer.sync_engine, "connect", _sqlite_pragmas)
            event.listen(self.reader.sync_engine, "connect", _sqlite_pragmas)
            event.listen(self.writer.sync_engine, "begin", lambda c: c.exec_driver_sql("BEGIN IMMEDIATE"))
            event.listen(self.reader.sync_engine, "begin", lambda c: c.exec_driver_sql("BEGIN"))
        else:
            self.writer = create_async_engine(url, echo=echo, pool_size=10, max_overflow=10, pool_pre_ping=False)
            self.reader = self.writer
        self._write = async_sessionmaker(self.writer, expire_on_commit=False)
        self._read = async_sessionmaker(self.reader, expire_on_commit=False)

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """One short write transaction; commits on success, rolls back on any error."""
        async with self._write() as session, session.begin():
            yield session

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        async with self._read() as session, session.begin():
            yield session

    async def dispose(self) -> None:
        await self.writer.dispose()
        if self.reader is not self.writer:
            await self.reader.dispose()


def sync_url(url: str) -> str:
    """The blocking-driver form of a URL (used by the hot-path session reader and tests)."""
    return url.replace("+aiosqlite", "").replace("+asyncpg", "+psycopg")


def make_migration_engine(url: str) -> AsyncEngine:
    engine = create_async_engine(url, poolclass=NullPool)
    if url.startswith("sqlite"):
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", lambda c: c.exec_driver_sql("BEGIN IMMEDIATE"))
    return engine
