"""The hot paths' lighter units of work (Database.first / Database.append), on both backends."""

from __future__ import annotations

import asyncio
import sqlite3
import threading

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from dostup.accounts.events import record_event
from dostup.app import Services
from dostup.core.context import Context
from dostup.core.crypto import random_id
from dostup.identity import repository as accounts
from dostup.persistence.models import Account, SecurityEvent
from dostup.persistence.models import Session as SessionRow

CTX = Context(ip="192.0.2.7", user_agent="pytest")


async def _account(services: Services, phone: str) -> str:
    now = services.clock.now()
    account = accounts.new_account(now, phone=phone, phone_verified_at=now, password_hash="x", segment="b2c")
    async with services.db.write() as s:
        s.add(account)
    return account.id


async def _count(services: Services, model: type) -> int:
    async with services.db.read() as s:
        return int((await s.execute(select(func.count()).select_from(model))).scalar_one())


async def test_append_inserts_everything_added_in_order(services: Services) -> None:
    account_id = await _account(services, "+79120000701")
    now = services.clock.now()
    async with services.db.append() as batch:
        record_event(batch, kind="login", outcome="success", ctx=CTX, now=now, account_id=account_id, method="phone")
        issued = services.sessions.issue(batch, account_id=account_id, ctx=CTX, kind="bearer")
    async with services.db.read() as s:
        row = await s.get(SessionRow, issued.id)
        event = (await s.execute(select(SecurityEvent))).scalar_one()
    assert row is not None and row.account_id == account_id and row.kind == "bearer" and row.revoked_at is None
    assert row.remember is False and row.state == "active"  # defaults and given values, typed back
    assert event.detail == {"method": "phone"} and event.created_at == now
    assert (await services.sessions.authenticate(issued.token)) is not None


async def test_append_writes_nothing_when_the_block_fails(services: Services) -> None:
    account_id = await _account(services, "+79120000702")
    with pytest.raises(RuntimeError):
        async with services.db.append() as batch:
            services.sessions.issue(batch, account_id=account_id, ctx=CTX)
            raise RuntimeError("boom")
    assert await _count(services, SessionRow) == 0


async def test_append_of_a_bad_row_writes_none_of_its_rows(services: Services) -> None:
    """One unit: a row breaking a constraint takes the rows before it down with it."""
    account_id = await _account(services, "+79120000703")
    now = services.clock.now()
    with pytest.raises(Exception, match="(?i)foreign key|violates"):
        async with services.db.append() as batch:
            record_event(batch, kind="login", outcome="success", ctx=CTX, now=now, account_id=account_id)
            services.sessions.issue(batch, account_id=random_id(), ctx=CTX)  # no such account
    assert await _count(services, SecurityEvent) == 0
    assert await _count(services, SessionRow) == 0


async def test_first_and_detached_look_ups(services: Services) -> None:
    account_id = await _account(services, "+79120000704")
    found = await accounts.detached_by(services.db, Account.phone, "+79120000704")
    assert found is not None and found.id == account_id and found.segment == "b2c"
    assert found.created_at == services.clock.now()
    assert await accounts.detached_by(services.db, Account.phone, "+79120000705") is None
    assert await accounts.detached_by(services.db, Account.email, "nobody@example.com") is None


async def test_sqlite_units_wait_for_a_lock_held_by_another_process(services: Services) -> None:
    """Another process holds the write lock: the append waits off the loop, then lands; reads go on."""
    if not services.db.is_sqlite:
        pytest.skip("SQLite locking")
    account_id = await _account(services, "+79120000706")
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

    async def sign_in() -> str:
        async with services.db.append() as batch:
            return services.sessions.issue(batch, account_id=account_id, ctx=CTX).id

    try:
        task = asyncio.create_task(sign_in())
        await asyncio.sleep(0.2)
        assert not task.done()
        # WAL: reads are not blocked by the writer elsewhere, and the loop is free meanwhile
        assert await accounts.detached_by(services.db, Account.phone, "+79120000706") is not None
        release.set()
        session_id = await asyncio.wait_for(task, 10)
    finally:
        release.set()
        holder.join()
        other.close()
    async with services.db.read() as s:
        assert await s.get(SessionRow, session_id) is not None
