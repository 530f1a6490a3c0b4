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
from typing import Any, Protocol, TypeVar

from sqlalchemy import Executable, event, insert, inspect
from sqlalchemy.engine import Connection, Row, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import NullPool

SQLITE_BUSY_TIMEOUT_MS = 60_000
T = TypeVar("T")
T2 = TypeVar("T2")
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


class Adds(Protocol):
    """What code that only adds rows needs from a unit of work (a session, or :class:`Appends`)."""

    def add(self, instance: Any) -> None: ...


class Appends:
    """The unit of work of :meth:`Database.append`: collects new objects to insert."""

    __slots__ = ("rows",)

    def __init__(self) -> None:
        self.rows: list[Any] = []

    def add(self, instance: Any) -> None:
        self.rows.append(instance)


_COLUMN_KEYS: dict[Any, tuple[tuple[str, str], ...]] = {}


def _column_keys(mapper: Any) -> tuple[tuple[str, str], ...]:
    """(attribute, column) for each column attribute of the mapper."""
    keys = _COLUMN_KEYS.get(mapper)
    if keys is None:
        keys = _COLUMN_KEYS[mapper] = tuple((prop.key, prop.columns[0].key) for prop in mapper.column_attrs)
    return keys


def _insert_of(instance: Any) -> tuple[Any, dict[str, Any]]:
    """The table and column values of a new ORM object (only the attributes it was given)."""
    state = inspect(instance)
    return state.mapper.local_table, {col: state.dict[attr] for attr, col in _column_keys(state.mapper)
                                      if attr in state.dict}


class SyncOnLoop:
    """Synchronous SQLAlchemy Core on an SQLite file, used from the event loop (see
    :meth:`Database.first` and :meth:`Database.append`, and the limiter's counters, which use the
    driver connection itself).

    The loop keeps one connection (``busy_timeout=0``); a unit runs on it from start to end
    without yielding, so units never interleave.  When a unit meets a lock it is rolled back
    (it wrote nothing) and run again in a lock-waiter thread on a connection of ``patient``,
    which waits the full busy timeout.
    """

    def __init__(self, path: str, checkpointer: Checkpointer | None) -> None:
        from sqlalchemy import create_engine

        self._checkpointer = checkpointer
        self.quick = create_engine(f"sqlite:///{path}", pool_size=1, max_overflow=0)
        self._conn: Connection | None = None  # the loop's own: its units never interleave
        self.patient = create_engine(f"sqlite:///{path}", pool_size=1, max_overflow=32)
        for engine, busy_ms in ((self.quick, 0), (self.patient, SQLITE_BUSY_TIMEOUT_MS)):
            event.listen(engine, "connect", _sync_pragmas(busy_ms))

    async def run(self, job: Callable[[Connection, T2], T], arg: T2) -> T:
        if self._conn is None:
            self._conn = self.quick.connect()
        try:
            return job(self._conn, arg)
        except (OperationalError, sqlite3.OperationalError) as exc:
            orig = exc.orig if isinstance(exc, OperationalError) else exc
            if not isinstance(orig, sqlite3.OperationalError) or not _is_busy(orig):
                raise
        return await _off_loop(self._patiently, job, arg)

    # The limiter's counters: plain sqlite3 statements on the same connections (a counter upsert
    # takes microseconds; SQLAlchemy's execution context would cost several times that).

    async def write_sqlite3(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """``fn`` with the driver connection, in one ``BEGIN IMMEDIATE`` transaction."""
        return await self.run(self._write_sqlite3, fn)

    async def read_sqlite3(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """``fn`` with the driver connection, outside any write transaction."""
        return await self.run(lambda conn, f: f(_driver(conn)), fn)

    def _write_sqlite3(self, conn: Connection, fn: Callable[[sqlite3.Connection], T]) -> T:
        raw = _driver(conn)
        try:
            raw.execute("BEGIN IMMEDIATE")
            result = fn(raw)
            raw.execute("COMMIT")
        except BaseException:
            if raw.in_transaction:
                raw.execute("ROLLBACK")
            raise
        if self._checkpointer is not None:
            self._checkpointer.committed()
        return result

    def _patiently(self, job: Callable[[Connection, T2], T], arg: T2) -> T:
        with self.patient.connect() as conn:
            return job(conn, arg)

    @staticmethod
    def read_first(conn: Connection, stmt: Executable) -> Row[Any] | None:
        try:  # one SELECT: SQLite's own implicit read transaction
            return conn.execute(stmt).first()
        finally:
            conn.rollback()

    def write_all(self, conn: Connection, inserts: list[tuple[Any, dict[str, Any]]]) -> None:
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            for table, values in inserts:
                conn.execute(insert(table), [values])
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
        if self._checkpointer is not None:
            self._checkpointer.committed()

    def dispose(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        self.quick.dispose()
        self.patient.dispose()


def _driver(conn: Connection) -> sqlite3.Connection:
    return conn.connection.dbapi_connection  # type: ignore[return-value]


def _sync_pragmas(busy_ms: int) -> Callable[[Any, Any], None]:
    def connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # BEGIN is ours
        cur = dbapi_conn.cursor()
        for pragma in ("journal_mode=WAL", f"busy_timeout={busy_ms}", "synchronous=NORMAL", "foreign_keys=ON",
                       "wal_autocheckpoint=0"):
            cur.execute(f"PRAGMA {pragma}")
        cur.close()

    return connect


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
        self._on_loop: SyncOnLoop | None = None
        if self.is_sqlite:
            path = self._path = _loop_sqlite_path(url)
            if path is not None:
                self._checkpointer = Checkpointer(path)
                self._on_loop = SyncOnLoop(path, self._checkpointer)
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

    # -- the hot paths' lighter units of work ------------------------------------------------
    # An ORM session costs about twice the CPU of a Core connection for one small read or a
    # couple of inserts (identity map, flush bookkeeping, events), and on SQLite the async
    # bridge (a greenlet switch per statement) costs as much again.  Sign-in and registration
    # use these two for their look-up and their append-only writes: on an SQLite file they run
    # through *synchronous* Core connections straight on the loop (the statements take
    # microseconds and never wait for a lock there: a busy database moves the unit to a
    # lock-waiter thread, as :class:`LoopSqliteConnection` does); elsewhere through the async
    # engine's Core connections.

    async def first(self, stmt: Executable) -> Row[Any] | None:
        """The first row of a read-only statement, without an ORM session."""
        if self._on_loop is not None:
            return await self._on_loop.run(self._on_loop.read_first, stmt)
        async with self.reader.connect() as conn:
            return (await conn.execute(stmt)).first()

    @asynccontextmanager
    async def append(self) -> AsyncIterator[Appends]:
        """A write unit of work that only adds new rows.

        Callers ``add`` new ORM objects as they would to a session; at the end they are inserted
        with Core INSERTs, in the order added, in one transaction (nothing is written if the
        block raises).  Only for plain new rows: no relationships, nothing to read back.
        """
        batch = Appends()
        yield batch
        if not batch.rows:
            return
        inserts = [_insert_of(instance) for instance in batch.rows]
        if self._on_loop is not None:
            await self._on_loop.run(self._on_loop.write_all, inserts)
            return
        async with self.writer.begin() as conn:
            for table, values in inserts:
                await conn.execute(insert(table), [values])

    def on_loop(self) -> SyncOnLoop | None:
        """The loop's own synchronous connection to the SQLite file (None for other databases)."""
        return self._on_loop

    async def dispose(self) -> None:
        if self._on_loop is not None:
            self._on_loop.dispose()
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
