"""Housekeeping deletes what expired (past the grace), keeps the rest, and never a live session;
in batches; with several workers at once; and the ``dostup worker`` process runs it.

On both backends (the ``services`` fixture), with rows written straight into the tables at times
around each cut-off.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from typing import Any

import pytest
from sqlalchemy import event, func, insert, select

from dostup.courier.build import courier_process, housekeeping
from dostup.persistence.models import Base, Session
from dostup.services import Services
from tests.factories import make_account
from tests.flows.helpers import PASSWORD

HOUR = dt.timedelta(hours=1)
MINUTE = dt.timedelta(minutes=1)


async def _add(services: Services, table: str, rows: list[dict[str, Any]]) -> None:
    async with services.db.write() as s:
        await s.execute(insert(Base.metadata.tables[table]), rows)


async def _ids(services: Services, table: str) -> set[str]:
    t = Base.metadata.tables[table]
    (pk,) = t.primary_key.columns
    async with services.db.read() as s:
        return set((await s.scalars(select(pk))).all())


@contextlib.contextmanager
def _sent(services: Services, start: str) -> Iterator[list[str]]:
    """The statements beginning with ``start`` (upper case) that the write engine sends inside the block."""
    found: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith(start):
            found.append(statement)

    engine = services.db.writer.sync_engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        yield found
    finally:
        event.remove(engine, "before_cursor_execute", seen)


async def _count(services: Services, table: str) -> int:
    async with services.db.read() as s:
        return int((await s.execute(select(func.count()).select_from(Base.metadata.tables[table]))).scalar_one())


def _flow(fid: str, expires: dt.datetime) -> dict[str, Any]:
    return {"id": fid, "kind": "login", "state": "started", "data": {}, "created_at": expires - HOUR,
            "updated_at": expires - HOUR, "expires_at": expires}


def _session(sid: str, account: str, *, expires: dt.datetime, revoked: dt.datetime | None = None,
             last_seen: dt.datetime | None = None) -> dict[str, Any]:
    start = min(expires - 12 * HOUR, last_seen or expires)
    return {"id": sid, "token_hash": sid.ljust(64, "0"), "account_id": account, "created_at": start,
            "authenticated_at": start, "last_seen_at": last_seen or start, "expires_at": expires, "revoked_at": revoked}


async def _seed_every_table(services: Services) -> str:
    """In each table with a time: ``old`` (past the cut-off), ``recent`` (expired, inside it), ``live``."""
    now = services.clock.now()
    grace = dt.timedelta(seconds=services.settings.housekeeping.grace_seconds)
    times = {"old": now - grace - MINUTE, "recent": now - grace + MINUTE, "live": now + 10 * MINUTE}
    account = (await make_account(services, 801)).id
    await _add(services, "flows", [_flow(f"flow-{k}", t) for k, t in times.items()])
    await _add(services, "codes", [
        {"id": f"code-{k}", "purpose": "registration", "channel": "sms", "destination": "+79120000801",
         "code_hash": f"hash-{k}", "created_at": t - 10 * MINUTE, "expires_at": t} for k, t in times.items()])
    await _add(services, "counters", [{"key": f"counter-{k}", "count": 3, "expires_at": t} for k, t in times.items()])
    await _add(services, "spent_challenges", [{"id": f"pk1.spent-{k}", "expires_at": t} for k, t in times.items()])
    await _add(services, "oidc_codes", [
        {"id": f"oidc-code-{k}", "code_hash": f"oidc-hash-{k}", "client_id": "rp", "account_id": account,
         "redirect_uri": "https://rp.example/cb", "scope": "openid", "auth_time": t, "acr": "urn:dostup:loa:1:aal1",
         "amr": "pwd", "created_at": t - MINUTE, "expires_at": t, "used_at": t - MINUTE} for k, t in times.items()])
    def grant(gid: str, created: dt.datetime, session: str | None = None) -> dict[str, Any]:
        return {"id": gid, "client_id": "rp", "account_id": account, "session_id": session, "scope": "openid",
                "auth_time": created, "acr": "urn:dostup:loa:1:aal1", "amr": "pwd", "created_at": created}

    old_grant = now - grace - 2 * HOUR - MINUTE  # its code and its exchange's access tokens long expired
    await _add(services, "oidc_grants", [
        grant("grant", now - 40 * 24 * HOUR),  # it still has token rows (below): stays
        grant("grant-done", old_grant),  # no token row, no session: goes
        grant("grant-ended", old_grant, "s-expired-old"),  # its session ended: goes
        grant("grant-young", now - grace - 2 * HOUR + MINUTE),  # its exchange's access tokens may live: stays
        grant("grant-signed-in", old_grant, "s-live"),  # signing out must still reach the partner: stays
    ])
    await _add(services, "oidc_tokens", [
        {"id": f"token-{k}", "grant_id": "grant", "kind": "access", "scope": "openid", "created_at": t - 5 * MINUTE,
         "expires_at": t} for k, t in times.items()])
    kept = dt.timedelta(seconds=services.settings.housekeeping.ended_sessions_seconds)
    await _add(services, "sessions", [
        _session("s-expired-old", account, expires=now - kept - MINUTE),
        _session("s-expired-recent", account, expires=now - kept + MINUTE),
        _session("s-revoked-old", account, expires=now + 20 * 24 * HOUR, revoked=now - kept - MINUTE),
        _session("s-revoked-recent", account, expires=now + 20 * 24 * HOUR, revoked=now - kept + MINUTE),
        _session("s-live", account, expires=now + HOUR),
        # idle for days but «Запомнить меня»: live until its absolute expiry
        _session("s-live-remembered", account, expires=now + 2 * 24 * HOUR, last_seen=now - 5 * 24 * HOUR),
    ])
    await _add(services, "security_events", [
        {"id": "event-old", "account_id": account, "kind": "login", "outcome": "success", "detail": {},
         "created_at": now - 3 * 365 * 24 * HOUR}])
    return account


TIMED = ("flows", "codes", "counters", "spent_challenges", "oidc_codes", "oidc_tokens")
OTHERS = ("verification_requests", "support_messages", "support_requests",  # letters ended; support by its retention
          "identity_profiles_sealed", "verification_requests_sealed")  # passports from before they were sealed


async def test_rows_past_their_expiry_and_the_grace_go_and_the_others_stay(services: Services) -> None:
    await _seed_every_table(services)
    counts = await services.housekeeping.purge()
    assert counts == {**dict.fromkeys(TIMED, 1), "oidc_grants": 2, "sessions": 2, "security_events": 0,
                      **dict.fromkeys(OTHERS, 0)}
    for table in TIMED:
        assert {i.rsplit("-", 1)[-1] for i in await _ids(services, table)} == {"recent", "live"}, table
    assert await _ids(services, "sessions") == {"s-expired-recent", "s-revoked-recent", "s-live", "s-live-remembered"}
    assert await _ids(services, "security_events") == {"event-old"}  # the security history is kept for ever
    assert await _ids(services, "oidc_grants") == {"grant", "grant-young", "grant-signed-in"}
    assert await services.housekeeping.purge() == dict.fromkeys([*TIMED, "oidc_grants", "sessions", "security_events",
                                                                 *OTHERS], 0)


@pytest.mark.parametrize("settings_overrides", [{"DOSTUP_HOUSEKEEPING__GRACE_SECONDS": "0",
                                                 "DOSTUP_HOUSEKEEPING__ENDED_SESSIONS_SECONDS": "0"}])
async def test_live_sessions_stay_even_with_no_grace_at_all(services: Services, surface_factory: Any) -> None:
    """A session not revoked and before its absolute expiry is never deleted, however long idle
    (an idle cookie session fails the check but its row waits for its expiry), and a session in
    use through the API keeps working after the purge."""
    now = services.clock.now()
    account = (await make_account(services, 801)).id
    second = dt.timedelta(seconds=1)
    await _add(services, "sessions", [
        _session("s-expired", account, expires=now - second),
        _session("s-revoked", account, expires=now + HOUR, revoked=now - second),
        _session("s-idle", account, expires=now + HOUR, last_seen=now - 2 * HOUR),
        _session("s-remembered", account, expires=now + 2 * 24 * HOUR, last_seen=now - 5 * 24 * HOUR),
    ])
    me = surface_factory()
    assert (await me.login(method="phone", phone="+79120000801", password=PASSWORD)).ok
    assert (await services.housekeeping.purge())["sessions"] == 2
    async with services.db.read() as s:
        left = (await s.execute(select(Session.id, Session.expires_at, Session.revoked_at)
                                .where(Session.account_id == account))).all()
    assert {r.id for r in left} >= {"s-idle", "s-remembered"} and len(left) == 3, left  # and the new sign-in's
    assert all(r.revoked_at is None and r.expires_at > now for r in left), left
    assert (await me.whoami()).ok


@pytest.mark.parametrize("settings_overrides", [{"DOSTUP_HOUSEKEEPING__BATCH_SIZE": "10",
                                                 "DOSTUP_HOUSEKEEPING__PAUSE_SECONDS": "0"}])
async def test_more_rows_than_a_batch_go_in_several_short_transactions(services: Services) -> None:
    now = services.clock.now()
    await _add(services, "flows", [_flow(f"old-{i:03d}", now - 2 * HOUR) for i in range(35)]
               + [_flow(f"live-{i}", now + HOUR) for i in range(5)])
    with _sent(services, "DELETE FROM FLOWS") as deletes:
        counts = await services.housekeeping.purge()
    assert counts["flows"] == 35
    assert len(deletes) == 4  # 10, 10, 10, then 5: the last batch is short
    assert await _ids(services, "flows") == {f"live-{i}" for i in range(5)}


@pytest.mark.parametrize("settings_overrides", [{"DOSTUP_HOUSEKEEPING__BATCH_SIZE": "10",
                                                 "DOSTUP_HOUSEKEEPING__PAUSE_SECONDS": "0"}])
async def test_workers_purging_at_once_delete_each_row_once_and_fail_nowhere(services: Services) -> None:
    now = services.clock.now()
    await _add(services, "codes", [
        {"id": f"c{i:03d}", "purpose": "registration", "channel": "sms", "destination": "+79120000802",
         "code_hash": f"h{i}", "created_at": now - 3 * HOUR, "expires_at": now - 2 * HOUR} for i in range(120)])
    others = [housekeeping(services.settings.housekeeping, services.db, services.clock) for _ in range(3)]
    results = await asyncio.gather(services.housekeeping.purge(), *(h.purge() for h in others))
    assert sum(r["codes"] for r in results) == 120
    assert await _count(services, "codes") == 0


@pytest.mark.parametrize("settings_overrides", [{"DOSTUP_HOUSEKEEPING__SECURITY_EVENTS_DAYS": "365"}])
async def test_security_events_go_only_past_their_retention_when_one_is_set(services: Services) -> None:
    now = services.clock.now()
    account = (await make_account(services, 803)).id
    await _add(services, "security_events", [
        {"id": f"event-{days}", "account_id": account, "kind": "login", "outcome": "success", "detail": {},
         "created_at": now - dt.timedelta(days=days)} for days in (366, 364, 0)])
    assert (await services.housekeeping.purge())["security_events"] == 1
    assert await _ids(services, "security_events") == {"event-364", "event-0"}


async def test_the_worker_process_purges_beside_the_courier(services: Services) -> None:
    """What ``dostup worker`` runs (``python -m dostup.app --courier``: ``courier_process(…).run()``)
    purges at its start and then every interval; this fails if it ever stops doing so."""
    now = services.clock.now()
    await _add(services, "flows", [_flow("expired", now - 2 * HOUR), _flow("live", now + HOUR)])
    process = courier_process(services.settings)
    running = asyncio.create_task(process.run())
    try:
        for _ in range(200):
            if await _ids(services, "flows") == {"live"}:
                break
            await asyncio.sleep(0.05)
        assert await _ids(services, "flows") == {"live"}
        assert not running.done()  # still delivering and waiting for the next pass
    finally:
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running


async def _wait_for(done: Callable[[], bool], *, seconds: float = 2.0) -> None:
    for _ in range(int(seconds / 0.01)):
        if done():
            return
        await asyncio.sleep(0.01)


@contextlib.asynccontextmanager
async def _running(job: Coroutine[Any, Any, None]) -> AsyncIterator[None]:
    """``job`` runs as a task while the block runs, and is cancelled after it."""
    task = asyncio.create_task(job)
    try:
        yield
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_a_failed_pass_is_logged_and_the_next_one_runs(services: Services, monkeypatch: pytest.MonkeyPatch,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    job = services.housekeeping
    passes: list[int] = []
    real = job.purge

    async def flaky() -> dict[str, int]:
        passes.append(1)
        if len(passes) == 1:
            raise ConnectionError("database down")
        return await real()

    monkeypatch.setattr(job, "purge", flaky)
    async with _running(job.run_forever(0.01)):
        await _wait_for(lambda: len(passes) >= 3)
    assert len(passes) >= 3
    assert "housekeeping failed" in caplog.text


async def test_a_web_process_with_the_courier_in_it_runs_housekeeping_too(services: Services) -> None:
    """The embedded default (no ``dostup worker``: the courier runs in the web process) purges too."""
    assert services.settings.courier.worker_in_process and services.settings.housekeeping.enabled
    assert "housekeeping" in {t.get_name() for t in asyncio.all_tasks()}


@pytest.mark.parametrize("settings_overrides", [{"DOSTUP_HOUSEKEEPING__ENABLED": "false"},
                                                {"DOSTUP_COURIER__WORKER_IN_PROCESS": "false"}])
async def test_no_housekeeping_in_a_web_process_when_it_is_off_or_a_worker_does_it(services: Services) -> None:
    assert "housekeeping" not in {t.get_name() for t in asyncio.all_tasks()}


async def test_a_web_process_purges_first_one_interval_after_it_starts(
        services: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    job = services.housekeeping
    passes: list[float] = []

    async def counted() -> dict[str, int]:
        passes.append(asyncio.get_running_loop().time())
        return {}

    monkeypatch.setattr(job, "purge", counted)
    started = asyncio.get_running_loop().time()
    async with _running(job.run_forever(0.3, first_now=False)):
        await asyncio.sleep(0.1)
        assert passes == []  # not at start: the process has requests to serve
        await _wait_for(lambda: bool(passes))
    assert passes and passes[0] - started >= 0.27


async def test_an_oidc_code_stays_while_its_grant_does(services: Services) -> None:
    """A grant is written with its code, under its id; the code's ``used_at`` says whether its partner
    was handed tokens (signing out tells only those), so the code goes only after its grant."""
    now = services.clock.now()
    account = (await make_account(services, 802)).id
    old = now - dt.timedelta(days=2)
    await _add(services, "sessions", [_session("s-on", account, expires=now + HOUR)])
    await _add(services, "oidc_grants", [
        {"id": gid, "client_id": "rp", "account_id": account, "code_id": gid, "session_id": sid, "scope": "openid",
         "auth_time": old, "acr": "urn:dostup:loa:1:aal1", "amr": "pwd", "created_at": old}
        for gid, sid in (("code-signed-in", "s-on"), ("code-done", None))])
    await _add(services, "oidc_codes", [
        {"id": cid, "code_hash": f"hash-{cid}", "client_id": "rp", "account_id": account,
         "redirect_uri": "https://rp.example/cb", "scope": "openid", "auth_time": old, "acr": "urn:dostup:loa:1:aal1",
         "amr": "pwd", "created_at": old, "expires_at": old + MINUTE, "used_at": old}
        for cid in ("code-signed-in", "code-done")])
    first = await services.housekeeping.purge()
    assert first["oidc_grants"] == 1 and first["oidc_codes"] == 0  # the grant went first; its code waits a pass
    assert await _ids(services, "oidc_grants") == {"code-signed-in"}
    assert (await services.housekeeping.purge())["oidc_codes"] == 1
    assert await _ids(services, "oidc_codes") == {"code-signed-in"}  # its grant lives: its session does


# -- registered letters past their expiry (SPEC §4.8): ended, their sealed code erased ---------------------------

DAY = dt.timedelta(days=1)


def _letter(rid: str, account: str, *, expires: dt.datetime, printed: bool = False, state: str = "submitted",
            verifier: str = "letter") -> dict[str, Any]:
    data: dict[str, Any] = {"address": {"postcode": "101000", "city": "Москва"}, "code_hash": f"hash-{rid}",
                            "tries": 1, "printed_at": (expires - 20 * DAY).isoformat() if printed else None}
    if not printed and state == "submitted":
        data["code_sealed"] = f"sealed-{rid}"
    ordered = expires - 30 * DAY
    return {"id": rid, "account_id": account, "level": 3, "state": state, "verifier": verifier, "data": data,
            "created_at": ordered, "updated_at": ordered, "expires_at": expires if verifier == "letter" else None,
            "queued_at": ordered if "code_sealed" in data else None}


async def _requests(services: Services) -> dict[str, Any]:
    from dostup.persistence.models_levels import VerificationRequest

    async with services.db.read() as s:
        return {r.id: r for r in (await s.execute(select(VerificationRequest))).scalars()}


async def test_letters_past_their_expiry_are_ended_and_their_sealed_codes_erased(services: Services) -> None:
    """A letter nobody printed, or printed and never entered, keeps neither its place in the queue nor its code's
    text once it expired: it ends as the customer's next order or code would end it (``code_expired``); the
    others are left alone."""
    now = services.clock.now()
    account = (await make_account(services, 804)).id
    await _add(services, "verification_requests", [
        _letter("unprinted-expired", account, expires=now - MINUTE),
        _letter("printed-expired", account, expires=now - DAY, printed=True),
        _letter("unprinted-live", account, expires=now + MINUTE),
        _letter("printed-live", account, expires=now + DAY, printed=True),
        _letter("confirmed-long-ago", account, expires=now - DAY, printed=True, state="approved"),
        _letter("profile-check", account, expires=now - DAY, verifier="operator"),  # no expiry: never ended here
    ])
    assert (await services.housekeeping.purge())["verification_requests"] == 2
    rows = await _requests(services)
    for rid in ("unprinted-expired", "printed-expired"):
        r = rows[rid]
        assert (r.state, r.answer, r.answered_at, r.queued_at) == ("cancelled", "code_expired", now, None), rid
        assert "code_sealed" not in r.data and r.data["code_hash"] == f"hash-{rid}" and r.data["tries"] == 1, r.data
        assert r.data["address"] == {"postcode": "101000", "city": "Москва"}  # only the code's text goes
    assert rows["unprinted-live"].data["code_sealed"] == "sealed-unprinted-live"
    assert rows["unprinted-live"].queued_at is not None
    assert {rid: rows[rid].state for rid in ("unprinted-live", "printed-live", "confirmed-long-ago", "profile-check")
            } == {"unprinted-live": "submitted", "printed-live": "submitted", "confirmed-long-ago": "approved",
                  "profile-check": "submitted"}
    assert (await services.housekeeping.purge())["verification_requests"] == 0


@pytest.mark.parametrize("settings_overrides", [{"DOSTUP_HOUSEKEEPING__BATCH_SIZE": "10",
                                                 "DOSTUP_HOUSEKEEPING__PAUSE_SECONDS": "0"}])
async def test_expired_letters_are_ended_a_batch_a_transaction(services: Services) -> None:
    now = services.clock.now()
    account = (await make_account(services, 805)).id
    await _add(services, "verification_requests", [_letter(f"old-{i:02d}", account, expires=now - DAY)
                                                   for i in range(25)])
    with _sent(services, "UPDATE VERIFICATION_REQUESTS") as updates:
        assert (await services.housekeeping.purge())["verification_requests"] == 25
    assert len(updates) == 3  # 10, 10, then 5
    assert {r.state for r in (await _requests(services)).values()} == {"cancelled"}


# -- support requests (SPEC §4.14): closed ones go with their messages after the retention -----------------------

def _support(rid: str, account: str, state: str, at: dt.datetime, *, closed: dt.datetime | None = None,
             messages: int = 2) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    req = {"id": rid, "account_id": account, "topic": "other", "state": state, "created_at": at, "updated_at": at,
           "queued_at": at, "closed_at": closed, "closed_by": account if closed else None}
    return req, [{"id": f"{rid}m{n}", "request_id": rid, "seq": n + 1, "author": "customer", "text": "вопрос",
                  "created_at": at} for n in range(messages)]


async def _add_support(services: Services, rows: list[tuple[dict[str, Any], list[dict[str, Any]]]]) -> None:
    await _add(services, "support_requests", [req for req, _ in rows])
    await _add(services, "support_messages", [m for _, msgs in rows for m in msgs])


async def test_closed_support_requests_go_with_their_messages_after_the_retention(services: Services) -> None:
    now = services.clock.now()
    kept = dt.timedelta(days=services.settings.housekeeping.support_requests_days)
    assert kept == 3 * 365 * DAY  # the default
    account = (await make_account(services, 806)).id
    long_ago = now - kept - 30 * DAY
    await _add_support(services, [
        _support("closedold", account, "closed", long_ago, closed=now - kept - MINUTE, messages=3),
        _support("closedrecent", account, "closed", long_ago, closed=now - kept + MINUTE),
        _support("openold", account, "open", long_ago),  # still waiting for support, however old: stays
        _support("answeredold", account, "answered", long_ago),
    ])
    counts = await services.housekeeping.purge()
    assert (counts["support_requests"], counts["support_messages"]) == (1, 3)
    assert await _ids(services, "support_requests") == {"closedrecent", "openold", "answeredold"}
    assert {i[:-2] for i in await _ids(services, "support_messages")} == {"closedrecent", "openold", "answeredold"}


@pytest.mark.parametrize("settings_overrides", [{"DOSTUP_HOUSEKEEPING__BATCH_SIZE": "200",
                                                 "DOSTUP_HOUSEKEEPING__PAUSE_SECONDS": "0",
                                                 "DOSTUP_HOUSEKEEPING__SUPPORT_REQUESTS_DAYS": "30"}])
async def test_support_requests_go_a_few_a_transaction_never_more_messages_than_a_batch(services: Services) -> None:
    """A request holds at most 100 messages, so a batch of 200 rows takes two requests with all of theirs."""
    now = services.clock.now()
    account = (await make_account(services, 807)).id
    await _add_support(services, [_support(f"r{i}", account, "closed", now - 40 * DAY, closed=now - 31 * DAY,
                                           messages=i + 1) for i in range(5)])
    with _sent(services, "DELETE FROM SUPPORT_REQUESTS") as transactions:
        counts = await services.housekeeping.purge()
    assert (counts["support_requests"], counts["support_messages"]) == (5, 15)
    assert len(transactions) == 3  # 2, 2, then 1
    assert await _count(services, "support_requests") == await _count(services, "support_messages") == 0


@pytest.mark.parametrize("settings_overrides", [{"DOSTUP_HOUSEKEEPING__BATCH_SIZE": "100",
                                                 "DOSTUP_HOUSEKEEPING__PAUSE_SECONDS": "0"}])
async def test_workers_purging_support_requests_at_once_delete_each_once(services: Services) -> None:
    now = services.clock.now()
    account = (await make_account(services, 808)).id
    await _add_support(services, [_support(f"p{i:02d}", account, "closed", now - 5 * 365 * DAY,
                                           closed=now - 4 * 365 * DAY) for i in range(12)])
    others = [housekeeping(services.settings.housekeeping, services.db, services.clock) for _ in range(2)]
    results = await asyncio.gather(services.housekeeping.purge(), *(h.purge() for h in others))
    assert sum(r["support_requests"] for r in results) == 12 and sum(r["support_messages"] for r in results) == 24
    assert await _count(services, "support_requests") == await _count(services, "support_messages") == 0


async def test_a_deleted_accounts_requests_are_closed_at_once_and_go_after_the_retention(client_factory: Any,
                                                                                         services: Services) -> None:
    """Deleting the account empties the texts and closes the requests (``erase_support``); they then go as every
    closed request does, the retention after the deletion."""
    from tests.flows.test_deletion import _delete, _reauth
    from tests.flows.test_support import _customer, create
    from tests.support import ApiSurface

    api = ApiSurface(client_factory())
    await _customer(services, api, 809)
    assert (await create(api, topic="profile", text="Паспорт 4508 123456")).ok
    await _reauth(api)
    assert await _delete(api) == 204
    assert await _count(services, "support_requests") == 1
    services.clock.advance(seconds=services.settings.housekeeping.support_requests_days * 86400 - 60)
    assert (await services.housekeeping.purge())["support_requests"] == 0
    services.clock.advance(seconds=120)
    assert (await services.housekeeping.purge())["support_requests"] == 1
    assert await _count(services, "support_requests") == await _count(services, "support_messages") == 0
