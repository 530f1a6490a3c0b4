"""The delivery worker against a real HTTP SMS gateway, on both backends.

Time is the FrozenClock: back-off is checked by moving it, never by sleeping.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable

import pytest
from sqlalchemy import func, select

from dostup.courier.build import make_channels
from dostup.courier.worker import Worker
from dostup.persistence.db import Database
from dostup.persistence.models import OutboxMessage
from tests.courier.conftest import DEADLINE_SECONDS, Gateway, Reply, Request
from tests.courier.worker_support import claims_waiting_on_locks, enqueue, gateway_env, with_settings
from tests.flows.helpers import PASSWORD, registration_fields
from tests.support import ApiSurface


@pytest.fixture
def settings_overrides(request: pytest.FixtureRequest, gateway: Gateway) -> dict[str, str]:
    return gateway_env(request, gateway)


async def load(services, mid: str) -> OutboxMessage:
    async with services.db.read() as s:
        found = await s.get(OutboxMessage, mid)
    assert found is not None
    return found


async def all_rows(services) -> list[OutboxMessage]:
    async with services.db.read() as s:
        return list((await s.execute(select(OutboxMessage).order_by(OutboxMessage.to))).scalars().all())


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = DEADLINE_SECONDS) -> None:
    end = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < end, "condition not reached before the deadline"
        await asyncio.sleep(0.01)


def texts(gateway: Gateway) -> list[str]:
    return [r.json()["text"] for r in gateway.requests]


# -- retries ---------------------------------------------------------------------------------


async def test_gateway_errors_are_retried_with_exponential_backoff_then_delivered(services, gateway):
    clock = services.clock
    gateway.answer(500, {"error": "internal"})
    mid = await enqueue(services)
    for attempt, delay in enumerate([5, 10, 20], start=1):
        assert await services.worker.run_once() == 1
        row = await load(services, mid)
        expected_next = clock.now() + dt.timedelta(seconds=delay)
        assert (row.status, row.attempts, row.next_attempt_at) == ("pending", attempt, expected_next)
        assert row.last_error == "gateway answered 500" and row.claimed_until is None
        assert row.code == "731904" and "731904" in row.body  # nothing lost while the provider is out
        # Not due yet: no request, even a moment before the back-off ends.
        clock.advance(seconds=delay - 0.001)
        assert await services.worker.run_once() == 0
        assert len(gateway.requests) == attempt
        clock.advance(seconds=0.001)

    gateway.answer(200)
    assert await services.worker.run_once() == 1
    row = await load(services, mid)
    assert (row.status, row.attempts, row.sent_at) == ("sent", 4, clock.now())
    assert (row.body, row.code) == ("[delivered]", None)
    assert len(gateway.requests) == 4 and all("731904" in t for t in texts(gateway))
    assert await services.worker.run_once() == 0 and len(gateway.requests) == 4  # sent once, done


@pytest.mark.parametrize("gateway", [False], indirect=True, ids=["gateway-down"])
async def test_gateway_down_loses_no_message(services, gateway):
    # The configured gateway's port is bound but not listening until up(): connection refused.
    first = await enqueue(services, "+79120000001", "111111")
    second = await enqueue(services, "+79120000002", "222222")
    assert await services.worker.run_once() == 2
    for mid in (first, second):
        row = await load(services, mid)
        assert (row.status, row.attempts, row.last_error) == ("pending", 1, "ConnectError")
        assert row.code is not None

    services.clock.advance(seconds=4)
    assert await services.worker.run_once() == 0  # still backing off
    gateway.up()
    services.clock.advance(seconds=1)
    assert await services.worker.run_once() == 2
    sent = {r.json()["to"]: r.json()["text"] for r in gateway.requests}
    assert sorted(sent) == ["+79120000001", "+79120000002"]
    assert "111111" in sent["+79120000001"] and "222222" in sent["+79120000002"]
    assert [(r.status, r.attempts, r.code) for r in await all_rows(services)] == [("sent", 2, None)] * 2


@with_settings(DOSTUP_COURIER__MAX_ATTEMPTS="4", DOSTUP_COURIER__BACKOFF_MAX_SECONDS="12")
async def test_after_max_attempts_the_message_is_failed_and_kept(services, gateway):
    gateway.answer(503, "<html>maintenance</html>", "text/html")
    mid = await enqueue(services)
    delays = []
    for _ in range(4):
        before = services.clock.now()
        assert await services.worker.run_once() == 1
        row = await load(services, mid)
        delays.append((row.next_attempt_at - before).total_seconds())
        services.clock.advance(seconds=delays[-1])
    assert delays[:3] == [5, 10, 12]  # doubling, capped at backoff_max_seconds
    row = await load(services, mid)
    assert (row.status, row.attempts, row.last_error) == ("failed", 4, "gateway answered 503")
    assert row.sent_at is None

    services.clock.advance(days=1)
    assert await services.worker.run_once() == 0
    assert len(gateway.requests) == 4
    assert len(await all_rows(services)) == 1  # kept for the operator


@with_settings(DOSTUP_SMS__URL="http://[::1")  # a mistyped gateway URL: httpx raises InvalidURL
async def test_an_unexpected_channel_error_is_a_failed_attempt_and_the_batch_goes_on(services):
    sms = await enqueue(services, "+79120000001")
    mail = await enqueue(services, "user@example.ru", channel="email")  # the dev outbox
    assert await services.worker.run_once() == 2
    row = await load(services, sms)
    assert (row.status, row.attempts, row.claimed_until) == ("pending", 1, None)
    assert row.last_error and "InvalidURL" in row.last_error
    assert (await load(services, mail)).status == "sent"


async def test_a_message_for_a_channel_no_longer_configured_fails_at_once_and_the_batch_goes_on(services):
    """A verification request queued for the identity registry, after the registry was turned off: it cannot
    go, so it ends ``failed`` with its body (a passport) redacted, and the rest of the batch is delivered."""
    from dostup.core.crypto import random_id

    now = services.clock.now()
    async with services.db.write() as s:
        s.add(OutboxMessage(id=(orphan := random_id()), account_id=None, channel="registry", kind="verification_request",
                            to="registry", subject="", body='{"person": {"passport_number": "123456"}}', code=None,
                            locale="ru", status="pending", attempts=0, next_attempt_at=now, created_at=now))
    mail = await enqueue(services, "user@example.ru", channel="email")
    assert await services.worker.run_once() == 2
    row = await load(services, orphan)
    assert (row.status, row.attempts, row.body) == ("failed", 1, "[not delivered]")
    assert row.last_error == "no channel 'registry' is configured"
    assert (await load(services, mail)).status == "sent"


# -- concurrency -----------------------------------------------------------------------------


def hold_first_requests(gateway: Gateway, count: int) -> None:
    """The first ``count`` requests wait for each other at the gateway: proof they were in flight together."""
    barrier = threading.Barrier(count, timeout=DEADLINE_SECONDS)
    seen = 0
    lock = threading.Lock()

    def respond(req: Request) -> Reply:
        nonlocal seen
        with lock:
            seen += 1
            mine = seen
        if mine <= count:
            barrier.wait()
        return gateway.reply

    gateway.responder = respond


async def second_worker(services) -> tuple[Worker, Database]:
    db = Database(services.settings.database_url)
    return Worker(services.settings.courier, db, make_channels(services.settings), services.clock,
                  services.worker.claim_seconds), db


async def drain(worker: Worker, services) -> None:
    """Run until no message is due.  A worker that finds everything claimed by the other one keeps
    looking (as ``run_forever`` would) until those deliveries finish."""

    async def due() -> int:
        async with services.db.read() as s:
            return (await s.execute(
                select(func.count()).select_from(OutboxMessage)
                .where(OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= services.clock.now())
            )).scalar_one()

    end = time.monotonic() + DEADLINE_SECONDS
    while await worker.run_once(limit=3) or await due():
        assert time.monotonic() < end, "messages still due at the deadline"
        await asyncio.sleep(0.005)


async def test_two_workers_deliver_each_message_exactly_once(services, gateway):
    phones = [f"+7912{n:07d}" for n in range(12)]
    for n, phone in enumerate(phones):
        await enqueue(services, phone, f"{n:06d}")
    other, other_db = await second_worker(services)
    hold_first_requests(gateway, 2)  # one request from each worker at the same time
    try:
        await asyncio.gather(drain(services.worker, services), drain(other, services))
    finally:
        await other_db.dispose()

    per_phone = Counter(r.json()["to"] for r in gateway.requests)
    assert per_phone == Counter(phones)  # each exactly once
    rows = await all_rows(services)
    assert {(r.status, r.attempts, r.code) for r in rows} == {("sent", 1, None)}


async def test_two_workers_keep_the_backoff_of_a_failing_gateway(services, gateway):
    gateway.answer(500)
    phones = [f"+7912{n:07d}" for n in range(12)]
    for phone in phones:
        await enqueue(services, phone)
    other, other_db = await second_worker(services)
    hold_first_requests(gateway, 2)
    try:
        await asyncio.gather(drain(services.worker, services), drain(other, services))
        assert Counter(r.json()["to"] for r in gateway.requests) == Counter(phones)  # one attempt each
        services.clock.advance(seconds=5)
        await asyncio.gather(drain(services.worker, services), drain(other, services))
    finally:
        await other_db.dispose()
    assert Counter(r.json()["to"] for r in gateway.requests) == Counter(phones * 2)
    assert {(r.status, r.attempts) for r in await all_rows(services)} == {("pending", 2)}


async def test_a_message_rescheduled_by_another_worker_meanwhile_is_not_claimed(services, gateway):
    """Between a worker's read of due ids and its claiming UPDATE, another worker may try a message
    and reschedule it.  The claim must not take it then (that would be a retry with no back-off).
    PostgreSQL lets the test hold that moment open: the claim waits on our row lock."""
    if services.db.is_sqlite:
        pytest.skip("needs row locks: PostgreSQL")
    gateway.answer(500)
    mid = await enqueue(services)

    async def claim_waits_for_our_lock() -> bool:
        return await claims_waiting_on_locks(services) > 0

    async with services.db.write() as t:
        row = (await t.execute(select(OutboxMessage).where(OutboxMessage.id == mid).with_for_update())).scalar_one()
        claiming = asyncio.create_task(services.worker.run_once())
        await eventually(claim_waits_for_our_lock)
        # What the other worker's failed attempt leaves behind:
        row.attempts, row.claimed_until, row.last_error = 1, None, "gateway answered 500"
        row.next_attempt_at = services.clock.now() + dt.timedelta(seconds=5)
    assert await asyncio.wait_for(claiming, DEADLINE_SECONDS) == 0
    assert gateway.requests == []
    assert (await load(services, mid)).attempts == 1


# -- what is stored --------------------------------------------------------------------------


async def test_a_real_provider_leaves_no_readable_code_behind(services, gateway):
    mid = await enqueue(services, code="550011")
    assert await services.worker.run_once() == 1
    assert "550011" in texts(gateway)[0]
    row = await load(services, mid)
    assert (row.status, row.body, row.code) == ("sent", "[delivered]", None)


@with_settings(DOSTUP_COURIER__SMS_PROVIDER="dev")
async def test_the_dev_outbox_keeps_the_text_and_code(services, gateway):
    mid = await enqueue(services, code="550011")
    assert await services.worker.run_once() == 1
    row = await load(services, mid)
    assert row.status == "sent" and row.code == "550011" and "550011" in row.body
    assert gateway.requests == []


async def test_a_message_exists_only_if_the_flow_commits(services, gateway):
    class FlowFailed(Exception):
        pass

    with pytest.raises(FlowFailed):
        async with services.db.write() as s:
            services.outbox.enqueue(s, kind="registration_code", channel="sms", to="+79120000001",
                                         now=services.clock.now(), code="999999", params={"minutes": 10})
            await s.flush()  # the INSERT really ran inside the transaction
            raise FlowFailed
    services.worker.wake()
    assert await services.worker.run_once() == 0
    async with services.db.read() as s:
        assert (await s.execute(select(func.count()).select_from(OutboxMessage))).scalar_one() == 0
    assert gateway.requests == []

    await enqueue(services, "+79120000002", "888888")  # the same write, committed
    assert await services.worker.run_once() == 1
    assert [r.json()["to"] for r in gateway.requests] == ["+79120000002"]


# -- end to end ------------------------------------------------------------------------------


@with_settings(DOSTUP_COURIER__WORKER_IN_PROCESS="true")
async def test_registration_code_reaches_the_sms_gateway_end_to_end(services, gateway, client):
    surface = ApiSurface(client)
    phone = "+79161234567"
    r = await surface.register(**await registration_fields(surface, phone))
    assert r.ok, (r.status, r.code, r.message)
    assert r.data["channel"] == "sms"

    # The in-process worker was woken by the flow; the SMS arrives at the gateway.
    [req] = await asyncio.to_thread(gateway.wait_for, 1)
    assert req.json()["to"] == phone
    m = re.search(r"код подтверждения (\d{6})\.", req.json()["text"])
    assert m, req.json()["text"]
    c = await surface.confirm(r.data["flow_id"], m.group(1))
    assert c.ok, (c.status, c.code, c.message)
    me = await surface.whoami()
    assert me.ok and me.data["account"]["phone"] == phone

    async def redacted() -> bool:
        rows = await all_rows(services)
        return [(x.status, x.body, x.code) for x in rows] == [("sent", "[delivered]", None)]

    await eventually(redacted)
    assert len(gateway.requests) == 1
    assert PASSWORD not in req.body.decode()
