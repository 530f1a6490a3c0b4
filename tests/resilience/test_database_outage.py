"""A PostgreSQL outage and a frozen database answer 503 with Retry-After within 5 s, on the pages
and the API, and Dostup recovers by itself when the database is back (issue 13 §3).

The database is a cluster of the test's own (``initdb`` in a temporary directory, its own port):
it is stopped with ``pg_ctl stop -m immediate`` and started again, frozen behind a TCP proxy that
stops forwarding (a network partition: packets dropped, nothing refused), or hung with SIGSTOP
(tests/resilience/test_breaker.py shows the mechanism that keeps a crowd's waits from adding up).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

from dostup.services import Services
from tests.factories import make_user
from tests.flows.helpers import PASSWORD
from tests.resilience.conftest import asgi_client, start_services
from tests.resilience.support import FreezingProxy, OwnPostgres

DEADLINE = 5.0  # issue 13: a 503 within 5 s
UNAVAILABLE_RU = "Сервис временно недоступен"


async def timed(request: Any) -> tuple[httpx.Response, float]:
    start = time.monotonic()
    resp = await asyncio.wait_for(request, 30)  # a hang fails the test instead of stalling it
    return resp, time.monotonic() - start


async def _signed_in(svc: Services, client: httpx.AsyncClient, n: int) -> str:
    phone = await make_user(svc, n)
    resp = await client.post("/api/v1/login", json={"method": "phone", "phone": phone, "password": PASSWORD})
    assert resp.status_code == 200, resp.text
    return str(resp.json()["session"]["token"])


def _requests(client: httpx.AsyncClient, token: str, phone: str) -> dict[str, Any]:
    """What a customer does while the database is away, on both surfaces."""
    bearer = {"Authorization": f"Bearer {token}"}
    cookie = {"Cookie": f"dostup_session={token}"}
    return {
        "api whoami": lambda: client.get("/api/v1/whoami", headers=bearer),
        "api sign-in": lambda: client.post("/api/v1/login",
                                           json={"method": "phone", "phone": phone, "password": PASSWORD}),
        "api sessions": lambda: client.get("/api/v1/sessions", headers=bearer),
        "page settings": lambda: client.get("/settings", headers=cookie),
        "page security history": lambda: client.get("/security", headers=cookie),
        "api readiness": lambda: client.get("/health/ready"),  # what a load balancer asks
    }


def _assert_unavailable(name: str, resp: httpx.Response, took: float) -> None:
    assert resp.status_code == 503, (name, resp.status_code, resp.text[:300])
    assert int(resp.headers["retry-after"]) > 0, name
    assert took < DEADLINE, (name, took)
    if name.startswith("api"):
        assert resp.json()["error"]["code"] == "service_unavailable", (name, resp.text)
    else:
        assert UNAVAILABLE_RU in resp.text, (name, resp.text[:500])


async def _outage_and_recovery(svc: Services, client: httpx.AsyncClient, token: str, phone: str,
                               down: Any, up: Any) -> dict[str, float]:
    requests = _requests(client, token, phone)
    figures: dict[str, float] = {}
    await asyncio.to_thread(down)
    for name, request in requests.items():
        resp, took = await timed(request())
        _assert_unavailable(name, resp, took)
        figures[name] = took
    await asyncio.to_thread(up)
    back = time.monotonic()
    while True:  # recovery by itself: no restart of Dostup
        resp = await asyncio.wait_for(requests["api whoami"](), 30)
        if resp.status_code == 200:
            break
        assert time.monotonic() - back < 30, resp.text
        await asyncio.sleep(0.05)
    figures["recovered"] = time.monotonic() - back
    for name, request in requests.items():
        resp = await asyncio.wait_for(request(), 30)
        assert resp.status_code == 200, (name, resp.status_code, resp.text[:300])
    print("\nseconds:", {k: round(v, 3) for k, v in figures.items()})  # noqa: T201 - the figures of the report
    return figures


async def test_a_stopped_postgresql_answers_503_then_recovers(own_pg: OwnPostgres, stopper: list[Any]) -> None:
    svc = await start_services(DOSTUP_DATABASE_URL=own_pg.url)
    client = asgi_client(svc)
    stopper += [svc, client]
    token = await _signed_in(svc, client, 1301)
    phone = "+79120001301"
    await _outage_and_recovery(svc, client, token, phone, own_pg.stop, own_pg.start)


async def test_a_frozen_postgresql_answers_503_within_5_s_then_recovers(
        own_pg: OwnPostgres, proxy: FreezingProxy, stopper: list[Any]) -> None:
    url = own_pg.url.replace(f":{own_pg.port}/", f":{proxy.port}/")
    svc = await start_services(DOSTUP_DATABASE_URL=url)
    client = asgi_client(svc)
    stopper += [svc, client]
    token = await _signed_in(svc, client, 1302)
    phone = "+79120001302"
    await _outage_and_recovery(svc, client, token, phone, proxy.freeze, proxy.thaw)


@pytest.mark.parametrize("database", ["sqlite", "postgres"])
async def test_a_stopped_redis_fails_closed_with_503_then_recovers(
        database: str, own_pg: OwnPostgres, own_redis: Any, tmp_path: Any, sqlite_template: Any,
        stopper: list[Any]) -> None:
    """Limits live in Redis: without it sign-in and codes are refused (fail closed), as a 503 with
    Retry-After on both surfaces, never a 500 — and served again once Redis is back."""
    import shutil

    if database == "sqlite":
        shutil.copyfile(sqlite_template, tmp_path / "dostup.db")
        url = f"sqlite+aiosqlite:///{tmp_path}/dostup.db"
    else:
        url = own_pg.url
    svc = await start_services(DOSTUP_DATABASE_URL=url, DOSTUP_REDIS_URL=own_redis.url)
    client = asgi_client(svc)
    stopper += [svc, client]
    phone = await make_user(svc, 1303)
    sign_in = {"method": "phone", "phone": phone, "password": PASSWORD}
    page = await client.get("/login")
    csrf = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]

    def requests() -> dict[str, Any]:
        return {
            "api sign-in": lambda: client.post("/api/v1/login", json=sign_in),
            "page sign-in": lambda: client.post("/login", data={**sign_in, "csrf_token": csrf}),
            "api readiness": lambda: client.get("/health/ready"),
        }

    own_redis.stop()
    figures = {}
    for name, request in requests().items():
        resp, took = await timed(request())
        _assert_unavailable(name, resp, took)
        figures[name] = took
    own_redis.start()
    for name, request in requests().items():
        resp = await asyncio.wait_for(request(), 30)
        assert resp.status_code in (200, 303), (name, resp.status_code, resp.text[:300])
    print("\nseconds to 503 without Redis:", {k: round(v, 3) for k, v in figures.items()})  # noqa: T201


CROWD = 50


@pytest.mark.parametrize("freeze", ["network", "hung server"])
async def test_a_crowd_at_the_moment_of_a_freeze_answers_503_each_within_5_s(
    freeze: str, own_pg: OwnPostgres, proxy: FreezingProxy, stopper: list[Any]
) -> None:
    """50 requests arrive the moment the database freezes (more than the pool's 20 connections and
    the session reader's 16), and more while they wait: every one is answered 503 with Retry-After
    (the localised page on the UI) within 5 s of its own start, none waits out several timeouts
    in a row (pool, then connect, then statement).  Then, with one request probing the frozen
    database, the next is refused at once (persistence.db.Breaker); after the thaw Dostup serves
    again by itself.

    Frozen two ways: a network partition (a proxy that stops forwarding; the server still cancels
    statements on its own) and a hung server (SIGSTOP of the postmaster and every backend: nothing
    on the server side ends a wait, only the client's own timeouts do).  Production waits and pool
    size (settings.DatabaseSettings); no in-process courier, whose polls would be the probes."""
    if freeze == "network":
        url = own_pg.url.replace(f":{own_pg.port}/", f":{proxy.port}/")
        down, up = proxy.freeze, proxy.thaw
    else:
        url, down, up = own_pg.url, own_pg.freeze, own_pg.thaw
    svc = await start_services(DOSTUP_DATABASE_URL=url, DOSTUP_COURIER__WORKER_IN_PROCESS="false")
    client = asgi_client(svc)
    stopper += [svc, client]
    n = 1309 if freeze == "network" else 1310
    token = await _signed_in(svc, client, n)
    requests = _requests(client, token, f"+7912000{n}")
    names = [name for _ in range(CROWD // len(requests)) for name in requests]
    pages = [name for name in names if name != "api sign-in"][:20]  # (sign-in has its limits)
    for _ in range(5):  # the pools hold open connections, as in a running service (on a busy machine a cold
        warm = await asyncio.gather(*(requests[name]() for name in pages))  # start may time out at first)
        if {r.status_code for r in warm} == {200}:
            break
    assert {r.status_code for r in warm} == {200}, [r.text[:200] for r in warm if r.status_code != 200]
    await asyncio.to_thread(down)
    thawed = False
    try:
        crowd = [asyncio.create_task(timed(requests[name]())) for name in names]
        await asyncio.sleep(1.5)  # more arrive while the crowd waits
        later = [asyncio.create_task(timed(requests[name]())) for name in requests]
        answers = await asyncio.wait_for(asyncio.gather(*crowd, *later), 60)
        slowest: dict[str, float] = {}
        wrong = []
        for name, (resp, took) in zip(names + list(requests), answers, strict=True):
            slowest[name] = max(slowest.get(name, 0.0), round(took, 2))
            try:
                _assert_unavailable(name, resp, took)
            except AssertionError as exc:
                wrong.append(str(exc)[:300])
        print(f"\n{freeze}: {len(answers)} requests, the slowest of each:", slowest)  # noqa: T201
        assert not wrong, wrong

        # The breaker: one request (the probe) waits for the database, the others are refused at once.
        probe = asyncio.create_task(timed(requests["api whoami"]()))
        await asyncio.sleep(0.2)
        refused, took_refused = await timed(requests["api sessions"]())
        probed, took_probe = await probe
        print(f"with a probe in flight: refused in {took_refused:.3f} s; the probe {took_probe:.2f} s")  # noqa: T201
        _assert_unavailable("api sessions", refused, took_refused)
        _assert_unavailable("api whoami", probed, took_probe)
        assert took_refused < 0.5 < took_probe, (took_refused, took_probe)

        await asyncio.to_thread(up)
        thawed = True
        back = time.monotonic()
        while (await asyncio.wait_for(requests["api whoami"](), 30)).status_code != 200:  # the next probe finds it
            assert time.monotonic() - back < 10
            await asyncio.sleep(0.05)
        print(f"recovered {time.monotonic() - back:.2f} s after the thaw")  # noqa: T201
        again = await asyncio.gather(*(request() for request in requests.values()))
        assert [r.status_code for r in again] == [200] * len(again), [r.text[:200] for r in again if r.status_code != 200]
    finally:
        if not thawed:
            await asyncio.to_thread(up)
