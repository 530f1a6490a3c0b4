"""What a hot-path commit writes to SQLite's WAL: each page a commit changes is one more frame
written now and one more page the checkpoint copies later, so the sign-in's writes touch no
index they do not need (issue 10 §7: a passkey sign-in's CPU against a whoami's)."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import statistics
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import func, select

from dostup.guards.store import UnitCounters
from dostup.persistence.db import Raw, _driver
from dostup.persistence.models import SpentChallenge
from dostup.selfservice.login.ceremony import CeremonySpent, Signed, SignedFlows, spend_signed
from dostup.services import Services
from tests.flows.test_passkeys import _with_passkey
from tests.flows.test_second_factor import _enrolled
from tests.flows.test_totp import _with_totp, code_at
from tests.support import ApiSurface


async def frames_of(services: Services, write: Callable[[], Awaitable[Any]]) -> int:
    """The WAL frames ``write`` commits (the pages it changed), after a checkpoint copied all before."""
    checkpointer = services.db._checkpointer
    assert checkpointer is not None
    for _ in range(100):  # the checkpointer's own thread may hold the checkpoint lock a moment
        checkpointer._checkpoint()
        if checkpointer.pending_frames() == 0:
            break
        await asyncio.sleep(0.02)
    before = checkpointer.pending_frames()
    assert before == 0
    await write()
    return checkpointer.pending_frames() - before


@pytest.fixture
def sqlite_only(services: Services) -> None:
    if not services.db.is_sqlite:
        pytest.skip("SQLite's WAL")


@pytest.mark.usefixtures("sqlite_only")
async def test_a_hit_inside_its_window_rewrites_the_counter_row_alone(services: Services) -> None:
    """Counting a live window changes ``count`` only: its commit writes the row's page, not the
    expiry index's (the window's first hit writes both)."""
    store = services.store
    for i in range(400):  # enough rows for the table and its indexes to span several pages
        await store.hit_many([(f"t-fill-{i:04d}", 100, 60)])
    assert await frames_of(services, lambda: store.hit_many([("t-fill-0200", 100, 60)])) == 1
    assert await store.get("t-fill-0200") == 2

    def in_unit(raw: Raw) -> None:
        UnitCounters(raw, services.clock.now()).hit_many([("t-fill-0300", 100, 60)])

    assert await frames_of(services, lambda: services.db.run_raw(in_unit)) == 1
    assert await store.get("t-fill-0300") == 2
    assert await frames_of(services, lambda: store.hit_many([("t-new", 100, 60)])) >= 2


def _signed(services: Services, *, first_byte: int, expires_at: dt.datetime | None = None) -> Signed:
    """A checked signed flow id whose challenge starts with ``first_byte`` (0: its answer purges)."""
    signed = SignedFlows(services.keyring, "passkey").issue(services.clock.now())
    return Signed(signed.flow_id, expires_at or signed.expires_at, bytes([first_byte]) + signed.challenge[1:])


@pytest.mark.usefixtures("sqlite_only")
async def test_a_spent_challenge_is_one_page_of_the_commit(services: Services) -> None:
    """The answer's single-use mark is one row in one b-tree (``spent_challenges``, WITHOUT ROWID),
    not a flows row and its three index entries."""
    now = services.clock.now()
    for _ in range(200):  # enough spent ids for the table to span several pages
        signed = _signed(services, first_byte=1)
        await services.db.run_raw(lambda raw, s=signed: spend_signed(raw, s, method="passkey", now=now))
    frames = []
    for _ in range(9):  # the ids are random: now and then one lands in a full leaf, whose split writes 3-4
        signed = _signed(services, first_byte=1)
        frames.append(await frames_of(services, lambda s=signed: services.db.run_raw(
            lambda raw: spend_signed(raw, s, method="passkey", now=now))))
    assert statistics.median(frames) == 1, frames


async def test_spent_ids_past_their_expiry_are_purged_by_one_answer_in_256(services: Services) -> None:
    """An answer whose challenge starts with a zero byte deletes the spent ids that expired more
    than a minute ago; the others, and every live one, stay (a replay of a live id is refused)."""
    now = services.clock.now()
    old = _signed(services, first_byte=1, expires_at=now - dt.timedelta(minutes=2))
    recent = _signed(services, first_byte=1, expires_at=now - dt.timedelta(seconds=30))
    live = _signed(services, first_byte=1)
    for s in (old, recent, live):
        await services.db.run_raw(lambda raw, s=s: spend_signed(raw, s, method="passkey", now=now))
    await services.db.run_raw(lambda raw: spend_signed(raw, _signed(services, first_byte=7), method="passkey",
                                                       now=now))
    assert await _spent(services) == 4  # a non-zero first byte purges nothing
    await services.db.run_raw(lambda raw: spend_signed(raw, _signed(services, first_byte=0), method="passkey",
                                                       now=now))
    assert await _spent(services) == 4  # the old one went, the purging answer's own came
    with pytest.raises(CeremonySpent):
        await services.db.run_raw(lambda raw: spend_signed(raw, live, method="passkey", now=now))


async def _spent(services: Services) -> int:
    async with services.db.read() as s:
        return int((await s.execute(select(func.count()).select_from(SpentChallenge))).scalar_one())


async def test_a_second_step_that_succeeds_writes_no_try_count(surface, services: Services) -> None:
    """A refused try is counted (5 a flow); the try that succeeds ends the flow, and its count
    is not written: no counter row (and its two index entries) in every two-step sign-in."""
    if not services.store.in_units_of(services.db):
        pytest.skip("counted in the database's unit of work (Redis counts every try first)")
    me, phone, codes = await _enrolled(surface, services, 471)
    first = (await me.login(phone)).data["flow_id"]
    assert (await me.second(first, codes[0])).ok
    assert await services.store.get(f"second-factor-tries:{first}") == 0
    await surface.logout()
    surface.token = None
    second = (await me.login(phone)).data["flow_id"]
    assert (await me.second(second, "aaaaa-aaaa0")).status == 401
    assert (await me.second(second, codes[1])).ok
    assert await services.store.get(f"second-factor-tries:{second}") == 1


async def test_a_passkey_sign_in_reads_its_account_with_the_passkey(surface, services: Services) -> None:
    """The answer's unit of work finds the passkey and its account in one statement (what the
    sign-in answers about the account), not a second read of ``accounts``."""
    if not services.db.is_sqlite:
        pytest.skip("SQLite's statement trace")
    me, auth, _ = await _with_passkey(surface, services, 472)
    started = await me.options()
    answer = auth.get(started.data["options"])
    seen = await _traced(services, lambda: me.answer(started.data["flow_id"], answer))
    reads = [s for s in seen if re.search(r"\bFROM accounts\b|\bJOIN accounts\b", s)]
    assert len(reads) == 1 and "credential_identifiers" in reads[0], seen


async def test_a_totp_step_reads_its_account_with_the_credential_and_writes_one_event(client_factory, services,
                                                                                    clock) -> None:
    """The step's unit of work finds the TOTP credential and its account in one statement, and the
    sign-in it finishes is one security event (its detail names the second factor): nine
    statements from BEGIN to COMMIT, one of them the customer's choice of sign-in messages (a read by
    the primary key's prefix; without a ticked channel the account is not read again)."""
    if not services.db.is_sqlite:
        pytest.skip("SQLite's statement trace")
    me, phone, secret = await _with_totp(ApiSurface(client_factory()), services, clock, 473)
    flow = (await me.login(phone)).data["flow_id"]
    seen = await _traced(services, lambda: me.second(flow, code_at(secret, clock.now()), "totp"))
    reads = [s for s in seen if re.search(r"\bFROM accounts\b|\bJOIN accounts\b", s)]
    assert len(reads) == 1 and "FROM credentials" in reads[0], seen
    assert len([s for s in seen if s.startswith("INSERT INTO security_events")]) == 1, seen
    assert len([s for s in seen if "FROM notification_preferences" in s]) == 1, seen
    assert seen[0] == "BEGIN IMMEDIATE" and seen[-1] == "COMMIT" and len(seen) == 9, seen


async def _traced(services: Services, call: Callable[[], Awaitable[Any]]) -> list[str]:
    """The SQL statements the loop's connection ran for ``call`` (which must succeed)."""
    loop = services.db.on_loop()
    assert loop is not None
    await services.db.read_raw(lambda raw: raw.one("SELECT 1", {}))  # the loop's connection is open
    driver = _driver(loop._conn)
    seen: list[str] = []
    driver.set_trace_callback(seen.append)
    try:
        assert (await call()).ok
    finally:
        driver.set_trace_callback(None)
    return seen
