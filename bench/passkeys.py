"""Server CPU of one whole passkey sign-in (options + verify) against one whoami (issue 10 §7: at most 4×).

    .venv/bin/python bench/passkeys.py [--accounts 200] [--whoami 2000] [--rounds 3]

Starts ``dostup serve`` (SQLite, the bench limits of run.py; its public URL is
``http://localhost:PORT``, so passkeys are on), seeds accounts, adds one passkey to each through
the JSON API with the tests' software authenticator (``tests/flows/passkey_support.py``: ES256,
user verification, a counter), then measures the server's CPU (every thread, in nanoseconds from
/proc's ``schedstat``) over whole sign-ins — ``POST /api/v1/login/passkey/options`` then
``POST /api/v1/login/passkey`` with the signed assertion; the client's signing is not the server's
CPU — and over as many whoami requests per round, sent by the same client at the same
concurrency, in alternating slices (``--slices``).  The ratio is CPU per sign-in / CPU per whoami;
the median of the rounds is reported.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent))
import run  # noqa: E402  (bench/run.py: servers, seeding, /proc accounting)
import second_step  # noqa: E402  (its whoami runs and CPU reading, so both ratios measure alike)

from tests.flows.passkey_support import Authenticator  # noqa: E402

CONCURRENCY = 10
GOAL = 4.0


async def _add(client: httpx.AsyncClient, server: run.Server, n: int, auth: Authenticator) -> None:
    token = run.login(server, n)
    headers = {"Authorization": f"Bearer {token}"}
    started = (await client.post("/api/v1/settings/passkeys/options", headers=headers)).json()
    r = await client.post("/api/v1/settings/passkeys", headers=headers,
                          json={"flow_id": started["flow_id"], "credential": auth.create(started["options"])})
    assert r.status_code == 201, r.text


async def _sign_ins(client: httpx.AsyncClient, auths: list[Authenticator]) -> int:
    sem = asyncio.Semaphore(CONCURRENCY)
    failed = 0

    async def one(auth: Authenticator) -> None:
        nonlocal failed
        async with sem:
            started = (await client.post("/api/v1/login/passkey/options", json={})).json()
            answer: dict[str, Any] = auth.get(started["options"])
            r = await client.post("/api/v1/login/passkey", json={"flow_id": started["flow_id"], "credential": answer})
            failed += r.status_code != 200

    await asyncio.gather(*(one(a) for a in auths))
    return failed


async def main_async(accounts: int, whoamis: int, rounds: int, slices: int) -> int:
    tmp = Path(tempfile.mkdtemp(prefix="dostup-bench-passkeys-"))
    server = run.start_dostup(tmp, "dostup")
    try:
        run.seed(server, 0, accounts + 1)
        token = run.login(server, accounts)  # a plain account for whoami
        async with httpx.AsyncClient(base_url=server.base, timeout=30) as client:
            auths = [Authenticator(origin=f"http://localhost:{server.port}") for _ in range(accounts)]
            for n, auth in enumerate(auths):
                await _add(client, server, n, auth)
            ratios, per_sign_in, per_whoami = [], [], []
            for r in range(rounds):
                sign_in_cpu, whoami_cpu, failed = await second_step.alternated(
                    server, lambda a, b: _sign_ins(client, auths[a:b]), accounts,
                    second_step.whoamis_of(client, token), whoamis, slices)
                if failed:
                    print(f"round {r + 1}: {failed} failed requests", file=sys.stderr)
                    return 1
                per_sign_in.append(sign_in_cpu * 1e3)
                per_whoami.append(whoami_cpu * 1e3)
                ratios.append(sign_in_cpu / whoami_cpu)
                print(f"round {r + 1}: passkey sign-in {sign_in_cpu * 1e3:.3f} ms CPU, whoami {whoami_cpu * 1e3:.3f} ms"
                      f" CPU, ratio {ratios[-1]:.2f}")
        return second_step.verdict("passkey sign-in (options + verify) / whoami, server CPU", GOAL, ratios,
                                   per_sign_in, per_whoami)
    finally:
        run.stop_all()


def main() -> int:
    return second_step.cli(main_async)


if __name__ == "__main__":
    raise SystemExit(main())
