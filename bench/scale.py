#!/usr/bin/env python
"""Issue 13 §1: the hot paths at 10^3 against 10^6 customers, on SQLite and on PostgreSQL, in one run.

    cd /work/main
    .venv/bin/python bench/scale.py seed --dir /tmp/scale-bench --accounts 1000 1000000   # once, minutes
    .venv/bin/python bench/scale.py run --dir /tmp/scale-bench --small 1000 --big 1000000 --out /tmp/scale.md

``seed`` fills ``DIR/sqlite-N/dostup.db`` and the PostgreSQL database ``dostup_scale_N`` (working
directory ``DIR/pg-N``, whose ``.dostup-dev-secret`` the keyed hashes use) with
``bench/bulk_seed.py`` (per account: a session, 10 security events, 2 messages; companies,
contracts, cards, credentials, OIDC rows).  ``run`` starts one ``dostup serve`` per database
(1 worker, the bench limits of ``run.py``) and, for each backend, alternates the small and the big
database round by round on each target:

* whoami, the security-history page and the notification-history page (``GET``, ``wrk -t1 -c32``,
  bearer tokens of 1,000 accounts spread over the whole table, in turn: ``tokens.lua``);
* sign-in (``POST /api/v1/login``, ``-c50``, 1,000 spread accounts; argon2id bound, so the look-up
  path shows in p99 and in the CPU per request);
* registration up to the code (fresh phones, pre-solved captchas), ``-c50``, and recovery (a
  temporary password for spread accounts in turn, ``-c10``).  The small table has too few phones
  for one request each at full speed under the 60 s per-phone cool-down, so the bench sets the
  cool-down to 0 and the per-phone hourly cap to 10^8 (settings, as ``run.py`` raises the per-IP
  limits): every request still finds the account, replaces its code and queues the SMS.

* the operator search (``POST /api/v1/admin/accounts/search``, ``-c32``, the seeded operator's
  bearer token): by phone, email, login, SNILS, INN, contract and card number in turn, over 1,000
  spread accounts (each search also writes its audit row);
* whoami at the big size against a bare FastAPI endpoint (``bench/bare_app.py``, ``GET /ping``), the same
  wrk shape, alternating (issue 13 §0: "whoami ≥ 1.0× a bare FastAPI endpoint, also at 10⁶ accounts").

It reports, per target, the median of per-round ratios big/small of throughput and of p99, and the
CPU per request (server + PostgreSQL backends + wrk).  Goal: throughput and p99 within 10 %.
Databases seeded before the operator search existed have no operator (account 1): seed again.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import bulk_seed as S  # noqa: E402
from bench import run as R  # noqa: E402
from bench.nodes import create_db  # noqa: E402

PG_BASE = R.PG_ADMIN.rsplit("/", 1)[0]
SPREAD = 1000  # accounts each GET run rotates over
MIX = 20  # bulk_seed's longest period of extras per account (a second factor every 20th)
# recovery at full speed on the small table: each phone many times a run (see the docstring)
RECOVERY_ENV = {"DOSTUP_CODES__RESEND_COOLDOWN_SECONDS": "0", "DOSTUP_CODES__PER_DESTINATION_PER_HOUR": "100000000"}
RECOVERY_BODIES = 3000  # a 2 s run at up to 1,500 requests a second


def pg_name(n: int) -> str:
    return f"dostup_scale_{n}"


def db_url(backend: str, root: Path, n: int) -> str:
    if backend == "sqlite":
        return f"sqlite+aiosqlite:///{root / f'sqlite-{n}' / 'dostup.db'}"
    return PG_BASE.replace("postgresql://", "postgresql+asyncpg://") + "/" + pg_name(n)


def spread(n_accounts: int, count: int, offset: int = 0) -> list[int]:
    """``count`` account numbers spread over 0..n_accounts-1 (distinct while count <= n_accounts), with
    the same mix of seeded extras as all the accounts: ``bulk_seed`` gives every 10th account a
    company and every 20th a second factor, so a plain stride of 1,000 would pick only accounts with
    both (every sign-in at 10^6 a second-factor flow, against one in 20 at 10^3)."""
    step = max(1, n_accounts // count)
    shift = MIX if step > MIX else 1  # i * step + i % 20: every remainder mod 20 once in 20 picks
    return [(offset + i * step + i % shift) % n_accounts for i in range(count)]


# -- seed -----------------------------------------------------------------------------------

def seed(args: argparse.Namespace) -> None:
    for n in args.accounts:
        for backend in args.backends.split(","):
            work = args.dir / f"{backend}-{n}"
            shutil.rmtree(work, ignore_errors=True)
            work.mkdir(parents=True)
            if backend == "pg":
                create_db(pg_name(n))
            env = R.clean_env({"DOSTUP_DATABASE_URL": db_url(backend, args.dir, n)})
            started = time.monotonic()
            subprocess.run([R.PY, str(R.BENCH / "bulk_seed.py"), "--accounts", str(n)], cwd=work, env=env, check=True)
            print(f"seeded {backend} {n:,} accounts in {time.monotonic() - started:.0f} s", flush=True)


# -- run ------------------------------------------------------------------------------------

@dataclass
class Pair:
    small: R.Server
    big: R.Server
    n_small: int
    n_big: int
    db_pids: Callable[[R.Server], list[int] | None]


def server_us(res: R.WrkResult) -> float:
    """The web process's CPU per request (without wrk and PostgreSQL)."""
    return res.server_cpu_s / max(1, res.requests) * 1e6


def start_seeded(backend: str, root: Path, n: int, extra: dict[str, str] | None = None) -> R.Server:
    """``dostup serve`` in the seeded working directory (its secret), 1 worker, the bench limits."""
    work = root / f"{backend}-{n}"
    port = R.free_port()
    env = R.clean_env({**R.BENCH_ENV, "DOSTUP_DATABASE_URL": db_url(backend, root, n),
                       "DOSTUP_LIMITS__RECOVERY_PER_IP_PER_HOUR": "100000000",  # one client IP here
                       **(extra or {})})
    log = work / "server.log"
    proc = R.spawn([str(R.BIN / "dostup"), "serve", "--port", str(port)], cwd=work, env=env, log=log)
    R.wait_ready(f"http://127.0.0.1:{port}/api/v1/captcha/challenge?action=login", proc, log, timeout=180)
    return R.Server(f"{backend}-{n}", proc, port, work, env)


def touch_all(server: R.Server, tokens: list[str]) -> None:
    """One whoami per token before any measured run: a seeded session's first check writes its
    ``last_seen_at`` (the touch), and with the bench's touch interval (an hour) none writes again,
    so both sizes measure the same read path instead of a burst of 1,000 touches landing in
    whichever runs happen to fall 60 s later (the 15:20 run's SQLite whoami rounds swung 0.44-1.08)."""
    import httpx

    async def go() -> None:
        async with httpx.AsyncClient(base_url=server.base, timeout=30) as client:
            sem = asyncio.Semaphore(8)

            async def one(token: str) -> None:
                async with sem:
                    r = await client.get("/api/v1/whoami", headers={"Authorization": f"Bearer {token}"})
                    r.raise_for_status()

            await asyncio.gather(*(one(t) for t in tokens))

    asyncio.run(go())


def captcha_bodies(server: R.Server, path: Path, action: str, bodies: list[dict[str, Any]]) -> None:
    import httpx

    async def fetch() -> list[dict[str, Any]]:
        async with httpx.AsyncClient(base_url=server.base, timeout=30) as client:
            sem = asyncio.Semaphore(8)

            async def one() -> dict[str, Any]:
                async with sem:
                    r = await client.get("/api/v1/captcha/challenge", params={"action": action})
                    r.raise_for_status()
                    return dict(r.json())

            return list(await asyncio.gather(*(one() for _ in bodies)))

    challenges = asyncio.run(fetch())
    with path.open("w") as fh:
        for body, ch in zip(bodies, challenges, strict=True):
            fh.write(json.dumps({**body, "captcha": R.solve_captcha(ch)}) + "\n")


class Scale:
    def __init__(self, args: argparse.Namespace, tmp: Path) -> None:
        self.args, self.tmp = args, tmp
        self.rows: list[str] = []
        self.lines: list[str] = []
        self.passed = True
        self.reg_next = int(time.time()) % 9000 * 1000  # fresh phones in every invocation

    def log(self, text: str) -> None:
        print(text, flush=True)
        self.lines.append(text)

    def wanted(self, target: str) -> bool:
        return not self.args.targets or any(target.startswith(t) for t in self.args.targets)

    def compare(self, backend: str, target: str, pair: Pair, run: Callable[[R.Server, int], R.WrkResult]) -> None:
        runs: dict[str, list[R.WrkResult]] = {"small": [], "big": []}
        for srv, n in ((pair.small, pair.n_small), (pair.big, pair.n_big)):  # untimed: the pages this target
            run(srv, n)  # reads come into the OS cache first (a fresh 8 GB seed is cold: p99 x6 in a first round)
        for i in range(self.args.rounds):
            for side in ("small", "big"):
                srv = pair.small if side == "small" else pair.big
                runs[side].append(run(srv, pair.n_small if side == "small" else pair.n_big))
            a, b = runs["small"][-1], runs["big"][-1]
            self.log(f"   round {i + 1}: {pair.n_small:,}: {a.rps:8.1f}/s p99 {a.p99_ms:7.2f} ms "
                     f"({a.cpu_us_per_request:6.0f} us CPU/req, server {server_us(a):6.0f})   {pair.n_big:,}: "
                     f"{b.rps:8.1f}/s p99 {b.p99_ms:7.2f} ms ({b.cpu_us_per_request:6.0f} us CPU/req, server "
                     f"{server_us(b):6.0f})   failed {a.failed + b.failed}")
        small, big = runs["small"], runs["big"]
        tput = statistics.median(b.rps / max(a.rps, 1e-9) for a, b in zip(small, big, strict=True))
        p99 = statistics.median((b.p99_ms or 0) / (a.p99_ms or 1) for a, b in zip(small, big, strict=True))
        cpu = statistics.median(b.cpu_us_per_request / max(a.cpu_us_per_request, 1e-9) for a, b in zip(small, big, strict=True))
        failed = sum(r.failed for r in small + big)
        ok = tput >= 0.9 and p99 <= 1.1 and failed == 0
        self.passed &= ok
        med = statistics.median
        row = (f"| {backend} | {target} | {med(a.rps for a in small):,.1f}/s, p99 {med(a.p99_ms or 0 for a in small):.2f} ms "
               f"| {med(b.rps for b in big):,.1f}/s, p99 {med(b.p99_ms or 0 for b in big):.2f} ms | **{tput:.2f}** "
               f"| **{p99:.2f}** | {cpu:.2f} | {failed} | {'PASS' if ok else 'FAIL'} |")
        self.rows.append(row)
        self.log(f"==> {backend} {target}: throughput x{tput:.2f}, p99 x{p99:.2f}, CPU/request x{cpu:.2f}, failed {failed}")

    def against_bare(self, backend: str, big: R.Server, n_big: int, tokens: Path) -> None:
        """Issue 13 §0: whoami at 10^6 against a bare FastAPI endpoint (``bench/bare_app.py``), the same
        wrk shape, alternating rounds; goal: at least as many requests per second."""
        self.log(f"\n### {backend} whoami at {n_big:,} accounts against bare FastAPI (GET /ping), wrk -t1 -c32")
        bare = R.start_bare(self.tmp)
        try:
            R.wrk(bare.base + "/ping", seconds=1, **R.WHOAMI_WRK)
            ratios, rates = [], []
            for i in range(self.args.rounds):
                b = R.wrk(bare.base + "/ping", seconds=self.args.seconds, **R.WHOAMI_WRK)
                w = R.wrk(big.base + "/api/v1/whoami", seconds=self.args.seconds, tokens=tokens, **R.WHOAMI_WRK)
                ratios.append(w.rps / max(b.rps, 1e-9))
                rates.append((b.rps, w.rps))
                self.log(f"   round {i + 1}: bare {b.rps:8.1f}/s   whoami {w.rps:8.1f}/s   ratio {ratios[-1]:.2f}"
                         f"   failed {b.failed + w.failed}")
        finally:
            R.stop(bare.proc)
        ratio = statistics.median(ratios)
        ok = ratio >= 1.0
        self.passed &= ok
        self.rows.append(f"| {backend} | whoami at 10^6 / bare FastAPI | bare {statistics.median(r[0] for r in rates):,.1f}/s "
                         f"| whoami {statistics.median(r[1] for r in rates):,.1f}/s | **{ratio:.2f}** "
                         f"(rounds {', '.join(f'{r:.2f}' for r in ratios)}) | – | – | – | {'PASS' if ok else 'FAIL'} |")
        self.log(f"==> {backend} whoami at {n_big:,} / bare FastAPI: x{ratio:.2f}")

    def backend(self, backend: str) -> None:
        args = self.args
        self.log(f"\n## {backend}: {args.small:,} vs {args.big:,} accounts")
        # the session touch (a write per session per interval) once per session, in touch_all
        extra = {"DOSTUP_SESSIONS__TOUCH_INTERVAL_SECONDS": "3600", **RECOVERY_ENV,
                 **dict(kv.split("=", 1) for kv in args.env)}
        small = start_seeded(backend, args.dir, args.small, extra)
        big = start_seeded(backend, args.dir, args.big, extra)

        def db_pids(srv: R.Server) -> list[int] | None:
            if backend != "pg":
                return None
            return R.pg_backend_pids(R.PG_ADMIN, pg_name(args.small if srv is small else args.big))

        pair = Pair(small, big, args.small, args.big, db_pids)
        try:
            tokens = {}
            for srv, n in ((small, args.small), (big, args.big)):
                path = self.tmp / f"tokens-{srv.name}"
                path.write_text("\n".join(S.session_token(k) for k in spread(n, SPREAD)) + "\n")
                tokens[srv.name] = path
                touch_all(srv, [S.session_token(k) for k in spread(n, SPREAD)])
                R.wrk(srv.base + "/api/v1/whoami", seconds=1, tokens=path, **R.WHOAMI_WRK)  # warm up
            d = args.seconds
            for target, path in (("whoami", "/api/v1/whoami"), ("security-history page", "/api/v1/security-events"),
                                 ("notification-history page", "/api/v1/notifications")):
                if not self.wanted(target):
                    continue
                self.log(f"\n### {backend} {target} (GET {path}, wrk -t1 -c32 -d{d}s, 1,000 accounts' tokens in turn)")
                self.compare(backend, target, pair, lambda srv, _n, p=path: R.wrk(
                    srv.base + p, seconds=d, tokens=tokens[srv.name], server=srv, db_pids=db_pids(srv),
                    **R.WHOAMI_WRK))

            if self.wanted("bare"):
                self.against_bare(backend, pair.big, args.big, tokens[pair.big.name])

            self.log(f"\n### {backend} sign-in (POST /api/v1/login, wrk -t1 -c50 -d{d + 2}s, 1,000 spread accounts)")

            def signin(srv: R.Server, n: int) -> R.WrkResult:
                bodies = self.tmp / f"login-{srv.name}.jsonl"
                if not bodies.exists():
                    phones = [S.phone(k) for k in spread(n, SPREAD)]
                    bodies.write_text("".join(json.dumps({"method": "phone", "phone": phones[i % SPREAD],
                                                          "password": S.PASSWORD}) + "\n" for i in range(20000)))
                return R.wrk(srv.base + "/api/v1/login", seconds=d + 2, threads=1, conns=R.POST_CONNS, bodies=bodies,
                             server=srv, db_pids=db_pids(srv))

            if self.wanted("sign-in"):
                self.compare(backend, "sign-in", pair, signin)

            self.log(f"\n### {backend} registration up to the code (POST /api/v1/registration, -c50 -d{d + 2}s)")

            def register(srv: R.Server, _n: int) -> R.WrkResult:
                first, count = self.reg_next, args.post_bodies
                self.reg_next += count
                path = self.tmp / f"reg-{srv.name}-{first}.jsonl"
                captcha_bodies(srv, path, "register", [
                    {"phone": f"+7913{first + i:07d}", "country": "RU", "password": S.PASSWORD,
                     "password_repeat": S.PASSWORD, "consent_personal_data": True, "consent_marketing": False}
                    for i in range(count)])
                return R.wrk(srv.base + "/api/v1/registration", seconds=d + 2, threads=1, conns=R.POST_CONNS,
                             bodies=path, server=srv, db_pids=db_pids(srv))

            if self.wanted("registration to the code"):
                self.compare(backend, "registration to the code", pair, register)

            self.log(f"\n### {backend} recovery (POST /api/v1/recovery, a temporary password, wrk -t1 -c10 -d2s)")

            rounds_done: dict[str, int] = {}

            def recover(srv: R.Server, n: int) -> R.WrkResult:
                # 1,000 spread accounts in turn (the cool-down is off, RECOVERY_ENV); a body carries a
                # one-time captcha token, so every request of a run has its own
                turn = rounds_done[srv.name] = rounds_done.get(srv.name, -1) + 1
                phones = [S.phone(k) for k in spread(n, SPREAD) if k >= 50]  # 0..49: the sign-in accounts
                path = self.tmp / f"rec-{srv.name}-{turn}.jsonl"
                captcha_bodies(srv, path, "recover", [{"phone": phones[i % len(phones)]}
                                                      for i in range(max(args.post_bodies, RECOVERY_BODIES))])
                return R.wrk(srv.base + "/api/v1/recovery", seconds=2, threads=1, conns=10, bodies=path,
                             server=srv, db_pids=db_pids(srv))

            if self.wanted("recovery"):
                self.compare(backend, "recovery", pair, recover)

            self.log(f"\n### {backend} operator search (POST /api/v1/admin/accounts/search, -c32 -d{d}s)")

            def search(srv: R.Server, n: int) -> R.WrkResult:
                path = self.tmp / f"search-{srv.name}.jsonl"
                if not path.exists():
                    kinds = (("phone", S.phone), ("email", S.email), ("login", S.login), ("snils", S.snils),
                             ("inn", S.inn), ("contract", S.contract_number), ("card", S.card_number))
                    lines = []
                    for i, k in enumerate(spread(n, SPREAD) * 20):
                        by, value = kinds[i % len(kinds)]
                        lines.append(json.dumps({"by": by, "value": value(k if by in ("phone", "email", "login", "snils") else k - k % 10),
                                                 "reason": "bench"}))
                    path.write_text("\n".join(lines) + "\n")
                return R.wrk(srv.base + "/api/v1/admin/accounts/search", seconds=d, threads=1, conns=32, bodies=path,
                             headers={"Authorization": f"Bearer {S.session_token(S.OPERATOR)}"}, server=srv,
                             db_pids=db_pids(srv))

            if self.wanted("operator search"):
                self.compare(backend, "operator search", pair, search)
        finally:
            R.stop(small.proc)
            R.stop(big.proc)

    def table(self) -> str:
        head = ["| backend | target | 10^3 (medians) | 10^6 (medians) | throughput ratio | p99 ratio | CPU/request ratio "
                "| failed | result |", "|---|---|---|---|---|---|---|---|---|"]
        return "\n".join(head + self.rows)


def run(args: argparse.Namespace) -> int:
    tmp = Path(tempfile.mkdtemp(prefix="dostup-scale-"))
    scale = Scale(args, tmp)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    started = time.monotonic()
    try:
        scale.log(f"Dostup scale bench  {time.strftime('%Y-%m-%d %H:%M:%S')}  load={os.getloadavg()[0]:.2f}")
        for backend in args.backends.split(","):
            scale.backend(backend)
    finally:
        R.stop_all()
        shutil.rmtree(tmp, ignore_errors=True)
    table = scale.table()
    scale.log("\n" + table + f"\n\n(total {time.monotonic() - started:.0f} s, load average now {os.getloadavg()[0]:.2f})")
    if args.out:
        args.out.write_text("\n".join(scale.lines) + "\n")
    return 0 if scale.passed else 1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    s = sub.add_parser("seed")
    s.add_argument("--dir", type=Path, required=True)
    s.add_argument("--accounts", type=int, nargs="+", default=[1000, 1_000_000])
    s.add_argument("--backends", default="sqlite,pg")
    r = sub.add_parser("run")
    r.add_argument("--dir", type=Path, required=True)
    r.add_argument("--small", type=int, default=1000)
    r.add_argument("--big", type=int, default=1_000_000)
    r.add_argument("--backends", default="sqlite,pg")
    r.add_argument("--rounds", type=int, default=3)
    r.add_argument("--seconds", type=int, default=4)
    r.add_argument("--post-bodies", type=int, default=400, help="registration / recovery bodies per run")
    r.add_argument("--targets", nargs="*", default=[],
                   help="only these targets (by the start of their name: whoami, security, notification, sign-in, "
                        "registration, recovery, operator search, bare: whoami at 10^6 against bare FastAPI); all by default")
    r.add_argument("--env", nargs="*", default=[], metavar="DOSTUP_X=V", help="settings for both servers")
    r.add_argument("--out", type=Path)
    args = ap.parse_args()
    if args.command == "seed":
        seed(args)
        return 0
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
