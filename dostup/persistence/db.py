"""Engines and units of work.

SQLite rules (why zero requests fail under 50 concurrent writers, with two processes too):
WAL journal so readers never wait for the writer; ``busy_timeout`` so a writer waits for the lock
instead of failing; and every *write* unit of work starts with ``BEGIN IMMEDIATE``, because a
deferred transaction that reads first and writes later cannot wait on a lock upgrade and fails
with SQLITE_BUSY at once.  Slow work (password hashing, network) never runs inside a unit of work.

SQLite statements run on the event loop's own thread (:class:`LoopSqliteConnection`).  An
indexed SQLite statement takes microseconds, far less than handing it to a driver thread and
back (``aiosqlite`` needs about nine such hand-offs for one small transaction, each a thread
wake-up and a GIL hand-over; that cost ~0.8 ms of CPU per transaction and was most of a
sign-in's CPU outside argon2).  The loop never *waits* for a lock, though: on the loop a
connection has ``busy_timeout=0``, and a statement that finds the database locked (another
process writing, or another of our transactions holding the write lock across an ``await``)
is retried in a lock-waiter thread with the full busy timeout.  WAL checkpoints (the only
fsyncs with ``synchronous=NORMAL``) also run in a thread instead of inside a commit on the loop.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import NullPool

SQLITE_BUSY_TIMEOUT_MS = 60_000
T = TypeVar("T")
WAL_CHECKPOINT_BYTES = 4 * 1024 * 1024  # SQLite's default auto-checkpoint is 1000 pages (~4 MB)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    if dbapi_conn.isolation_level is not None:
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves
    loop_driver = isinstance(getattr(dbapi_conn, "driver_connection", None), LoopSqliteConnection)
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    # On the loop a locked database is never waited for: LoopSqliteConnection retries the
    # statement in a lock-waiter thread, with SQLITE_BUSY_TIMEOUT_MS.
    cur.execute(f"PRAGMA busy_timeout={0 if loop_driver else SQLITE_BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    if loop_driver:
        cur.execute("PRAGMA wal_autocheckpoint=0")  # checkpoints run in a thread (Checkpointer)
    cur.close()


# -- SQLite on the event loop ---------------------------------------------------------------

_waiters: ThreadPoolExecutor | None = None
_waiters_lock = threading.Lock()


def _lock_waiters() -> ThreadPoolExecutor:
    global _waiters
    with _waiters_lock:
        if _waiters is None:
            _waiters = ThreadPoolExecutor(max_workers=32, thread_name_prefix="sqlite-wait")
        return _waiters


async def _off_loop(fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` in a lock-waiter thread.  If the caller is cancelled meanwhile, the thread
    still holds the connection: the cancellation waits until it is done, so that nobody closes
    or reuses the connection under it (that crashes the interpreter)."""
    future = asyncio.get_running_loop().run_in_executor(_lock_waiters(), fn, *args)
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        await asyncio.wait([future])
        raise


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
    return "locked" in str(exc)


class Checkpointer:
    """Keeps the WAL short with PASSIVE checkpoints run in a thread, one at a time per database."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._wal = path + "-wal"
        self._busy = False
        self._commits = 0
        self._conn: sqlite3.Connection | None = None

    def committed(self) -> None:
        self._commits += 1
        if self._commits % 32 or self._busy:
            return
        try:
            size = os.stat(self._wal).st_size
        except OSError:
            return
        if size >= WAL_CHECKPOINT_BYTES:
            self._busy = True
            _lock_waiters().submit(self._checkpoint)

    def _checkpoint(self) -> None:
        try:
            if self._conn is None:
                self._conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False, timeout=0)
            self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error:
            pass  # retried after the next commits
        finally:
            self._busy = False

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class _Immediate:
    """Stands in for aiosqlite's request queue (SQLAlchemy's isolation-level setter uses it)."""

    def put_nowait(self, item: tuple[asyncio.Future[Any], Callable[[], Any]]) -> None:
        future, function = item
        try:
            future.set_result(function())
        except Exception as exc:  # noqa: BLE001 - handed to the awaiting caller
            future.set_exception(exc)


class _LoopCursor:
    __slots__ = ("_owner", "_cur")

    def __init__(self, owner: LoopSqliteConnection) -> None:
        self._owner = owner
        self._cur = owner._conn.cursor()  # noqa: SLF001

    async def __aenter__(self) -> _LoopCursor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._cur.close()

    @property
    def description(self) -> Any:
        return self._cur.description

    @property
    def rowcount(self) -> int:
        return self._cur.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cur.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cur.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cur.arraysize = value

    async def execute(self, sql: str, parameters: Any = ()) -> _LoopCursor:
        await self._owner.run(self._cur.execute, sql, parameters)
        return self

    async def executemany(self, sql: str, parameters: Any) -> _LoopCursor:
        await self._owner.run(self._cur.executemany, sql, parameters)
        return self

    async def fetchone(self) -> Any:
        return self._cur.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cur.fetchmany(size if size is not None else self._cur.arraysize)

    async def fetchall(self) -> list[Any]:
        return self._cur.fetchall()

    async def nextset(self) -> None:
        return None

    async def close(self) -> None:
        self._cur.close()


class LoopSqliteConnection:
    """The part of ``aiosqlite.Connection`` that SQLAlchemy's aiosqlite dialect uses, run on the loop.

    Statements run at once on the calling (event-loop) thread; only a statement that meets a
    lock (SQLITE_BUSY) moves to a lock-waiter thread, where it waits with the busy timeout.  The
    pool hands a connection to one unit of work at a time, so the two threads never use it at once.
    """

    def __init__(self, path: str, checkpointer: Checkpointer | None = None) -> None:
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=0)
        self._connection: sqlite3.Connection | None = self._conn  # aiosqlite's "is open" attribute
        self._tx = _Immediate()
        self._checkpointer = checkpointer

    @property
    def isolation_level(self) -> str | None:
        return self._conn.isolation_level

    @isolation_level.setter
    def isolation_level(self, value: str | None) -> None:
        self._conn.isolation_level = value  # type: ignore[assignment]  # sqlite3 checks the value itself

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        try:
            return fn(*args)
        except sqlite3.OperationalError as exc:
            if not _is_busy(exc):
                raise
        # The lock is held elsewhere: wait for it off the loop.  A statement refused with
        # SQLITE_BUSY did nothing (a refused BEGIN IMMEDIATE leaves no transaction open).
        return await _off_loop(self._run_waiting, fn, args)

    def _run_waiting(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
        self._conn.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        try:
            return fn(*args)
        finally:
            self._conn.execute("PRAGMA busy_timeout=0")

    def begin(self, statement: str) -> None:
        self._conn.execute(statement)

    def cursor(self) -> _LoopCursor:
        return _LoopCursor(self)

    async def commit(self) -> None:
        await self.run(self._conn.commit)
        if self._checkpointer is not None:
            self._checkpointer.committed()

    async def rollback(self) -> None:
        await self.run(self._conn.rollback)

    async def create_function(self, *args: Any, **kw: Any) -> None:
        self._conn.create_function(*args, **kw)

    async def close(self) -> None:
        self.stop()

    def stop(self) -> None:
        if self._connection is not None:
            self._connection = None
            self._conn.close()


class RawSqlite:
    """Small transactions straight on ``sqlite3``, for the limiter's counters (no ORM).

    A counter update is one indexed upsert: microseconds in SQLite, but about half a millisecond
    through SQLAlchemy's async session (greenlet hops, events, pooling).  Sign-in and code sending
    touch several counters per request, so they run here, with the rules of
    :class:`LoopSqliteConnection`: on the event loop, never waiting for a lock there (a busy
    database moves the whole transaction to a lock-waiter thread with the busy timeout).  One
    connection, used by one transaction at a time (an ``asyncio.Lock`` that is only ever waited
    for while a transaction sits in a lock-waiter thread).
    """

    def __init__(self, path: str, checkpointer: Checkpointer | None = None) -> None:
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=0)
        for pragma in ("journal_mode=WAL", "busy_timeout=0", "synchronous=NORMAL", "foreign_keys=ON",
                       "wal_autocheckpoint=0"):
            self._conn.execute(f"PRAGMA {pragma}").fetchall()
        self._checkpointer = checkpointer
        self._lock = asyncio.Lock()

    async def write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` in one ``BEGIN IMMEDIATE`` transaction; commit, or roll back if it raises."""
        async with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc):
                    raise
                return await self._waiting(self._write_waiting, fn)
            try:
                result = fn(self._conn)
                self._conn.execute("COMMIT")
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc) or not self._conn.in_transaction:
                    self._rollback()
                    raise
                await self._waiting(self._commit_waiting, None)  # WAL commits do not wait; just in case
            except BaseException:
                self._rollback()
                raise
            if self._checkpointer is not None:
                self._checkpointer.committed()
            return result

    async def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` (its statements) outside any write transaction."""
        async with self._lock:
            try:
                return fn(self._conn)
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc):
                    raise
            return await self._waiting(self._read_waiting, fn)

    def _rollback(self) -> None:
        if self._conn.in_transaction:
            self._conn.execute("ROLLBACK")

    async def _waiting(self, job: Callable[[Any], T], arg: Any) -> T:
        return await _off_loop(job, arg)

    def _patient(self, job: Callable[[], T]) -> T:
        self._conn.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        try:
            return job()
        finally:
            self._conn.execute("PRAGMA busy_timeout=0")

    def _write_waiting(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        def job() -> T:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                result = fn(self._conn)
                self._conn.execute("COMMIT")
            except BaseException:
                self._rollback()
                raise
            return result

        result = self._patient(job)
        if self._checkpointer is not None:
            self._checkpointer.committed()
        return result

    def _commit_waiting(self, _: None) -> None:
        def job() -> None:
            try:
                self._conn.execute("COMMIT")
            except BaseException:
                self._rollback()
                raise

        self._patient(job)

    def _read_waiting(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return self._patient(lambda: fn(self._conn))

    def close(self) -> None:
        self._conn.close()


def _begin(statement: str) -> Callable[[Any], None]:
    """The ``begin`` listener: straight to the driver when it is ours (it is one statement per
    unit of work, and SQLAlchemy's full execution path costs more than the statement), else as SQL.
    A lock, or any other error, takes the ordinary path (wait off the loop, errors wrapped as usual).
    """

    def begin(conn: Any) -> None:
        driver = conn.connection.driver_connection
        if isinstance(driver, LoopSqliteConnection):
            try:
                driver.begin(statement)
                return
            except sqlite3.Error:
                pass
        conn.exec_driver_sql(statement)

    return begin


def _loop_sqlite_path(url: str) -> str | None:
    """The file behind a plain ``sqlite+aiosqlite:///path`` URL, else None (memory, URI options)."""
    u = make_url(url)
    if u.get_backend_name() != "sqlite" or u.query or not u.database or u.database == ":memory:":
        return None
    return u.database


def _sqlite_engine(url: str, echo: bool, checkpointer: Checkpointer | None, path: str | None) -> AsyncEngine:
    kw: dict[str, Any] = {"echo": echo, "pool_size": 8, "max_overflow": 8}
    if path is not None:
        async def connect() -> LoopSqliteConnection:
            return LoopSqliteConnection(path, checkpointer)

        kw["async_creator"] = connect
    return create_async_engine(url, **kw)


class Database:
    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self._checkpointer: Checkpointer | None = None
        self._path: str | None = None
        self._raw: RawSqlite | None = None
        if self.is_sqlite:
            path = self._path = _loop_sqlite_path(url)
            if path is not None:
                self._checkpointer = Checkpointer(path)
            self.writer = _sqlite_engine(url, echo, self._checkpointer, path)
            self.reader = _sqlite_engine(url, echo, None, path)
            event.listen(self.writer.sync_engine, "connect", _sqlite_pragmas)
            event.listen(self.reader.sync_engine, "connect", _sqlite_pragmas)
            event.listen(self.writer.sync_engine, "begin", _begin("BEGIN IMMEDIATE"))
            event.listen(self.reader.sync_engine, "begin", _begin("BEGIN"))
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

    def raw_sqlite(self) -> RawSqlite | None:
        """The ORM-free connection for tiny hot transactions, when this is an SQLite file."""
        if self._path is not None and self._raw is None:
            self._raw = RawSqlite(self._path, self._checkpointer)
        return self._raw

    async def dispose(self) -> None:
        if self._raw is not None:
            self._raw.close()
            self._raw = None
        await self.writer.dispose()
        if self.reader is not self.writer:
            await self.reader.dispose()
        if self._checkpointer is not None:
            self._checkpointer.close()


def sync_url(url: str) -> str:
    """The blocking-driver form of a URL (used by the hot-path session reader and tests)."""
    return url.replace("+aiosqlite", "").replace("+asyncpg", "+psycopg")


def make_migration_engine(url: str) -> AsyncEngine:
    engine = create_async_engine(url, poolclass=NullPool)
    if url.startswith("sqlite"):
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", lambda c: c.exec_driver_sql("BEGIN IMMEDIATE"))
    return engine
