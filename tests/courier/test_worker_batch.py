"""The worker's unit-of-work budget per batch, and batches under concurrency, on both backends.

A batch is one claiming statement in one write transaction, the sends, then one write
transaction recording every outcome.  Transactions and statements are counted with SQLAlchemy
engine events on the engines the worker really uses (SQLite has a reader and a writer engine,
PostgreSQL one engine for both).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import event, select

from dostup.courier.build import make_channels
from dostup.courier.worker import Worker
from dostup.persistence.db import Database
from dostup.persistence.models import OutboxMessage
from tests.courier.conftest import DEADLINE_SECONDS, Gateway, Reply, Request
from tests.courier.worker_support import claims_waiting_on_locks, enqueue, gateway_env, with_settings


@pytest.fixture
def settings_overrides(request: pytest.FixtureRequest, gateway: Gateway) -> dict[str, str]:
    return gateway_env(request, gateway)


async def enqueue_many(services, phones: list[str]) -> dict[str, str]:
    """One message per phone, each in its own flow transaction (as registrations do); id → phone."""
    return {await enqueue(services, phone, f"{n:06d}"): phone for n, phone in enumerate(phones)}


async def rows(services) -> dict[str, OutboxMessage]:
    async with services.db.read() as s:
        return {r.to: r for r in (await s.execute(select(OutboxMessage))).scalars().all()}


def phones(count: int) -> list[str]:
    return [f"+7912{n:07d}" for n in range(count)]


@dataclass
class Tally:
    transactions: int = 0  # BEGINs, read or write
    commits: int = 0
    statements: list[tuple[str, int]] = field(default_factory=list)  # (first words, rows in executemany)


@contextmanager
def tally(db: Database) -> Iterator[Tally]:
    """Every transaction and statement on the database's engines while the block runs."""
    t = Tally()
    engines = {id(e): e for e in (db.writer.sync_engine, db.reader.sync_engine)}.values()

    def begin(conn: Any) -> None:
        t.transactions += 1

    def commit(conn: Any) -> None:
        t.commits += 1

    def statement(conn: Any, cursor: Any, sql: str, params: Any, context: Any, executemany: bool) -> None:
        if not sql.lstrip().upper().startswith("BEGIN"):  # SQLite's BEGIN IMMEDIATE, when it met a lock
            t.statements.append((" ".join(sql.split()[:3]), len(params) if executemany else 1))

    listeners = [("begin", begin), ("commit", commit), ("before_cursor_execute", statement)]
    for engine in engines:
        for name, fn in listeners:
            event.listen(engine, name, fn)
    try:
        yield t
    finally:
        for engine in engines:
            for name, fn in listeners:
                event.remove(engine, name, fn)


# -- one claim, one record -------------------------------------------------------------------


@with_settings(DOSTUP_COURIER__SMS_PROVIDER="dev")
async def test_a_batch_is_one_claim_transaction_and_one_outcome_transaction(services):
    """The benchmark's case: codes queued for the dev outbox, delivered by one batch."""
    ids = await enqueue_many(services, phones(8))
    with tally(services.db) as t:
        assert await services.worker.run_once(limit=20) == 8
    assert (t.transactions, t.commits) == (2, 2)
    # The claiming UPDATE ... RETURNING, and one executemany recording the eight outcomes.
    assert t.statements == [("UPDATE outbox SET", 1), ("UPDATE outbox SET", 8)]
    stored = await rows(services)
    assert {(r.id, r.status, r.attempts, r.sent_at, r.claimed_until) for r in stored.values()} == {
        (mid, "sent", 1, services.clock.now(), None) for mid in ids}
    assert all(r.code is not None and r.code in r.body for r in stored.values())  # the dev outbox keeps them

    with tally(services.db) as t:
        assert await services.worker.run_once(limit=20) == 0  # nothing due: one claim, no outcome
    assert (t.transactions, len(t.statements)) == (1, 1)


@with_settings(DOSTUP_COURIER__SMS_PROVIDER="dev")
async def test_a_backlog_larger_than_the_limit_goes_oldest_first_two_transactions_a_batch(services):
    ids = []
    for n, phone in enumerate(phones(7)):
        ids.append(await enqueue(services, phone, f"{n:06d}"))
        services.clock.advance(seconds=1)  # each message a second younger than the one before
    with tally(services.db) as t:
        assert await services.worker.run_once(limit=3) == 3
        first = {r.id for r in (await rows(services)).values() if r.status == "sent"}
        assert await services.worker.run_once(limit=3) == 3
        assert await services.worker.run_once(limit=3) == 1
        assert await services.worker.run_once(limit=3) == 0
    assert first == set(ids[:3])  # the oldest three, not three random ids
    assert t.transactions == 3 * 2 + 1 + 1  # three batches, the read above, the empty claim
    assert {r.status for r in (await rows(services)).values()} == {"sent"}


# -- mixed outcomes --------------------------------------------------------------------------


def fail_for(gateway: Gateway, failing: set[str]) -> None:
    def respond(req: Request) -> Reply:
        return Reply(500, {"error": "internal"}) if req.json()["to"] in failing else Reply()

    gateway.responder = respond


async def test_a_mixed_batch_records_each_outcome(services, gateway):
    sms = phones(5)
    fail_for(gateway, {sms[1], sms[3]})
    await enqueue_many(services, sms)
    await enqueue(services, "user@example.ru", "424242", channel="email")  # the dev outbox, same batch
    clock = services.clock
    with tally(services.db) as t:
        assert await services.worker.run_once() == 6
    # The claim, then one per SMS followed by more of the batch (its outcome, and the claim of the
    # rest moved on: issue 13 §3), then what is left at the end: the last SMS's and the dev
    # outbox's outcomes.  6 or 7 as the email (same time, random id) falls in the batch order.
    last_is_email = (await rows(services))["user@example.ru"].id > max(r.id for p, r in (await rows(services)).items()
                                                                          if p != "user@example.ru")
    expected = 1 + 5 + 1 if last_is_email else 1 + 4 + 1
    assert (t.transactions, t.commits) == (expected, expected)
    assert Counter(r.json()["to"] for r in gateway.requests) == Counter(sms)

    stored = await rows(services)
    for phone in (sms[0], sms[2], sms[4]):
        r = stored[phone]
        assert (r.status, r.attempts, r.sent_at, r.claimed_until, r.last_error) == ("sent", 1, clock.now(), None, None)
        assert (r.body, r.code) == ("[delivered]", None)  # a real provider: no readable code left
    for phone in (sms[1], sms[3]):
        r = stored[phone]
        assert (r.status, r.attempts, r.sent_at, r.claimed_until) == ("pending", 1, None, None)
        assert (r.last_error, r.next_attempt_at) == ("gateway answered 500", clock.now() + dt.timedelta(seconds=5))
        assert r.code is not None and r.code in r.body  # kept for the retry
    mail = stored["user@example.ru"]
    assert (mail.status, mail.attempts, mail.code) == ("sent", 1, "424242")  # the dev outbox keeps the text

    # Only the two failures come back, after their back-off, and go out this time.
    gateway.responder = None
    clock.advance(seconds=4.999)
    assert await services.worker.run_once() == 0
    clock.advance(seconds=0.001)
    assert await services.worker.run_once() == 2
    assert Counter(r.json()["to"] for r in gateway.requests) == Counter(sms + [sms[1], sms[3]])
    stored = await rows(services)
    assert (stored[sms[1]].status, stored[sms[1]].attempts, stored[sms[1]].code) == ("sent", 2, None)
    assert stored[sms[1]].last_error == "gateway answered 500"  # as before: a success keeps the last error


@with_settings(DOSTUP_COURIER__MAX_ATTEMPTS="2")
async def test_a_mixed_batch_with_a_message_reaching_max_attempts(services, gateway):
    sms = phones(3)
    fail_for(gateway, {sms[0]})
    await enqueue_many(services, sms[:1])
    assert await services.worker.run_once() == 1  # attempt 1 of 2
    services.clock.advance(seconds=5)
    await enqueue_many(services, sms[1:])
    with tally(services.db) as t:
        assert await services.worker.run_once() == 3  # the retry and two new ones, one batch
    assert (t.transactions, t.commits) == (1 + 3, 1 + 3)  # the claim, then each outcome as it happens
    stored = await rows(services)
    dead = stored[sms[0]]
    assert (dead.status, dead.attempts, dead.last_error) == ("failed", 2, "gateway answered 500")
    assert (dead.body, dead.code, dead.claimed_until, dead.sent_at) == ("[not delivered]", None, None, None)
    assert {(stored[p].status, stored[p].attempts, stored[p].body) for p in sms[1:]} == {("sent", 1, "[delivered]")}
    services.clock.advance(days=1)
    assert await services.worker.run_once() == 0


# -- crashes and shutdown --------------------------------------------------------------------


async def test_a_batch_claimed_by_a_worker_that_died_is_sent_after_the_claim_runs_out(services, gateway):
    await enqueue_many(services, phones(4))
    dead, dead_db = await second_worker(services)
    try:
        assert len(await dead._claim(20)) == 4  # claimed, then the process is gone before any outcome
    finally:
        await dead_db.dispose()
    assert await services.worker.run_once() == 0
    services.clock.advance(seconds=services.worker.claim_seconds - 0.001)
    assert await services.worker.run_once() == 0
    services.clock.advance(seconds=0.002)
    assert await services.worker.run_once() == 4
    assert Counter(r.json()["to"] for r in gateway.requests) == Counter(phones(4))
    assert {(r.status, r.attempts) for r in (await rows(services)).values()} == {("sent", 1)}


async def test_a_cancelled_batch_records_the_messages_already_sent(services, gateway):
    """Shutdown cancels the courier mid-batch: what went out is recorded, not sent again later;
    the message in flight stays claimed and is sent again once the claim runs out."""
    sms = phones(4)
    await enqueue_many(services, sms)
    release = threading.Event()

    def respond(req: Request) -> Reply:
        if len(gateway.requests) == 3:
            release.wait(DEADLINE_SECONDS)  # the third send hangs
        return Reply()

    gateway.responder = respond
    batch = asyncio.create_task(services.worker.run_once())
    try:
        await asyncio.to_thread(gateway.wait_for, 3)
        batch.cancel()
        with pytest.raises(asyncio.CancelledError):
            await batch
    finally:
        release.set()
    sent = [r.json()["to"] for r in gateway.requests]
    stored = await rows(services)
    assert {p for p in sms if stored[p].status == "sent"} == set(sent[:2])
    in_flight = stored[sent[2]]
    assert (in_flight.status, in_flight.attempts, in_flight.claimed_until) == (
        "pending", 0, services.clock.now() + dt.timedelta(seconds=services.worker.claim_seconds))

    services.clock.advance(seconds=services.worker.claim_seconds + 0.001)
    gateway.responder = None
    assert await services.worker.run_once() == 2  # the one in flight and the one never tried
    assert Counter(r.json()["to"] for r in gateway.requests) == Counter(sms + [sent[2]])
    assert {r.status for r in (await rows(services)).values()} == {"sent"}


# -- concurrency -----------------------------------------------------------------------------


async def second_worker(services) -> tuple[Worker, Database]:
    db = Database(services.settings.database_url)
    return Worker(services.settings.courier, db, make_channels(services.settings), services.clock,
                  services.worker.claim_seconds), db


async def drain(worker: Worker, limit: int) -> int:
    """Batches until this worker finds nothing to claim; the messages it handled."""
    handled = 0
    end = time.monotonic() + DEADLINE_SECONDS
    while n := await worker.run_once(limit=limit):
        handled += n
        assert time.monotonic() < end, "still claiming at the deadline"
    return handled


@pytest.mark.parametrize("limit", [20, 4])
async def test_two_workers_racing_over_twenty_messages_send_each_once(services, gateway, limit):
    sms = phones(20)
    await enqueue_many(services, sms)
    other, other_db = await second_worker(services)
    gateway.delay = 0.002  # sends overlap with the other worker's claims
    try:
        handled = await asyncio.gather(drain(services.worker, limit), drain(other, limit))
        handled2 = await asyncio.gather(drain(services.worker, limit), drain(other, limit))
    finally:
        await other_db.dispose()
    assert sum(handled) == 20 and handled2 == [0, 0]
    assert Counter(r.json()["to"] for r in gateway.requests) == Counter(sms)  # each exactly once
    assert {(r.status, r.attempts, r.claimed_until) for r in (await rows(services)).values()} == {("sent", 1, None)}


async def test_two_claims_queued_on_the_same_locked_rows_take_each_message_once(services, gateway):
    """PostgreSQL: both workers' claiming statements wait on the same row locks (held here), then
    run at once when they are released.  Each message goes to one of them; neither deadlocks."""
    if services.db.is_sqlite:
        pytest.skip("needs row locks: PostgreSQL")
    sms = phones(20)
    await enqueue_many(services, sms)
    other, other_db = await second_worker(services)

    try:
        async with services.db.write() as hold:
            # Every message locked, in id order as the claims lock them.
            locked = (await hold.execute(
                select(OutboxMessage.id).order_by(OutboxMessage.id).with_for_update())).scalars().all()
            assert len(locked) == 20
            racing = asyncio.gather(services.worker.run_once(20), other.run_once(20))
            end = time.monotonic() + DEADLINE_SECONDS
            while await claims_waiting_on_locks(services) < 2:
                assert time.monotonic() < end, "the claims did not meet the row locks"
                await asyncio.sleep(0.01)
        handled = await asyncio.wait_for(racing, DEADLINE_SECONDS)
        assert sum(handled) == 20
        assert await drain(services.worker, 20) == 0 and await drain(other, 20) == 0
    finally:
        await other_db.dispose()
    assert Counter(r.json()["to"] for r in gateway.requests) == Counter(sms)
    assert {(r.status, r.attempts) for r in (await rows(services)).values()} == {("sent", 1)}
