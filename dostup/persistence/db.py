"""Engines and units of work.

SQLite rules (why zero requests fail under 50 concurrent writers, with two processes too):
WAL journal so readers never wait for the writer; ``busy_timeout`` so a writer waits for the lock
instead of failing; and every *write* unit of work starts with ``BEGIN IMMEDIATE``, because a
deferred transaction that reads first and writes later cannot wait on a lock upgrade and fails
with SQLITE_BUSY at once.  Slow work (password hashing, network) never runs inside a unit of work.

ORM units of work (:meth:`Database.write`, :meth:`Database.read`) run on SQLAlchemy's aiosqlite
dialect as shipped: statements and lock waits happen in aiosqlite's thread, so the event loop
stays free while a long unit runs or waits for another process's lock.  A write unit waits for
the lock in short steps (:func:`_take_write_lock`), and a unit's begin, commit and close run to
their end even when its caller is cancelled (:func:`_whole`): cancelling a unit is prompt and
leaves no driver thread working for a closed loop.  Only the hot paths' units, which take microseconds, run on
the loop itself (:class:`SyncOnLoop`: :meth:`Database.first`, :meth:`Database.append` and the
limiter's counters), because handing them to a thread would cost more than running them
(bench/RESULTS.md); they never wait for a lock on the loop.  The session check reads through its
own driver connection (``dostup.session.reader``).

A unit of work opened inside an open write unit of the same task raises
:class:`NestedUnitOfWork` at once: on SQLite it would wait the whole busy timeout for the lock its
own task holds and then fail, while on PostgreSQL it would quietly run outside the outer
transaction.
"""

from __future__ import annotations

import asyncio
import contextvars
import datetime as dt
import json
import mmap
import os
import sqlite3
import struct
import threading
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from sqlalchemy import JSON, DateTime, Executable, Table, TextClause, event, insert, inspect, text
from sqlalchemy.engine import Connection, Row, make_url
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import NullPool

SQLITE_BUSY_TIMEOUT_MS = 60_000  # how long a unit waits for a lock before it fails
# A unit waits for the lock in steps of this length, so that cancelling it takes at most one step
# (a driver call cannot be interrupted while SQLite's busy handler waits).
SQLITE_LOCK_STEP_MS = 100
T = TypeVar("T")
T2 = TypeVar("T2")
WAL_CHECKPOINT_FRAMES = 1000  # as SQLite's default auto-checkpoint (``wal_autocheckpoint``): 1,000 pages


def _pragmas(busy_ms: int, *, autocheckpoint: bool = True, cache_mib: int | None = None) -> Callable[[Any, Any], None]:
    """The ``connect`` listener of every SQLite engine (aiosqlite's, and :class:`SyncOnLoop`'s)."""

    def connect(dbapi_conn: Any, _record: Any) -> None:
        if dbapi_conn.isolation_level is not None:
            dbapi_conn.isolation_level = None  # BEGIN is ours (the ``begin`` listener)
        cur = dbapi_conn.cursor()
        for pragma in ("journal_mode=WAL", f"busy_timeout={busy_ms}", "synchronous=NORMAL", "foreign_keys=ON",
                       *(() if autocheckpoint else ("wal_autocheckpoint=0",)),
                       *(() if cache_mib is None else (f"cache_size=-{int(cache_mib) * 1024}",))):  # KiB
            cur.execute(f"PRAGMA {pragma}")
        cur.close()

    return connect


def _is_busy(exc: BaseException) -> bool:
    """SQLITE_BUSY or SQLITE_LOCKED, raw or wrapped by SQLAlchemy."""
    if isinstance(exc, OperationalError):
        exc = exc.orig  # type: ignore[assignment]  # the driver's exception
    if not isinstance(exc, sqlite3.OperationalError):
        return False
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
    return "locked" in str(exc)


# -- nested units of work -------------------------------------------------------------------

class NestedUnitOfWork(RuntimeError):
    """A unit of work was opened while a write unit of the same task is open.

    A programming error, not a user-visible one (hence no catalog id): on SQLite the inner unit
    would wait the whole busy timeout for the write lock its own task holds, then fail with
    ``database is locked``; on PostgreSQL it would run outside the outer transaction and miss
    its uncommitted rows.  Finish the outer unit first, or do the work with its session.
    """


# The task whose write unit is open in this context.  Tasks started inside a write inherit the
# value but are other tasks: they wait for the lock like any other writer (no false alarm).
_open_write: contextvars.ContextVar[asyncio.Task[Any] | None] = contextvars.ContextVar(
    "dostup_open_write", default=None)


def _not_nested(unit: str) -> None:
    owner = _open_write.get()
    if owner is not None and owner is asyncio.current_task():
        raise NestedUnitOfWork(f"{unit} opened inside an open Database.write() of the same task: "
                               "finish that unit first, or do the work with its session")


# -- the hot paths' SQLite units, on the event loop ------------------------------------------

_waiters: ThreadPoolExecutor | None = None
_waiters_lock = threading.Lock()


def _lock_waiters() -> ThreadPoolExecutor:
    global _waiters
    with _waiters_lock:
        if _waiters is None:
            _waiters = ThreadPoolExecutor(max_workers=32, thread_name_prefix="sqlite-wait")
        return _waiters


async def _off_loop(fn: Callable[[threading.Event], T]) -> T:
    """``fn(cancelled)`` in a lock-waiter thread.

    If the caller is cancelled meanwhile, ``cancelled`` is set and the cancellation waits for the
    thread (one lock-wait step at most), so that a cancelled unit is over when the caller hears
    of it: it either finished or never will.  The thread's own outcome is then moot (retrieved
    here, so asyncio does not log it as "never retrieved").
    """
    cancelled = threading.Event()
    future = asyncio.get_running_loop().run_in_executor(_lock_waiters(), fn, cancelled)
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        cancelled.set()
        await asyncio.wait([future])
        if not future.cancelled():
            future.exception()
        raise


#: One read-only descriptor per ``-shm`` file (device, inode) in this process, never closed while the
#: file exists.  POSIX record locks belong to the process and the inode, and closing *any*
#: descriptor of the file releases all of them: closing ours would drop SQLite's shared lock on the
#: WAL-index, the next process to open the database would find it unused and rebuild it under this
#: one's connections (SIGBUS).  ``tests/unit/test_checkpointer_shm_locks.py``.
_SHM_DESCRIPTORS: dict[tuple[int, int], int] = {}
_SHM_DESCRIPTORS_LOCK = threading.Lock()


def _shm_descriptor(path: str, file: tuple[int, int]) -> int | None:
    with _SHM_DESCRIPTORS_LOCK:
        for key, fd in list(_SHM_DESCRIPTORS.items()):  # a deleted file: nobody can open it, its locks guard nothing
            try:
                gone = os.fstat(fd).st_nlink == 0
            except OSError:
                gone = True
            if gone:
                del _SHM_DESCRIPTORS[key]
                os.close(fd)
        if file in _SHM_DESCRIPTORS:
            return _SHM_DESCRIPTORS[file]
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            return None
        st = os.fstat(fd)
        # replaced between the stat and the open: kept all the same (closing it would drop the locks)
        return _SHM_DESCRIPTORS.setdefault((st.st_dev, st.st_ino), fd)


class Checkpointer:
    """Keeps the WAL short with PASSIVE checkpoints run in a thread, one at a time per database.

    :class:`SyncOnLoop` commits on the loop, where an automatic checkpoint (the only fsync with
    ``synchronous=NORMAL``) would stall it, so its connections have ``wal_autocheckpoint=0`` and
    report their commits here instead.  The ORM's aiosqlite connections checkpoint by themselves,
    in their own threads; a sign-in storm writes through :class:`SyncOnLoop` alone, though.

    When: as SQLite's own auto-checkpoint would, once the WAL holds :data:`WAL_CHECKPOINT_FRAMES`
    frames not yet copied into the database — counted from the WAL-index header in the ``-shm``
    file (``mxFrame - nBackfill``, https://www.sqlite.org/walformat.html §2.1), looked at every
    :data:`CHECK_EVERY` commits.  Not by the WAL file's size: SQLite starts a checkpointed WAL over
    from its beginning without shrinking the file, so once it had grown past the threshold a size
    test asked for a checkpoint every 32 commits whatever they wrote (a passkey sign-in writes ~19
    pages: a checkpoint every ~600 frames instead of 1,000, each with its two fsyncs).
    """

    CHECK_EVERY = 32

    def __init__(self, path: str) -> None:
        self._path = path
        self._shm_path = path + "-shm"
        self._busy = False
        self._commits = 0
        self._conn: sqlite3.Connection | None = None
        self._shm: mmap.mmap | None = None
        self._shm_file: tuple[int, int] | None = None  # (device, inode) of the mapped -shm file

    def committed(self) -> None:
        self._commits += 1
        if self._commits % self.CHECK_EVERY or self._busy:
            return
        if self.pending_frames() >= WAL_CHECKPOINT_FRAMES:
            self._busy = True
            _lock_waiters().submit(self._checkpoint)

    def pending_frames(self) -> int:
        """Frames in the WAL not yet copied into the database (0 when the WAL-index cannot be read)."""
        try:
            st = os.stat(self._shm_path)
        except OSError:
            return 0
        if self._shm is None or self._shm_file != (st.st_dev, st.st_ino):  # first look, or a new -shm file
            self._unmap()
            if st.st_size < _SHM_HEADER_BYTES:
                return 0
            fd = _shm_descriptor(self._shm_path, (st.st_dev, st.st_ino))
            if fd is None:
                return 0
            try:
                self._shm = mmap.mmap(fd, _SHM_HEADER_BYTES, mmap.MAP_SHARED, mmap.PROT_READ)
            except (OSError, ValueError):
                return 0
            self._shm_file = (st.st_dev, st.st_ino)
        max_frame: int = _U32.unpack_from(self._shm, _SHM_MAX_FRAME)[0]
        backfilled: int = _U32.unpack_from(self._shm, _SHM_BACKFILL)[0]
        return max(0, max_frame - backfilled)

    def _checkpoint(self) -> None:
        try:
            if self._conn is None:
                self._conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False, timeout=0)
            self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error:
            pass  # retried after the next commits
        finally:
            self._busy = False

    def _unmap(self) -> None:
        if self._shm is not None:
            self._shm.close()
            self._shm = None
            self._shm_file = None

    def close(self) -> None:
        self._unmap()
        if self._conn is not None:
            self._conn.close()
            self._conn = None


# The WAL-index header (https://www.sqlite.org/walformat.html §2.1), native byte order: ``mxFrame``
# of the first copy of the header at byte 16, ``nBackfill`` of the checkpoint information at byte 96.
_U32 = struct.Struct("=I")
_SHM_MAX_FRAME = 16
_SHM_BACKFILL = 96
_SHM_HEADER_BYTES = 136


class Adds(Protocol):
    """What code that only adds rows needs from a unit of work (a session, :class:`Appends` or a
    :class:`Raw` unit)."""

    def add(self, instance: Any) -> None: ...


def add_row(db: Adds, model: Any, values: dict[str, Any]) -> None:
    """Add a new row of ``model`` with these column values: as plain values where the unit of
    work takes them (:class:`Appends`, :class:`Raw`: no ORM object is built), else as an object."""
    insert_row = getattr(db, "insert_row", None)
    if insert_row is not None:
        insert_row(model.__table__, values)
    else:
        db.add(model(**values))


class Appends:
    """The unit of work of :meth:`Database.append`: collects new objects (or plain rows) to insert."""

    __slots__ = ("rows",)

    def __init__(self) -> None:
        self.rows: list[Any] = []

    def add(self, instance: Any) -> None:
        self.rows.append(instance)

    def insert_row(self, table: Table, values: dict[str, Any]) -> None:
        self.rows.append((table, values))

    def inserts(self) -> list[tuple[Any, dict[str, Any]]]:
        """(table, values) of each row, in the order added (objects are read now: callers may set
        attributes after adding them)."""
        return [row if isinstance(row, tuple) else _insert_of(row) for row in self.rows]


_COLUMN_KEYS: dict[Any, tuple[tuple[str, str], ...]] = {}


def _column_keys(mapper: Any) -> tuple[tuple[str, str], ...]:
    """(attribute, column) for each column attribute of the mapper."""
    keys = _COLUMN_KEYS.get(mapper)
    if keys is None:
        keys = _COLUMN_KEYS[mapper] = tuple((prop.key, prop.columns[0].key) for prop in mapper.column_attrs)
    return keys


_INSERTS: dict[Any, Any] = {}


def _insert(table: Any) -> Any:
    """One INSERT statement object per table: built once, its cache key computed once."""
    stmt = _INSERTS.get(table)
    if stmt is None:
        stmt = _INSERTS[table] = insert(table)
    return stmt


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
    which waits for the lock up to the busy timeout.

    While such a unit is away, the loop's next write units wait for it instead of trying the lock
    themselves: the thread holds the lock between its statements but needs the GIL for them, so
    write units tried meanwhile on a busy loop would meet the lock too, each go to a thread of its
    own, and keep the lock taken from there — under a steady stream of writes (32 concurrent token
    requests) every unit ended up in a thread, at twice the CPU, and never came back to the loop.
    """

    def __init__(self, path: str, checkpointer: Checkpointer | None, cache_mib: int | None = None) -> None:
        from sqlalchemy import create_engine

        self._checkpointer = checkpointer
        self.quick = create_engine(f"sqlite:///{path}", pool_size=1, max_overflow=0)
        self._conn: Connection | None = None  # the loop's own: its units never interleave
        self._away = 0  # write units waiting for the lock in a thread
        self._back = asyncio.Event()  # set when none is
        self._back.set()
        self.patient = create_engine(f"sqlite:///{path}", pool_size=1, max_overflow=32)
        event.listen(self.quick, "connect", _pragmas(0, autocheckpoint=False, cache_mib=cache_mib))
        event.listen(self.patient, "connect", _pragmas(SQLITE_LOCK_STEP_MS, autocheckpoint=False))

    async def run(self, job: Callable[[Connection, T2], T], arg: T2, *, writes: bool = True) -> T:
        if self._conn is None:
            self._conn = self.quick.connect()
        while writes and self._away:
            await self._back.wait()
        try:
            return job(self._conn, arg)
        except (OperationalError, sqlite3.OperationalError) as exc:
            if not _is_busy(exc):
                raise
        if not writes:
            return await _off_loop(lambda cancelled: self._patiently(job, arg, cancelled))
        self._away += 1
        self._back.clear()
        try:
            return await _off_loop(lambda cancelled: self._patiently(job, arg, cancelled))
        finally:
            self._away -= 1
            if not self._away:
                self._back.set()

    # The limiter's counters: plain sqlite3 statements on the same connections (a counter upsert
    # takes microseconds; SQLAlchemy's execution context would cost several times that).

    async def write_sqlite3(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """``fn`` with the driver connection, in one ``BEGIN IMMEDIATE`` transaction."""
        _not_nested("A counter update")
        return await self.run(self._write_sqlite3, fn)

    async def read_sqlite3(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """``fn`` with the driver connection, outside any write transaction."""
        _not_nested("A counter read")
        return await self.run(lambda conn, f: f(_driver(conn)), fn, writes=False)

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

    def raw_job(self, conn: Connection, job: Callable[[Raw], T]) -> T:
        """``job`` with plain SQL on the driver connection (and Core statements on ``conn``, which
        wraps it), in one ``BEGIN IMMEDIATE`` transaction."""
        try:
            return self._write_sqlite3(conn, lambda _: job(_SqliteRaw(conn)))
        finally:
            if conn.in_transaction():  # Core statements ran: SQLAlchemy's bookkeeping (the driver is done)
                conn.rollback()

    def raw_read(self, conn: Connection, job: Callable[[Raw], T]) -> T:
        try:
            return job(_SqliteRaw(conn))
        finally:
            if conn.in_transaction():
                conn.rollback()

    def _patiently(self, job: Callable[[Connection, T2], T], arg: T2, cancelled: threading.Event) -> T:
        """The job on a connection that waits for the lock, in steps (see :func:`_take_write_lock`);
        a job that meets a lock has rolled back, so it is simply run again."""
        deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
        with self.patient.connect() as conn:
            while True:
                try:
                    return job(conn, arg)
                except (OperationalError, sqlite3.OperationalError) as exc:
                    if not _is_busy(exc) or cancelled.is_set() or time.monotonic() >= deadline:
                        raise

    @staticmethod
    def read_first(conn: Connection, query: tuple[Executable, dict[str, Any] | None]) -> Row[Any] | None:
        try:  # one SELECT: SQLite's own implicit read transaction
            return conn.execute(*query).first()
        finally:
            conn.rollback()

    def write_all(self, conn: Connection, inserts: list[tuple[Any, dict[str, Any]]]) -> None:
        """New rows in one transaction, as plain ``sqlite3`` INSERTs (:meth:`Raw.insert_row`: the
        values converted as SQLAlchemy's SQLite dialect stores them); a unique conflict is raised
        as SQLAlchemy's ``IntegrityError``, as from every other unit of work."""

        def insert_all(raw: Raw) -> None:
            for table, values in inserts:
                raw.insert_row(table, values)

        try:
            self.raw_job(conn, insert_all)
        except sqlite3.IntegrityError as exc:
            raise IntegrityError("INSERT", None, exc) from exc

    def write_job(self, conn: Connection, job: Callable[[Connection, Appends], T]) -> T:
        """``job`` and then its added rows, in one ``BEGIN IMMEDIATE`` transaction."""
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            batch = Appends()
            result = job(conn, batch)
            for table, values in batch.inserts():
                conn.execute(_insert(table), [values])
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
        if self._checkpointer is not None:
            self._checkpointer.committed()
        return result

    def dispose(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        self.quick.dispose()
        self.patient.dispose()


def _driver(conn: Connection) -> sqlite3.Connection:
    return conn.connection.dbapi_connection  # type: ignore[return-value]


# -- plain SQL units of work ----------------------------------------------------------------
# SQLAlchemy's execution context costs ~40 us a statement here, a plain sqlite3 call ~10 us; a
# hot path that reads, updates and inserts a handful of rows (a second sign-in step: the flow,
# the credential, the counters, the account, the session and its events) writes plain SQL with
# ``:name`` parameters, the same text for SQLite and PostgreSQL (both have RETURNING and
# ON CONFLICT), run by :meth:`Database.run_raw`.


class Raw:
    """One write transaction of plain SQL statements (``:name`` parameters).

    Times are naive UTC: pass them through :meth:`time`, read them back with :meth:`read_time`;
    JSON values through :meth:`json` / :meth:`read_json` (each backend stores them its own way).
    New rows are ``add``ed as ORM objects or, without building one, :meth:`insert_row`'d as
    column values (:func:`add_row`): they are inserted at once, with the columns' plain defaults.
    """

    def one(self, sql: str, params: dict[str, Any]) -> tuple[Any, ...] | None:
        raise NotImplementedError

    def all(self, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def run(self, sql: str, params: dict[str, Any]) -> int:
        """Run a statement; the number of rows it changed."""
        raise NotImplementedError

    def time(self, value: dt.datetime) -> Any:
        raise NotImplementedError

    @staticmethod
    def read_time(value: Any) -> dt.datetime:
        return dt.datetime.fromisoformat(value) if isinstance(value, str) else value

    @staticmethod
    def json(value: Any) -> str:
        return json.dumps(value)

    @staticmethod
    def read_json(value: Any) -> Any:
        return json.loads(value) if isinstance(value, str | bytes) else value

    @property
    def core(self) -> Connection:
        """SQLAlchemy's connection, in the same transaction, for statements off the hot path."""
        raise NotImplementedError

    def add(self, instance: Any) -> None:
        self.insert_row(*_insert_of(instance))

    def insert_row(self, table: Table, values: dict[str, Any]) -> None:
        sql, columns = _raw_insert(table, tuple(values))
        params: dict[str, Any] = {}
        for name, kind, default in columns:
            value = values[name] if name in values else default
            if value is not None and kind is not None:
                value = self.time(value) if kind == "time" else self.json(value)
            params[name] = value
        self.run(sql, params)


_RAW_INSERTS: dict[tuple[str, tuple[str, ...]], tuple[str, list[tuple[str, str | None, Any]]]] = {}


def _raw_insert(table: Table, given: tuple[str, ...]) -> tuple[str, list[tuple[str, str | None, Any]]]:
    """``INSERT`` text for these given columns plus those with a plain default, and how each value
    is converted (``time``, ``json`` or as is); built once per table and column set."""
    key = (table.name, given)
    plan = _RAW_INSERTS.get(key)
    if plan is None:
        columns: list[tuple[str, str | None, Any]] = []
        for col in table.columns:
            default = col.default
            if col.key not in given and default is None:
                continue
            value = None
            if col.key not in given and default is not None:
                arg = getattr(default, "arg", None)
                value = arg(None) if callable(arg) else arg
            kind = "time" if isinstance(col.type, DateTime) else "json" if isinstance(col.type, JSON) else None
            columns.append((col.key, kind, value))
        names = ", ".join(f'"{c}"' for c, _, _ in columns)
        marks = ", ".join(f":{c}" for c, _, _ in columns)
        plan = _RAW_INSERTS[key] = (f"INSERT INTO {table.name} ({names}) VALUES ({marks})", columns)  # noqa: S608
    return plan


def sqlite_time(value: dt.datetime) -> str:
    """A naive UTC time as SQLAlchemy's SQLite dialect stores it (compared as text)."""
    return value.isoformat(" ", "microseconds")


class _SqliteRaw(Raw):
    """On the SQLite file's loop connection, straight through ``sqlite3``."""

    __slots__ = ("_c", "_core")

    def __init__(self, core: Connection) -> None:
        self._core = core
        self._c = _driver(core)

    @property
    def core(self) -> Connection:
        return self._core

    def one(self, sql: str, params: dict[str, Any]) -> tuple[Any, ...] | None:
        return self._c.execute(sql, params).fetchone()  # type: ignore[no-any-return]

    def all(self, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        return self._c.execute(sql, params).fetchall()

    def run(self, sql: str, params: dict[str, Any]) -> int:
        return self._c.execute(sql, params).rowcount

    def time(self, value: dt.datetime) -> str:
        return sqlite_time(value)


_TEXTS: dict[str, TextClause] = {}


class _SqlRaw(Raw):
    """Through SQLAlchemy's connection (PostgreSQL; an SQLite URL with options): ``text()`` built
    once per statement, so only the driver's own work and the execution context remain."""

    __slots__ = ("_conn", "_sqlite")

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._sqlite = conn.dialect.name == "sqlite"

    def _execute(self, sql: str, params: dict[str, Any]) -> Any:
        stmt = _TEXTS.get(sql)
        if stmt is None:
            stmt = _TEXTS[sql] = text(sql)
        return self._conn.execute(stmt, params)

    def one(self, sql: str, params: dict[str, Any]) -> tuple[Any, ...] | None:
        row = self._execute(sql, params).first()
        return None if row is None else tuple(row)

    def all(self, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in self._execute(sql, params)]

    def run(self, sql: str, params: dict[str, Any]) -> int:
        return int(self._execute(sql, params).rowcount)

    def time(self, value: dt.datetime) -> Any:
        return sqlite_time(value) if self._sqlite else value

    @property
    def core(self) -> Connection:
        return self._conn


def _loop_sqlite_path(url: str) -> str | None:
    """The file behind a plain ``sqlite+aiosqlite:///path`` URL, else None (memory, URI options)."""
    u = make_url(url)
    if u.get_backend_name() != "sqlite" or u.query or not u.database or u.database == ":memory:":
        return None
    return u.database


@dataclass(frozen=True, slots=True)
class Timeouts:
    """The waits for PostgreSQL (``DOSTUP_DB__*``, :class:`dostup.settings.DatabaseSettings`)."""

    connect_timeout_seconds: float = 2.0
    statement_timeout_seconds: float = 3.0
    pool_timeout_seconds: float = 2.0
    pool_size: int = 10

    @property
    def acquire_seconds(self) -> float:
        """How long a unit of work may take to get its connection: waiting for a free one in the
        pool and opening a new one count against this one budget, so that the two waits never
        add up (a request queued on the pool of a frozen database would otherwise wait the pool
        timeout and then a connect timeout)."""
        return max(self.connect_timeout_seconds, self.pool_timeout_seconds)


def connect_budget(timeouts: Timeouts) -> float:
    """The connect timeout for a connection opened now: what is left of the unit's budget for
    getting a connection (:func:`acquiring`), at most the connect timeout; raises TimeoutError
    when nothing is left (the unit waited that long for the pool)."""
    by = _ACQUIRE_BY.get()
    if by is None:
        return timeouts.connect_timeout_seconds
    left = by - time.monotonic()
    if left <= 0:
        raise TimeoutError("no database connection within the pool timeout")
    return min(timeouts.connect_timeout_seconds, left)


@contextmanager
def acquiring(timeouts: Timeouts) -> Iterator[None]:
    """The budget of a unit of work for getting its connection starts now (:func:`connect_budget`)."""
    token = _ACQUIRE_BY.set(time.monotonic() + timeouts.acquire_seconds)
    try:
        yield
    finally:
        _ACQUIRE_BY.reset(token)


_ACQUIRE_BY: contextvars.ContextVar[float | None] = contextvars.ContextVar("dostup_db_acquire_by", default=None)


def asyncpg_options(timeouts: Timeouts) -> dict[str, Any]:
    """``asyncpg.connect`` arguments that bound every wait for the server: the connection (TCP,
    TLS, start-up) and each statement, on the client (a frozen network) and on the server
    (``statement_timeout``: the server stops the work too)."""
    return {
        "connection_class": _quick_close_class(),
        "timeout": timeouts.connect_timeout_seconds,
        "command_timeout": timeouts.statement_timeout_seconds,
        "server_settings": {"statement_timeout": str(int(timeouts.statement_timeout_seconds * 1000))},
    }


_QUICK_CLOSE: list[type[Any]] = []
CLOSE_INVALIDATED_SECONDS = 0.2


def _quick_close_class() -> type[Any]:
    """asyncpg's connection, but an invalidated one is dropped at once: SQLAlchemy closes it
    "gracefully" with a 2 s timeout, which a frozen server spends in full after every timeout."""
    if not _QUICK_CLOSE:
        import asyncpg

        class QuickClose(asyncpg.Connection):  # type: ignore[misc]
            async def close(self, *, timeout: float | None = None) -> None:
                await super().close(timeout=None if timeout is None else min(timeout, CLOSE_INVALIDATED_SECONDS))

        _QUICK_CLOSE.append(QuickClose)
    return _QUICK_CLOSE[0]


# SQLSTATE classes of an unavailable server: 08 connection exception, 53 insufficient resources
# (too many connections), 57 operator intervention (shutting down, starting up, statement cancelled
# by its timeout), 58 system error.
_UNAVAILABLE_SQLSTATES = ("08", "53", "57", "58")


def unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) says the database is unreachable, down or frozen —
    not that the request did something wrong: such a request is answered 503, never 500."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, (ConnectionError, TimeoutError, PoolTimeout)):
            return True
        if isinstance(current, DBAPIError) and current.connection_invalidated:
            return True
        if isinstance(current, (InterfaceError, OperationalError)) and not _is_sqlite_error(current):
            return True
        if _is_busy(current):  # SQLite: the lock not free within the busy timeout
            return True
        state = getattr(current, "sqlstate", None)
        if isinstance(state, str) and state[:2] in _UNAVAILABLE_SQLSTATES:
            return True
        if type(current).__module__.startswith("asyncpg") and type(current).__name__ in (
                "InterfaceError", "ConnectionDoesNotExistError", "InternalClientError"):
            return True
        current = current.__cause__ or current.__context__
    return False


_UNSTORABLE_SQLSTATES = ("22021", "22P05")  # character_not_in_repertoire (a NUL), untranslatable_character


def unstorable(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) says a value the client sent cannot be stored as text: a NUL
    character (PostgreSQL refuses it) or a lone surrogate (no UTF-8 for it, on either backend).  Input
    checks refuse both where they know the field; this is the net under every other field — the unit of
    work rolled back, the request is answered 422, not 500."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, UnicodeEncodeError) and "surrogates not allowed" in str(current):
            return True
        if getattr(current, "sqlstate", None) in _UNSTORABLE_SQLSTATES:
            return True
        current = current.__cause__ or current.__context__
    return False


def _is_sqlite_error(exc: DBAPIError) -> bool:
    return isinstance(exc.orig, sqlite3.Error)


class DatabaseDown(ConnectionError):
    """Refused at once: the database did not answer the last request, and another request is
    already finding out whether it is back (:class:`Breaker`)."""


class Breaker:
    """Fail fast while the database is known to be down: one request at a time (the probe) waits
    for it, the others are refused at once (503) instead of each waiting out its own timeouts,
    which a crowd in front of a frozen database would queue for one after another.

    The first request that fails as :func:`unavailable` marks the database down (:meth:`trip`,
    before its connection goes back to the pool, so that whoever was waiting for that connection
    already knows); from then on, whoever comes while no probe is running becomes the probe, and
    its success marks it up again (recovery within one request of the database's return).  A unit
    of work that began before the database was marked down is not a probe: when it gets to open a
    connection it is refused (it was waiting in the queue for the pool or for a reader slot).
    PostgreSQL only: a busy SQLite file is not down.
    """

    def __init__(self) -> None:
        self.down = False
        self._probing = False

    def trip(self) -> None:
        self.down = True

    def check(self) -> None:
        """Before opening a connection: refused while the database is down, unless this is the
        probe — a request that was already waiting (for a pool slot) when the first failure came
        does not spend a connect timeout of its own.  The probe is known by a context variable,
        not by its task: a connect run under ``wait_for``/``shield`` is another task (a ``dostup
        worker`` was refused for good after PostgreSQL came back, tests/hosts).  Outside any
        unit of work (:meth:`attempt`) a connection is tried while no probe is running.
        """
        if self.down and _PROBE.get() is not self and (self._probing or _UNIT.get() is self):
            raise DatabaseDown("database unavailable")

    @contextmanager
    def attempt(self) -> Iterator[None]:
        probe = None
        if self.down:
            if self._probing:
                raise DatabaseDown("database unavailable")
            self._probing = True
            probe = _PROBE.set(self)
        unit = _UNIT.set(self)
        try:
            yield
        except BaseException as exc:
            if unavailable(exc):
                self.down = True
            elif not isinstance(exc, asyncio.CancelledError):
                self.down = False
            raise
        else:
            self.down = False
        finally:
            _UNIT.reset(unit)
            if probe is not None:
                self._probing = False
                _PROBE.reset(probe)


#: The breaker whose probe this context is (copied into the tasks it starts).
_PROBE: contextvars.ContextVar[Breaker | None] = contextvars.ContextVar("dostup_db_probe", default=None)
#: The breaker whose unit of work (:meth:`Breaker.attempt`) this context runs.
_UNIT: contextvars.ContextVar[Breaker | None] = contextvars.ContextVar("dostup_db_unit", default=None)


class Database:
    def __init__(self, url: str, *, echo: bool = False, timeouts: Timeouts | None = None,
                 sqlite_cache_mib: int | None = None) -> None:
        """``sqlite_cache_mib``: the page cache of the SQLite loop connection (``None``: SQLite's 2 MiB)."""
        self.url = url
        self.timeouts = timeouts or Timeouts()
        self.breaker = Breaker()  # shared with the session reader (services.py)
        self.is_sqlite = url.startswith("sqlite")
        self._checkpointer: Checkpointer | None = None
        self._on_loop: SyncOnLoop | None = None
        if self.is_sqlite:
            path = _loop_sqlite_path(url)
            if path is not None:
                self._checkpointer = Checkpointer(path)
                self._on_loop = SyncOnLoop(path, self._checkpointer, sqlite_cache_mib)
            self.writer = create_async_engine(url, echo=echo, pool_size=8, max_overflow=8)
            self.reader = create_async_engine(url, echo=echo, pool_size=8, max_overflow=8)
            for engine, begin, busy_ms in ((self.writer, "BEGIN IMMEDIATE", SQLITE_LOCK_STEP_MS),
                                           (self.reader, "BEGIN", SQLITE_BUSY_TIMEOUT_MS)):
                event.listen(engine.sync_engine, "connect", _pragmas(busy_ms))
                event.listen(engine.sync_engine, "begin", _emit(begin))
        else:
            t = self.timeouts
            self.writer = create_async_engine(url, echo=echo, pool_size=t.pool_size, max_overflow=t.pool_size,
                                              pool_pre_ping=False, pool_timeout=t.pool_timeout_seconds,
                                              connect_args=asyncpg_options(t))
            self.reader = self.writer
            event.listen(self.writer.sync_engine, "do_connect", self._before_connect)
        self._write = async_sessionmaker(self.writer, expire_on_commit=False)
        self._read = async_sessionmaker(self.reader, expire_on_commit=False)

    def _before_connect(self, _dialect: Any, _record: Any, _cargs: Any, cparams: dict[str, Any]) -> None:
        self.breaker.check()
        cparams["timeout"] = connect_budget(self.timeouts)

    @contextmanager
    def _guard(self) -> Iterator[None]:
        if self.is_sqlite:
            yield
            return
        with self.breaker.attempt(), acquiring(self.timeouts):
            yield

    @property
    def _trips(self) -> Breaker | None:
        """The breaker a failing unit trips before dropping its connection (None on SQLite)."""
        return None if self.is_sqlite else self.breaker

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """One short write transaction; commits on success, rolls back on any error."""
        with self._guard():
            async with self._write_unit() as session:
                yield session

    @asynccontextmanager
    async def _write_unit(self) -> AsyncIterator[AsyncSession]:
        _not_nested("Database.write()")
        token = _open_write.set(asyncio.current_task())
        session = self._write()
        try:
            await _take_write_lock(session)
            yield session
            await _whole(session.commit())
        except BaseException as exc:
            await _drop_if_unavailable(session, exc, self._trips)
            raise
        finally:
            _open_write.reset(token)
            await _whole(session.close())  # rolls back what is left open

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        with self._guard():
            async with self._read_unit() as session:
                yield session

    @asynccontextmanager
    async def _read_unit(self) -> AsyncIterator[AsyncSession]:
        _not_nested("Database.read()")
        session = self._read()
        try:
            await _whole(session.connection())  # connect and BEGIN (deferred)
            yield session
        except BaseException as exc:
            await _drop_if_unavailable(session, exc, self._trips)
            raise
        finally:
            await _whole(session.close())

    # -- the hot paths' lighter units of work ------------------------------------------------
    # An ORM session costs about twice the CPU of a Core connection for one small read or a
    # couple of inserts (identity map, flush bookkeeping, events), and on SQLite the async
    # bridge (a greenlet switch and a thread hand-off per statement) costs as much again.
    # Sign-in and registration use these two for their look-up and their append-only writes: on
    # an SQLite file they run through *synchronous* Core connections straight on the loop (the
    # statements take microseconds and never wait for a lock there: a busy database moves the
    # unit to a lock-waiter thread, see :class:`SyncOnLoop`); elsewhere through the async
    # engine's Core connections.

    async def first(self, stmt: Executable, params: dict[str, Any] | None = None) -> Row[Any] | None:
        """The first row of a read-only statement, without an ORM session.

        A hot look-up passes a statement built once with ``bindparam``s and its values in
        ``params``: SQLAlchemy then finds the compiled form by the statement's memoised cache key,
        where ``stmt.params(...)`` would copy the statement and compute the key afresh each call."""
        _not_nested("Database.first()")
        if self._on_loop is not None:
            return await self._on_loop.run(self._on_loop.read_first, (stmt, params), writes=False)
        with self._guard():
            async with _core(self.reader.connect(), self._trips) as conn:
                return (await conn.execute(stmt, params)).first()

    @asynccontextmanager
    async def append(self) -> AsyncIterator[Appends]:
        """A write unit of work that only adds new rows.

        Callers ``add`` new ORM objects as they would to a session; at the end they are inserted
        with Core INSERTs, in the order added, in one transaction (nothing is written if the
        block raises).  Only for plain new rows: no relationships, nothing to read back.
        """
        _not_nested("Database.append()")
        batch = Appends()
        yield batch
        if not batch.rows:
            return
        inserts = batch.inserts()
        if self._on_loop is not None:
            await self._on_loop.run(self._on_loop.write_all, inserts)
            return
        with self._guard():
            async with _core(self.writer.connect(), self._trips) as conn, conn.begin():
                for table, values in inserts:
                    await conn.execute(_insert(table), [values])

    async def run_write(self, job: Callable[[Connection, Appends], T]) -> T:
        """One write transaction of synchronous Core statements: ``job(connection, batch)`` runs
        them and ``add``s new rows to ``batch``, inserted after it in the same transaction.

        For a hot path that must read, update and insert in one unit of work (a passkey sign-in:
        spend the challenge, move the counter, open the session) without an ORM session: on an
        SQLite file on the loop's own connection (a busy database re-runs the whole job in a
        lock-waiter thread, so ``job`` must have no effect outside the transaction); elsewhere
        through the async engine's ``run_sync``.
        """
        if self._on_loop is not None:
            return await self._on_loop.run(self._on_loop.write_job, job)

        def in_transaction(conn: Connection) -> T:
            batch = Appends()
            result = job(conn, batch)
            for table, values in batch.inserts():
                conn.execute(_insert(table), [values])
            return result

        with self._guard():
            async with _core(self.writer.connect(), self._trips) as conn, conn.begin():
                return await conn.run_sync(in_transaction)

    async def run_raw(self, job: Callable[[Raw], T]) -> T:
        """One write transaction of plain SQL (:class:`Raw`): ``job(raw)`` runs its statements,
        committed when it returns, rolled back when it raises.

        On an SQLite file it runs on the loop's own connection (a busy database re-runs the whole
        job in a lock-waiter thread, so ``job`` must have no effect outside the transaction);
        elsewhere through the async engine's ``run_sync``.
        """
        _not_nested("Database.run_raw()")
        if self._on_loop is not None:
            return await self._on_loop.run(self._on_loop.raw_job, job)
        with self._guard():
            async with _core(self.writer.connect(), self._trips) as conn, conn.begin():
                return await conn.run_sync(lambda c: job(_SqlRaw(c)))

    async def read_raw(self, job: Callable[[Raw], T]) -> T:
        """Plain SQL reads outside any write transaction (each statement sees the latest commit):
        on an SQLite file on the loop's own connection, elsewhere through a reader connection."""
        _not_nested("Database.read_raw()")
        if self._on_loop is not None:
            return await self._on_loop.run(self._on_loop.raw_read, job, writes=False)
        with self._guard():
            async with _core(self.reader.connect(), self._trips) as conn:
                return await conn.run_sync(lambda c: job(_SqlRaw(c)))

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


async def _drop_if_unavailable(unit: AsyncSession | AsyncConnection, exc: BaseException,
                               breaker: Breaker | None) -> None:
    """After a timeout or a lost connection, drop the connection instead of rolling it back: a
    ROLLBACK sent to a frozen server would wait out the statement timeout a second time.  The
    breaker is tripped first: a unit waiting for this connection's place in the pool gets it
    only once the database is known to be down, and is refused instead of connecting."""
    if unavailable(exc):
        if breaker is not None:
            breaker.trip()
        await _whole(unit.invalidate())


@asynccontextmanager
async def _core(connecting: AsyncConnection, breaker: Breaker | None) -> AsyncIterator[AsyncConnection]:
    """A Core connection that is dropped, not rolled back, when the database is unavailable."""
    async with connecting as conn:
        try:
            yield conn
        except BaseException as exc:
            await _drop_if_unavailable(conn, exc, breaker)
            raise


async def _whole(step: Coroutine[Any, Any, T]) -> T:
    """A step of a unit (connect and begin, commit, close) run to its end even if the caller is
    cancelled meanwhile; the cancellation goes through after it.

    A driver call cancelled half-way makes SQLAlchemy drop the connection without waiting for
    aiosqlite's thread (or aiosqlite itself, when connecting), and the thread may then outlive
    the event loop.  Cancellation is still prompt: these steps take milliseconds, and a wait for
    the lock is one :data:`SQLITE_LOCK_STEP_MS` step at a time.
    """
    task = asyncio.ensure_future(step)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        await asyncio.wait([task])
        if not task.cancelled():
            task.exception()  # retrieved: the cancellation is what the caller hears of
        raise


async def _take_write_lock(session: AsyncSession) -> None:
    """Begin the session's transaction (``BEGIN IMMEDIATE``), waiting for the write lock.

    The driver waits at most :data:`SQLITE_LOCK_STEP_MS` at a time (its ``busy_timeout``); a
    refused BEGIN leaves no transaction open, so it is simply tried again until
    :data:`SQLITE_BUSY_TIMEOUT_MS` have passed.  Between steps the caller can be cancelled like
    any awaiting task, and a cancellation during a step waits for that step alone.  (PostgreSQL
    takes its locks statement by statement, on the server; its BEGIN is never refused.)
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            await _whole(session.connection())
            return
        except OperationalError as exc:
            if not _is_busy(exc) or time.monotonic() >= deadline:
                raise
        await _whole(session.rollback())


def _emit(begin: str) -> Callable[[Connection], None]:
    """The ``begin`` listener that replaces the driver's implicit BEGIN (SQLAlchemy's pysqlite recipe)."""

    def listener(conn: Connection) -> None:
        conn.exec_driver_sql(begin)

    return listener


def make_migration_engine(url: str) -> AsyncEngine:
    engine = create_async_engine(url, poolclass=NullPool)
    if url.startswith("sqlite"):
        event.listen(engine.sync_engine, "connect", _pragmas(SQLITE_BUSY_TIMEOUT_MS))
        event.listen(engine.sync_engine, "begin", _emit("BEGIN IMMEDIATE"))
    return engine
