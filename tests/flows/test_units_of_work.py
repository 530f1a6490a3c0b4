"""Units of work on both backends: the hot paths' lighter ones (Database.first / Database.append),
nesting, waiting for another process's lock and being cancelled meanwhile, and a long import
beside the event loop."""

from __future__ import annotations

import asyncio
import gc
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError

from dostup.accounts.events import record_event
from dostup.admin.contracts import ContractImporter, RowIn
from dostup.core.clock import FrozenClock
from dostup.core.context import Context
from dostup.core.crypto import random_id
from dostup.guards.store import sql_store
from dostup.identity import repository as accounts
from dostup.persistence import db as db_module
from dostup.persistence.db import Database, NestedUnitOfWork
from dostup.persistence.models import Account, SecurityEvent
from dostup.persistence.models import Session as SessionRow
from dostup.persistence.models_contracts import RegistryContract
from dostup.services import Services
from tests.factories import make_account

CTX = Context(ip="192.0.2.7", user_agent="pytest")


async def _account(services: Services, phone: str) -> str:
    return (await make_account(services, phone)).id
# Holds the SQLite write lock in a process of its own until a line arrives on its stdin.
_HOLD_LOCK = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
sys.stdin.readline()
conn.execute("COMMIT")
"""


@asynccontextmanager
async def lock_held_by_another_process(services: Services) -> AsyncIterator[Callable[[], None]]:
    """The database's write lock, held by another process until the yielded ``release()``.

    The loop is never blocked meanwhile: a unit of ours (the in-process courier's) may hold the
    lock when the holder starts, and it needs the loop to finish."""
    if not services.db.is_sqlite:
        pytest.skip("SQLite locking")
    path = make_url(services.settings.database_url).database
    assert path
    holder = subprocess.Popen([sys.executable, "-c", _HOLD_LOCK, path], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert holder.stdin is not None and holder.stdout is not None and holder.stderr is not None
    stdin = holder.stdin

    def release() -> None:
        if not stdin.closed:
            stdin.close()  # the holder reads end-of-file and commits

    try:
        locked = (await asyncio.to_thread(holder.stdout.readline)).strip()
        assert locked == "locked", holder.stderr.read()
        yield release
    finally:
        release()
        code = await asyncio.to_thread(holder.wait, 10)
        holder.stdout.close()
        errors = holder.stderr.read()
        holder.stderr.close()
        assert code == 0, errors


async def _count(services: Services, model: type) -> int:
    async with services.db.read() as s:
        return int((await s.execute(select(func.count()).select_from(model))).scalar_one())


async def test_append_inserts_everything_added_in_order(services: Services) -> None:
    account_id = (await make_account(services, "+79120000701")).id
    now = services.clock.now()
    async with services.db.append() as batch:
        record_event(batch, kind="login", outcome="success", ctx=CTX, now=now, account_id=account_id, method="phone")
        issued = services.sessions.issue(batch, account_id=account_id, ctx=CTX, kind="bearer")
    async with services.db.read() as s:
        row = await s.get(SessionRow, issued.id)
        event = (await s.execute(select(SecurityEvent))).scalar_one()
    assert row is not None and row.account_id == account_id and row.kind == "bearer" and row.revoked_at is None
    assert row.remember is False and row.aal == 1  # defaults and given values, typed back
    assert event.detail == {"method": "phone"} and event.created_at == now
    assert (await services.sessions.authenticate(issued.token)) is not None


async def test_append_writes_nothing_when_the_block_fails(services: Services) -> None:
    account_id = (await make_account(services, "+79120000702")).id
    with pytest.raises(RuntimeError):
        async with services.db.append() as batch:
            services.sessions.issue(batch, account_id=account_id, ctx=CTX)
            raise RuntimeError("boom")
    assert await _count(services, SessionRow) == 0


async def test_append_of_a_bad_row_writes_none_of_its_rows(services: Services) -> None:
    """One unit: a row breaking a constraint takes the rows before it down with it."""
    account_id = (await make_account(services, "+79120000703")).id
    now = services.clock.now()
    with pytest.raises(Exception, match="(?i)foreign key|violates"):
        async with services.db.append() as batch:
            record_event(batch, kind="login", outcome="success", ctx=CTX, now=now, account_id=account_id)
            services.sessions.issue(batch, account_id=random_id(), ctx=CTX)  # no such account
    assert await _count(services, SecurityEvent) == 0
    assert await _count(services, SessionRow) == 0


async def test_a_unique_conflict_in_append_is_sqlalchemys_integrity_error(services: Services) -> None:
    """Callers catch SQLAlchemy's ``IntegrityError`` (a parallel registration, a social link), on the
    SQLite loop's plain inserts as through the engine."""
    await make_account(services, "+79120000709")
    with pytest.raises(IntegrityError):
        async with services.db.append() as batch:
            batch.add(accounts.new_account(services.clock.now(), phone="+79120000709"))
    assert await _count(services, Account) == 1


async def test_the_sqlite_loop_connection_keeps_the_configured_page_cache(services: Services) -> None:
    """Sign-in reads the account by phone on the loop's own connection: at 10^6 accounts SQLite's
    default 2 MiB cache no longer holds the index pages it walks (DOSTUP_DB__SQLITE_LOOP_CACHE_MIB)."""
    loop = services.db.on_loop()
    if loop is None:
        pytest.skip("an SQLite file's loop connection")
    assert await accounts.detached_by(services.db, Account.phone, "+79120000710") is None
    assert loop._conn is not None
    kib = loop._conn.exec_driver_sql("PRAGMA cache_size").scalar()
    loop._conn.rollback()
    assert kib == -services.settings.db.sqlite_loop_cache_mib * 1024 == -64 * 1024


async def test_first_and_detached_look_ups(services: Services) -> None:
    account_id = (await make_account(services, "+79120000704", segment="b2c")).id
    found = await accounts.detached_by(services.db, Account.phone, "+79120000704")
    assert found is not None and found.id == account_id and found.segment == "b2c"
    assert found.created_at == services.clock.now()
    assert await accounts.detached_by(services.db, Account.phone, "+79120000705") is None
    assert await accounts.detached_by(services.db, Account.email, "nobody@example.com") is None


async def test_sqlite_units_wait_for_a_lock_held_by_another_process(services: Services) -> None:
    """Another process holds the write lock: the append waits off the loop, then lands; reads go on."""
    account_id = (await make_account(services, "+79120000706")).id

    async def sign_in() -> str:
        async with services.db.append() as batch:
            return services.sessions.issue(batch, account_id=account_id, ctx=CTX).id

    async with lock_held_by_another_process(services) as release:
        task = asyncio.create_task(sign_in())
        await asyncio.sleep(0.2)
        assert not task.done()
        # WAL: reads are not blocked by the writer elsewhere, and the loop is free meanwhile
        assert await accounts.detached_by(services.db, Account.phone, "+79120000706") is not None
        release()
        session_id = await asyncio.wait_for(task, 10)
    async with services.db.read() as s:
        assert await s.get(SessionRow, session_id) is not None


async def test_an_orm_write_waits_for_another_process_lock_then_lands(services: Services) -> None:
    """Waiting longer than one lock-wait step: the unit keeps waiting, the loop stays free."""
    async with lock_held_by_another_process(services) as release:
        task = asyncio.create_task(_account(services, "+79120000707"))
        await asyncio.sleep(0.35)
        assert not task.done()
        async with services.db.read() as s:  # the loop answers meanwhile
            assert await s.scalar(select(func.count()).select_from(Account)) == 0
        release()
        account_id = await asyncio.wait_for(task, 10)
    found = await accounts.detached_by(services.db, Account.phone, "+79120000707")
    assert found is not None and found.id == account_id


async def _write_event(db: Database, now: Any) -> None:
    async with db.write() as s:
        record_event(s, kind="login", outcome="success", ctx=CTX, now=now)


async def _append_event(db: Database, now: Any) -> None:
    async with db.append() as batch:
        record_event(batch, kind="login", outcome="success", ctx=CTX, now=now)


@pytest.mark.parametrize("unit", [_write_event, _append_event], ids=["orm-write", "append"])
async def test_cancelling_a_unit_that_waits_for_a_lock_returns_at_once_and_writes_nothing(
    services: Services, unit: Callable[[Database, Any], Awaitable[None]],
) -> None:
    loop = asyncio.get_running_loop()
    reported: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: reported.append(context))
    try:
        async with lock_held_by_another_process(services) as release:
            task = asyncio.create_task(unit(services.db, services.clock.now()))
            await asyncio.sleep(0.3)
            assert not task.done()
            start = time.perf_counter()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            took = time.perf_counter() - start
            release()
        gc.collect()  # an unretrieved future exception is reported when the future is collected
        await asyncio.sleep(0.05)
    finally:
        loop.set_exception_handler(None)
    assert took < 0.5, took  # one lock-wait step (0.1 s), not the busy timeout
    assert reported == []  # no "Future exception was never retrieved", nothing else
    assert await _count(services, SecurityEvent) == 0  # the cancelled unit is over: it wrote nothing
    await unit(services.db, services.clock.now())  # and left its connections usable
    assert await _count(services, SecurityEvent) == 1


# -- nesting ----------------------------------------------------------------------------------

async def _inner_write(db: Database, _clock: FrozenClock) -> None:
    async with db.write():
        pass


async def _inner_read(db: Database, _clock: FrozenClock) -> None:
    async with db.read():
        pass


async def _inner_first(db: Database, _clock: FrozenClock) -> None:
    await db.first(select(Account.id))


async def _inner_append(db: Database, _clock: FrozenClock) -> None:
    async with db.append() as batch:
        record_event(batch, kind="login", outcome="success", ctx=CTX, now=_clock.now())


async def _inner_counter(db: Database, clock: FrozenClock) -> None:
    await sql_store(db, clock).hit_many([("nested", 5, 60)])  # the database's own counters


@pytest.mark.parametrize("inner", [_inner_write, _inner_read, _inner_first, _inner_append, _inner_counter],
                         ids=["write", "read", "first", "append", "counter-hit"])
async def test_a_unit_opened_inside_a_write_raises_at_once(
    services: Services, clock: FrozenClock, inner: Callable[[Database, FrozenClock], Awaitable[None]],
) -> None:
    """On SQLite it would wait out the busy timeout for its own task's lock; on PostgreSQL it
    would run beside the outer transaction.  Either way a bug, reported at once."""
    start = time.perf_counter()
    with pytest.raises(NestedUnitOfWork, match=r"inside an open Database\.write\(\) of the same task"):
        async with services.db.write() as s:
            s.add(accounts.new_account(clock.now(), phone="+79120000708", password_hash="x", segment="b2c"))
            await inner(services.db, clock)
    assert time.perf_counter() - start < 1
    assert await accounts.detached_by(services.db, Account.phone, "+79120000708") is None  # rolled back
    await _account(services, "+79120000708")  # the lock is free again


async def test_a_task_started_inside_a_write_is_not_nested(services: Services) -> None:
    """The guard is per task: work a write hands to another task is that task's own unit."""
    account_id = await _account(services, "+79120000709")
    async with services.db.write() as s:
        s.add(accounts.new_account(services.clock.now(), phone="+79120000710", password_hash="x", segment="b2c"))
        found = await asyncio.create_task(accounts.detached_by(services.db, Account.phone, "+79120000709"))
    assert found is not None and found.id == account_id
    assert await accounts.detached_by(services.db, Account.phone, "+79120000710") is not None


# -- a long import beside the event loop --------------------------------------------------------

async def _largest_gap_while(work: Awaitable[Any]) -> tuple[Any, float]:
    """``work``'s result, and the longest the loop kept a task that ticks every 10 ms waiting."""
    loop = asyncio.get_running_loop()
    gaps: list[float] = []
    done = asyncio.Event()

    async def tick() -> None:
        last = loop.time()
        while not done.is_set():
            await asyncio.sleep(0.01)
            now = loop.time()
            gaps.append(now - last)
            last = now

    ticker = asyncio.create_task(tick())
    await asyncio.sleep(0.03)
    try:
        result = await work
    finally:
        done.set()
        await ticker
    return result, max(gaps)


async def test_a_long_contract_import_does_not_stall_the_event_loop(services: Services) -> None:
    """2000 rows (four batches of 500), as ``dostup admin import-contracts`` and the admin API run it.

    A sign-in on the same loop must not wait behind it.  The importer yields to the loop every 50
    rows checked (~6 ms of phone parsing and hashing; up to ~30 ms on this shared, loaded 2-core
    machine) and each batch is one statement run in the driver's thread.  Before, one 500-row
    batch held the loop for 0.2-0.45 s here (0.4-1.0 s in the architecture review), so 250 ms
    tells the two apart with room for a loaded machine.
    """
    importer = ContractImporter(services.db, services.keyring)

    def rows(phone_prefix: str) -> list[RowIn]:
        return [RowIn(line=i + 2, number=f"{500000000000 + i}", kind="contract", phone=f"{phone_prefix}{i:07d}",
                      secret=str(i)) for i in range(2000)]

    report, gap = await _largest_gap_while(importer.import_rows(rows("+7916"), now=services.clock.now()))
    assert (report.created, report.updated, report.errors) == (2000, 0, [])
    assert gap < 0.25, gap
    report, gap = await _largest_gap_while(importer.import_rows(rows("+7917"), now=services.clock.now()))
    assert (report.created, report.updated, report.errors) == (0, 2000, [])
    assert gap < 0.25, gap
    async with services.db.read() as s:
        phones = set((await s.scalars(select(RegistryContract.owner_phone))).all())
    assert len(phones) == 2000 and all(p and p.startswith("+7917") for p in phones)


# -- the WAL under hot-path writes ----------------------------------------------------------------

async def test_hot_path_writes_alone_keep_the_wal_short(services: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    """Sign-in storms write through Database.append alone, whose connections do not checkpoint
    (a checkpoint on the loop would stall it): the Checkpointer runs one in a thread once the WAL
    passes its threshold, and the next write starts the WAL over.  Without it this run leaves a
    WAL of ~10 MB."""
    if not services.db.is_sqlite:
        pytest.skip("SQLite WAL")
    monkeypatch.setattr(db_module, "WAL_CHECKPOINT_FRAMES", 64)
    path = make_url(services.settings.database_url).database
    for i in range(1, 601):
        await _append_event(services.db, services.clock.now())
        if i % 32 == 0:
            await asyncio.sleep(0.05)  # the pauses between requests, when a checkpoint catches up
    assert os.stat(f"{path}-wal").st_size < 4 * 1024 * 1024
    assert await _count(services, SecurityEvent) == 600


async def test_a_checkpoint_waits_for_a_thousand_new_frames_even_in_a_wal_file_that_once_grew_large(
        tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLite starts a checkpointed WAL over from its beginning but never shrinks the file, so the
    WAL file's size says nothing about what is left to copy: the Checkpointer counts the frames
    not yet copied (the WAL-index header), as SQLite's own auto-checkpoint does, and a run of small
    commits after one large one asks for no checkpoint until they add up to 1,000 frames."""
    db = Database(f"sqlite+aiosqlite:///{tmp_path}/wal.db")
    checkpoints: list[int] = []
    checkpointer = db._checkpointer
    assert checkpointer is not None
    real = checkpointer._checkpoint
    monkeypatch.setattr(checkpointer, "_checkpoint", lambda: (checkpoints.append(1), real()))
    try:
        await db.run_raw(lambda raw: raw.run("CREATE TABLE blobs (b BLOB)", {}))
        await db.run_raw(lambda raw: raw.run("INSERT INTO blobs VALUES (randomblob(6000000))", {}))
        assert os.stat(f"{tmp_path}/wal.db-wal").st_size > 4 * 1024 * 1024  # 1,500 frames
        checkpointer._checkpoint()  # all copied: the next write starts the WAL over
        checkpoints.clear()
        for _ in range(3 * checkpointer.CHECK_EVERY):
            await db.run_raw(lambda raw: raw.run("INSERT INTO blobs VALUES (randomblob(100))", {}))
        assert os.stat(f"{tmp_path}/wal.db-wal").st_size > 4 * 1024 * 1024  # the file kept its size
        assert 0 < checkpointer.pending_frames() < db_module.WAL_CHECKPOINT_FRAMES
        assert checkpoints == []
        await db.run_raw(lambda raw: raw.run("INSERT INTO blobs VALUES (randomblob(5000000))", {}))
        for _ in range(checkpointer.CHECK_EVERY):
            await db.run_raw(lambda raw: raw.run("INSERT INTO blobs VALUES (randomblob(100))", {}))
        for _ in range(100):  # the checkpoint runs in a lock-waiter thread
            if checkpoints and not checkpointer._busy:
                break
            await asyncio.sleep(0.02)
        assert checkpoints == [1] and checkpointer.pending_frames() < checkpointer.CHECK_EVERY * 2
    finally:
        await db.dispose()
