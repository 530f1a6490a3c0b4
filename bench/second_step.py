"""Server CPU of one TOTP second sign-in step against one whoami (issue 10 §7: at most 3×).

    .venv/bin/python bench/second_step.py [--accounts 200] [--whoami 2000]

Starts ``dostup serve`` (SQLite, the bench limits of run.py), seeds accounts, enrols TOTP for each
through the API, signs each in with its password (the first factor, not measured), waits for the
next TOTP step, then measures the server's CPU (every thread, in nanoseconds from /proc's
``schedstat``) over the second steps (``POST /api/v1/login/{flow}/second-factor``, one per flow,
codes computed with pyotp) and over as many whoami requests per round, sent by the same client at
the same concurrency, in alternating slices (``--slices``).  The ratio is CPU per second step /
CPU per whoami; the median of the rounds is reported.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any

import httpx
import pyotp

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run  # noqa: E402  (bench/run.py: servers, seeding, /proc accounting)

CONCURRENCY = 10


async def _gather(client: httpx.AsyncClient, requests: list[tuple[str, str, dict | None, str | None]]) -> int:
    sem = asyncio.Semaphore(CONCURRENCY)
    failed = 0

    async def one(method: str, url: str, body: dict | None, token: str | None) -> None:
        nonlocal failed
        async with sem:
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            r = await client.request(method, url, json=body, headers=headers)
            failed += r.status_code != 200

    await asyncio.gather(*(one(*r) for r in requests))
    return failed


def _cpu(server: run.Server) -> float:
    """CPU seconds of every thread of the server so far, to the nanosecond: the first field of
    ``/proc/PID/task/TID/schedstat`` is the time the thread ran (the /proc ``stat`` fields are in
    10 ms ticks, ±10 % on 100 sign-ins).  A thread that ended between two readings drops out of
    both, as with the ``stat`` fields."""
    ns = 0
    for stat in (path for pid in server.pids() for path in Path(f"/proc/{pid}/task").glob("*/schedstat")):
        try:
            ns += int(stat.read_text().split()[0])
        except (OSError, IndexError, ValueError):  # the thread ended
            continue
    return ns / 1e9


async def alternated(server: run.Server, ops: Callable[[int, int], Awaitable[int]], count: int,
                     whoami: Callable[[int], Awaitable[int]], whoamis: int, slices: int) -> tuple[float, float, int]:
    """Server CPU seconds per operation and per whoami, and the failed requests, over ``count``
    operations (``ops(first, end)`` sends those of that range) and ``whoamis`` whoamis, sent in
    ``slices`` alternating slices: the load of the machine (two cores, shared) drifts in seconds,
    and both sides of the ratio now meet the same drift instead of two different moments."""
    op_cpu = whoami_cpu = 0.0
    failed = 0
    for i in range(slices):
        before = _cpu(server)
        failed += await ops(count * i // slices, count * (i + 1) // slices)
        op_cpu += _cpu(server) - before
        before = _cpu(server)
        failed += await whoami(whoamis * (i + 1) // slices - whoamis * i // slices)
        whoami_cpu += _cpu(server) - before
    return op_cpu / count, whoami_cpu / whoamis, failed


def whoamis_of(client: httpx.AsyncClient, token: str) -> Callable[[int], Awaitable[int]]:
    """``n`` whoami requests at the benchmarks' concurrency; the failed ones counted."""
    return lambda n: _gather(client, [("GET", "/api/v1/whoami", None, token)] * n)


async def _enrol(client: httpx.AsyncClient, server: run.Server, n: int) -> str:
    token = run.login(server, n)
    auth = {"Authorization": f"Bearer {token}"}
    e = (await client.post("/api/v1/settings/totp", headers=auth)).json()
    secret = e["secret"]
    r = await client.post("/api/v1/settings/totp/confirm", headers=auth,
                          json={"flow_id": e["flow_id"], "code": pyotp.TOTP(secret).now()})
    assert r.status_code == 200, r.text
    return str(secret)


async def _flows(client: httpx.AsyncClient, first: int, count: int) -> list[str]:
    flows = []
    for n in range(first, first + count):
        r = await client.post("/api/v1/login", json={"method": "phone", "phone": run.seeded_phone(n),
                                                     "password": run.PASSWORD})
        flows.append(r.json()["second_factor"]["flow_id"])
    return flows


async def main_async(accounts: int, whoamis: int, rounds: int, slices: int) -> int:
    tmp = Path(tempfile.mkdtemp(prefix="dostup-bench-2fa-"))
    server = run.start_dostup(tmp, "dostup")
    try:
        run.seed(server, 0, accounts * rounds + 1)
        token = run.login(server, accounts * rounds)  # a plain account for whoami
        async with httpx.AsyncClient(base_url=server.base, timeout=30) as client:
            secrets = [await _enrol(client, server, n) for n in range(accounts * rounds)]
            step = int(time.time()) // 30
            while int(time.time()) // 30 == step:  # the enrolment codes' step is spent
                await asyncio.sleep(0.2)
            ratios, per_step, per_whoami = [], [], []
            for r in range(rounds):
                first = r * accounts
                flows = await _flows(client, first, accounts)
                when = dt.datetime.now(dt.UTC)
                bodies = [("POST", f"/api/v1/login/{f}/second-factor",
                           {"method": "totp", "code": pyotp.TOTP(secrets[first + i]).at(when)}, None)
                          for i, f in enumerate(flows)]
                step_cpu, whoami_cpu, failed = await alternated(
                    server, lambda a, b, bodies=bodies: _gather(client, bodies[a:b]), accounts,
                    whoamis_of(client, token), whoamis, slices)
                if failed:
                    print(f"round {r + 1}: {failed} failed requests", file=sys.stderr)
                    return 1
                per_step.append(step_cpu * 1e3)
                per_whoami.append(whoami_cpu * 1e3)
                ratios.append(step_cpu / whoami_cpu)
                print(f"round {r + 1}: second step {step_cpu * 1e3:.3f} ms CPU, whoami {whoami_cpu * 1e3:.3f} ms CPU,"
                      f" ratio {ratios[-1]:.2f}")
        return verdict("TOTP second step / whoami, server CPU per request", 3.0, ratios, per_step, per_whoami)
    finally:
        run.stop_all()


def verdict(what: str, goal: float, ratios: list[float], per_op: list[float], per_whoami: list[float]) -> int:
    """Print the median ratio against its goal (with the medians in ms); 0 when it is met."""
    ratio = statistics.median(ratios)
    print(f"{what}: {ratio:.2f} (goal ≤ {goal}) — {'PASS' if ratio <= goal else 'FAIL'}; medians "
          f"{statistics.median(per_op):.3f} ms vs {statistics.median(per_whoami):.3f} ms")
    return 0 if ratio <= goal else 1


def cli(main_async: Callable[[int, int, int, int], Coroutine[Any, Any, int]]) -> int:
    """``--accounts --whoami --rounds --slices``, as both CPU-ratio benchmarks take them."""
    p = argparse.ArgumentParser()
    p.add_argument("--accounts", type=int, default=200)
    p.add_argument("--whoami", type=int, default=2000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--slices", type=int, default=4, help="alternating slices of operations and whoamis a round")
    a = p.parse_args()
    return asyncio.run(main_async(a.accounts, a.whoami, a.rounds, a.slices))


def main() -> int:
    return cli(main_async)


if __name__ == "__main__":
    raise SystemExit(main())
