#!/usr/bin/env python
"""Dostup benchmark suite: starts servers, drives wrk, prints figures and same-run ratios.

    cd /work/main && .venv/bin/python bench/run.py                 # everything, ~5-7 minutes
    .venv/bin/python bench/run.py --only whoami,signin            # some targets
    .venv/bin/python bench/run.py --rounds 5 --out /tmp/r.md      # more rounds, markdown table to a file

Targets (see bench/README.md and bench/RESULTS.md):

  whoami    T1  whoami >= 50% of a bare FastAPI endpoint on SQLite; revoked session fails at once
  pg        T1  whoami >= 35% of bare on PostgreSQL (a bench database created and dropped here)
  signin    T2  sign-in >= 85% of raw argon2id verify on both cores (argon2-cffi, 2 threads)
  register  T3  registration (to 201) >= 75% of raw argon2id hash on both cores
  storm     T4  whoami p99 during a sign-in storm <= 3x its idle p99
  workers   T5  `dostup serve --workers 2` >= 1.5x the whoami throughput of one worker
  zero      T6  no failed request at 50 concurrent sign-ins / registrations, 1 and 2 workers

The machine is shared and noisy, so every comparison is measured in rounds that alternate the
two sides (A, B, A, B, ...) and the verdict uses the median of the per-round ratios.

Everything runs on 127.0.0.1; every wrk run is bounded by -d; every server is started here in its
own session (process group) in a fresh temporary directory and stopped by its process-group id.
The bench RAISES the abuse limits through settings so that one client IP can drive thousands of
sign-ins and registrations (see BENCH_ENV); it never changes them in code.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
# the checkout's own venv, else the one running the bench (a git worktree has none of its own)
BIN = ROOT / ".venv" / "bin" if (ROOT / ".venv" / "bin").is_dir() else Path(sys.executable).parent
PY = str(BIN / "python")
PASSWORD = "Tundra-Lantern-42"
PG_ADMIN = os.environ.get("BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")

# Limits raised for the bench (all are settings; defaults in dostup/settings.py).  One client IP
# sends thousands of requests a minute here, which the defaults rightly refuse.
BENCH_ENV = {
    "DOSTUP_LIMITS__SIGNIN_PER_IP_PER_MINUTE": "100000000",
    "DOSTUP_LIMITS__REGISTRATION_PER_IP_PER_HOUR": "100000000",
    "DOSTUP_CODES__PER_IP_PER_HOUR": "100000000",
    "DOSTUP_CODES__SMS_DAILY_BUDGET": "100000000",
    "DOSTUP_CAPTCHA__MAX_NUMBER": "50",  # cheap proof of work, so tokens can be pre-solved fast
    # no purge inside a run (the 10^6 seed holds ~1.4 M expired rows, which a web process running
    # the in-process courier would start deleting one interval after it starts)
    "DOSTUP_HOUSEKEEPING__ENABLED": "false",
}

# wrk shapes (one client machine = this one; wrk competes with the server for the 2 cores)
WHOAMI_WRK = {"threads": 1, "conns": 32}
WORKERS_WRK = {"threads": 2, "conns": 64}
STORM_PROBE = {"threads": 1, "conns": 10}
POST_CONNS = 50

_started: list[subprocess.Popen[bytes]] = []


# -- processes ------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def clean_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("DOSTUP_")}
    env.update(extra)
    env["PYTHONPATH"] = str(ROOT)
    return env


def spawn(cmd: list[str], *, cwd: Path, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    fh = open(log, "wb")  # noqa: SIM115 - lives as long as the process
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
    _started.append(proc)
    return proc


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop a process we started, by the id of the process group it leads (uvicorn workers too)."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
    if proc in _started:
        _started.remove(proc)


def stop_all() -> None:
    for proc in list(_started):
        stop(proc)


def http(method: str, url: str, body: Any = None, token: str | None = None, timeout: float = 10.0) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - 127.0.0.1 only
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - 127.0.0.1 only
            raw = resp.read()
            return resp.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        try:
            return exc.code, json.loads(raw) if raw else None
        except ValueError:
            return exc.code, raw.decode(errors="replace")


def wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited ({proc.returncode}); log:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=1.0) as resp:  # noqa: S310
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"server at {url} not ready; log:\n{log.read_text()[-3000:]}")


@dataclass
class Server:
    name: str
    proc: subprocess.Popen[bytes]
    port: int
    workdir: Path
    env: dict[str, str]

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def pids(self) -> list[int]:
        """The server process and its uvicorn worker children."""
        pids = [self.proc.pid]
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    stat = (entry / "stat").read_text()
                except OSError:
                    continue
                ppid = int(stat.rsplit(")", 1)[1].split()[1])
                if ppid == self.proc.pid:
                    pids.append(int(entry.name))
        return pids


def start_bare(tmp: Path) -> Server:
    port = free_port()
    log = tmp / "bare.log"
    cmd = [str(BIN / "uvicorn"), "bare_app:app", "--host", "127.0.0.1", "--port", str(port),
           "--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning"]
    proc = spawn(cmd, cwd=BENCH, env=clean_env({}), log=log)
    wait_ready(f"http://127.0.0.1:{port}/ping", proc, log)
    return Server("bare", proc, port, BENCH, {})


def start_dostup(tmp: Path, name: str, *, workers: int = 1, db_url: str | None = None,
                 extra: dict[str, str] | None = None) -> Server:
    workdir = tmp / name
    workdir.mkdir()
    port = free_port()
    env_extra = dict(BENCH_ENV)
    if db_url:
        env_extra["DOSTUP_DATABASE_URL"] = db_url
    env_extra.update(extra or {})
    env = clean_env(env_extra)
    log = workdir / "server.log"
    cmd = [str(BIN / "dostup"), "serve", "--port", str(port), "--workers", str(workers)]
    proc = spawn(cmd, cwd=workdir, env=env, log=log)
    wait_ready(f"http://127.0.0.1:{port}/api/v1/captcha/challenge?action=login", proc, log)
    if workers > 1:  # every worker must be up before a timed run
        deadline = time.monotonic() + 30
        while log.read_text().count("Application startup complete") < workers and time.monotonic() < deadline:
            time.sleep(0.2)
    return Server(name, proc, port, workdir, env)


def seed(server: Server, first: int, count: int) -> None:
    subprocess.run([PY, str(BENCH / "seed.py"), "--first", str(first), "--count", str(count)],
                   cwd=server.workdir, env=server.env, check=True, capture_output=True)


def seeded_phone(n: int) -> str:
    return f"+7900{n:07d}"


def login(server: Server, n: int = 0) -> str:
    status, body = http("POST", server.base + "/api/v1/login",
                        {"method": "phone", "phone": seeded_phone(n), "password": PASSWORD})
    if status != 200:
        raise RuntimeError(f"login failed: {status} {body}")
    return str(body["session"]["token"])


# -- wrk ------------------------------------------------------------------------------------

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    assert m, text
    return float(m.group(1)) * _UNITS[m.group(2)]


@dataclass
class WrkResult:
    rps: float
    requests: int
    non2xx: int
    socket_errors: int
    p50_ms: float | None = None
    p99_ms: float | None = None
    raw: str = ""
    wall_s: float = 0.0
    client_cpu_s: float = 0.0  # wrk itself (its own rusage)
    server_cpu_s: float = 0.0  # every thread of the server process(es), when given
    db_cpu_s: float = 0.0  # PostgreSQL backends of the bench database, when given
    threads: list[float] = field(default_factory=list)  # per server thread, in cores, busiest first
    processes: list[float] = field(default_factory=list)  # per server process, in cores

    @property
    def failed(self) -> int:
        return self.non2xx + self.socket_errors

    @property
    def cpu_us_per_request(self) -> float:
        """All CPU spent on one request: client, server and database (the noise-robust figure)."""
        return (self.client_cpu_s + self.server_cpu_s + self.db_cpu_s) / max(1, self.requests) * 1e6

    @property
    def server_cores(self) -> float:
        return self.server_cpu_s / self.wall_s if self.wall_s else 0.0


def parse_wrk(out: str) -> WrkResult:
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    non2xx = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    sock = sum(int(x) for x in m.groups()) if m else 0
    lat = dict(re.findall(r"^\s+(50|75|90|99)%\s+(\S+)", out, re.M))
    return WrkResult(rps, requests, non2xx, sock,
                     _ms(lat["50"]) if "50" in lat else None, _ms(lat["99"]) if "99" in lat else None, out)


def wrk(url: str, *, seconds: float, threads: int = 1, conns: int = 32, headers: dict[str, str] | None = None,
        bodies: Path | None = None, timeout: str = "10s", server: Server | None = None,
        db_pids: list[int] | None = None, tokens: Path | None = None) -> WrkResult:
    """One bounded wrk run; with ``server``/``db_pids`` also the CPU they spent meanwhile."""
    cmd = ["wrk", f"-t{threads}", f"-c{conns}", f"-d{int(seconds)}s", f"--timeout={timeout}", "--latency"]
    for k, v in (headers or {}).items():
        cmd += ["-H", f"{k}: {v}"]
    env = dict(os.environ)
    if bodies is not None:
        cmd += ["-s", str(BENCH / "body.lua")]
        env.update({"WRK_BODIES": str(bodies), "WRK_THREADS": str(threads)})
    elif tokens is not None:  # GET with the bearer tokens of the file, in turn (tokens.lua)
        cmd += ["-s", str(BENCH / "tokens.lua")]
        env["WRK_TOKENS"] = str(tokens)
    cmd.append(url)
    pids = server.pids() if server else []
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        before, before_db, t0 = thread_cpu(pids), thread_cpu(db_pids or []), time.monotonic()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)  # noqa: S603
        _, status, usage = os.wait4(proc.pid, 0)  # wait4: the rusage of this wrk alone
        proc.returncode = os.waitstatus_to_exitcode(status)
        after, after_db, t1 = thread_cpu(pids), thread_cpu(db_pids or []), time.monotonic()
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    if proc.returncode != 0 or "Requests/sec" not in stdout:
        raise RuntimeError(f"wrk failed: {stdout}\n{stderr}")
    if "ran out of bodies" in stderr:
        raise RuntimeError("wrk reused request bodies: make more")
    res = parse_wrk(stdout)
    res.wall_s = t1 - t0
    res.client_cpu_s = usage.ru_utime + usage.ru_stime
    res.server_cpu_s = sum(after[k] - before.get(k, 0.0) for k in after)
    res.db_cpu_s = sum(after_db[k] - before_db.get(k, 0.0) for k in after_db)
    res.threads = sorted(((after[k] - before.get(k, 0.0)) / res.wall_s for k in after), reverse=True)
    per_pid: dict[int, float] = {}
    for k in after:
        per_pid[k[0]] = per_pid.get(k[0], 0.0) + (after[k] - before.get(k, 0.0)) / res.wall_s
    res.processes = [per_pid[p] for p in sorted(per_pid)]
    return res


class Background:
    """Run a function in a thread (used for a wrk storm beside a probe)."""

    def __init__(self, fn: Any, *args: Any, **kw: Any) -> None:
        self.result: Any = None
        self.error: BaseException | None = None

        def target() -> None:
            try:
                self.result = fn(*args, **kw)
            except BaseException as exc:  # noqa: BLE001
                self.error = exc

        self.thread = threading.Thread(target=target, daemon=True)
        self.thread.start()

    def join(self) -> Any:
        self.thread.join()
        if self.error:
            raise self.error
        return self.result


# -- CPU accounting -------------------------------------------------------------------------

_TICK = os.sysconf("SC_CLK_TCK")


def thread_cpu(pids: list[int]) -> dict[tuple[int, int], float]:
    """CPU seconds (user + system) of every thread of ``pids``."""
    out: dict[tuple[int, int], float] = {}
    for pid in pids:
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                fields = Path(f"/proc/{pid}/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            out[(pid, int(tid))] = (int(fields[11]) + int(fields[12])) / _TICK
    return out


# -- raw argon2 -----------------------------------------------------------------------------

@dataclass
class Raw:
    rate: float  # operations a second, all threads
    cpu_per_op: float  # CPU seconds per operation
    p50_ms: float  # the median time of one operation


def argon2_raw(op: str, threads: int, seconds: float) -> Raw:
    done = subprocess.run([PY, str(BENCH / "argon2_raw.py"), op, "--threads", str(threads), "--seconds", str(seconds)],
                          capture_output=True, text=True, check=True, env=clean_env({}))
    data = json.loads(done.stdout)
    return Raw(float(data["rate"]), float(data["cpu_per_op"]), float(data["p50_ms"]))


# -- registration bodies --------------------------------------------------------------------

def solve_captcha(challenge: dict[str, Any]) -> str:
    """Same as tests/support.py: find the ALTCHA number and build the base64 payload."""
    import altcha

    solution = altcha.solve_challenge_v1(challenge["challenge"], challenge["salt"], challenge["algorithm"],
                                         challenge["maxNumber"])
    assert solution is not None
    payload = {"algorithm": challenge["algorithm"], "challenge": challenge["challenge"], "number": solution.number,
               "salt": challenge["salt"], "signature": challenge["signature"]}
    return base64.b64encode(json.dumps(payload).encode()).decode()


def registration_bodies(server: Server, path: Path, first: int, count: int) -> None:
    """``count`` registration requests with distinct phones (+7912xxxxxxx) and pre-solved captchas."""
    import httpx

    async def fetch() -> list[dict[str, Any]]:
        async with httpx.AsyncClient(base_url=server.base, timeout=30) as client:
            sem = asyncio.Semaphore(8)

            async def one() -> dict[str, Any]:
                async with sem:
                    r = await client.get("/api/v1/captcha/challenge", params={"action": "register"})
                    r.raise_for_status()
                    return dict(r.json())

            return list(await asyncio.gather(*(one() for _ in range(count))))

    challenges = asyncio.run(fetch())
    with path.open("w") as fh:
        for i, ch in enumerate(challenges):
            body = {"phone": f"+7912{first + i:07d}", "country": "RU", "password": PASSWORD,
                    "password_repeat": PASSWORD, "consent_personal_data": True, "consent_marketing": False,
                    "captcha": solve_captcha(ch)}
            fh.write(json.dumps(body) + "\n")


def login_bodies(path: Path, accounts: int, count: int) -> None:
    with path.open("w") as fh:
        for i in range(count):
            fh.write(json.dumps({"method": "phone", "phone": seeded_phone(i % accounts), "password": PASSWORD}) + "\n")


# -- results --------------------------------------------------------------------------------

@dataclass
class Row:
    target: str
    measured: str
    ratio: float | None
    goal: str
    passed: bool
    cpu_ratio: float | None = None  # the same comparison in CPU per operation (robust to noise)


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)

    def log(self, text: str) -> None:
        print(text, flush=True)
        self.lines.append(text)

    def add(self, row: Row) -> None:
        self.rows.append(row)
        ratio = f"{row.ratio:.2f}" if row.ratio is not None else "-"
        cpu = f", CPU-cost ratio {row.cpu_ratio:.2f}" if row.cpu_ratio is not None else ""
        self.log(f"==> {row.target}: {row.measured}; ratio {ratio}{cpu} (goal {row.goal}) "
                 f"{'PASS' if row.passed else 'FAIL'}")

    def markdown(self) -> str:
        out = ["| target | measured (medians of alternating rounds) | ratio | CPU-cost ratio | goal | result |",
               "|---|---|---|---|---|---|"]
        for r in self.rows:
            ratio = f"**{r.ratio:.2f}**" if r.ratio is not None else "-"
            cpu = f"{r.cpu_ratio:.2f}" if r.cpu_ratio is not None else "-"
            out.append(f"| {r.target} | {r.measured} | {ratio} | {cpu} | {r.goal} | {'PASS' if r.passed else 'FAIL'} |")
        return "\n".join(out)


def med(xs: list[float]) -> float:
    return statistics.median(xs)


def cpu_split(r: WrkResult) -> str:
    n = max(1, r.requests) / 1e6
    parts = f"wrk {r.client_cpu_s / n:.0f} + server {r.server_cpu_s / n:.0f}"
    return parts + (f" + postgres {r.db_cpu_s / n:.0f}" if r.db_cpu_s else "")


def failures(results: list[WrkResult]) -> int:
    return sum(r.failed for r in results)


def pg_backend_pids(dsn: str, dbname: str) -> list[int]:
    import asyncpg

    async def q() -> list[int]:
        conn = await asyncpg.connect(dsn)
        try:
            rows = await conn.fetch("SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
                                    dbname)
        finally:
            await conn.close()
        return [int(r[0]) for r in rows]

    return asyncio.run(q())


# -- targets --------------------------------------------------------------------------------

class Bench:
    def __init__(self, args: argparse.Namespace, tmp: Path) -> None:
        self.args = args
        self.tmp = tmp
        self.report = Report()
        self.rounds = args.rounds
        self.d = args.seconds
        self._bare: Server | None = None
        self._sqlite: Server | None = None
        self._token: str | None = None
        self._reg_next = 0
        self.posts_1w: list[WrkResult] = []  # every 50-connection POST run on one worker (T6)

    # shared servers
    def bare(self) -> Server:
        if self._bare is None:
            self._bare = start_bare(self.tmp)
        return self._bare

    def sqlite(self) -> Server:
        if self._sqlite is None:
            self._sqlite = start_dostup(self.tmp, "sqlite-1w")
            seed(self._sqlite, 0, 50)
            self._token = login(self._sqlite)
        return self._sqlite

    # -- T1 -------------------------------------------------------------------------------------
    def whoami_vs_bare(self, label: str, srv: Server, token: str, db_pids_fn: Any = None) -> None:
        bare = self.bare()
        auth = {"Authorization": f"Bearer {token}"}

        def run_bare() -> WrkResult:
            return wrk(bare.base + "/ping", seconds=self.d, server=bare, **WHOAMI_WRK)

        def run_who() -> WrkResult:
            return wrk(srv.base + "/api/v1/whoami", seconds=self.d, headers=auth, server=srv, db_pids=db_pids,
                       **WHOAMI_WRK)

        wrk(bare.base + "/ping", seconds=1, **WHOAMI_WRK)  # warm up both
        wrk(srv.base + "/api/v1/whoami", seconds=1, headers=auth, **WHOAMI_WRK)
        db_pids = db_pids_fn() if db_pids_fn else None  # after the warm-up opened the connections
        bs: list[WrkResult] = []
        ws: list[WrkResult] = []
        for i in range(self.rounds):
            b, w = run_bare(), run_who()
            bs.append(b)
            ws.append(w)
            self.report.log(f"   round {i + 1}: bare {b.rps:7.0f}/s ({b.cpu_us_per_request:4.0f} us CPU/req)   "
                            f"whoami {w.rps:7.0f}/s ({w.cpu_us_per_request:4.0f} us CPU/req: {cpu_split(w)})   "
                            f"ratio {w.rps / b.rps:.3f}")
        ratio = med([w.rps / b.rps for b, w in zip(bs, ws, strict=True)])
        cpu_ratio = med([b.cpu_us_per_request for b in bs]) / med([w.cpu_us_per_request for w in ws])
        bad = failures(bs + ws)
        goal = 0.35 if "PostgreSQL" in label else 0.50
        self.report.add(Row(f"T1 whoami / bare FastAPI, {label}",
                            f"bare {med([b.rps for b in bs]):,.0f}/s, whoami {med([w.rps for w in ws]):,.0f}/s; "
                            f"CPU/request {med([b.cpu_us_per_request for b in bs]):.0f} vs "
                            f"{med([w.cpu_us_per_request for w in ws]):.0f} us; failed {bad}",
                            ratio, f">= {goal:.2f}", ratio >= goal and bad == 0, cpu_ratio))

    def revocation(self, srv: Server, label: str, probes: int = 1) -> None:
        token = login(srv, 1)
        ok_before = http("GET", srv.base + "/api/v1/whoami", token=token)[0]
        out = http("POST", srv.base + "/api/v1/logout", token=token)[0]
        after = [http("GET", srv.base + "/api/v1/whoami", token=token)[0] for _ in range(probes)]
        passed = ok_before == 200 and out == 204 and all(s == 401 for s in after)
        self.report.add(Row(f"T1 revoked session fails at once ({label})",
                            f"whoami {ok_before}; logout {out}; then whoami -> {sorted(set(after))} "
                            f"({probes} request{'s' if probes > 1 else ''}, new connection each)",
                            None, "401 at once", passed))

    def t1_sqlite(self) -> None:
        self.report.log(f"\n## T1 whoami vs a bare FastAPI endpoint, SQLite (wrk -t{WHOAMI_WRK['threads']} "
                        f"-c{WHOAMI_WRK['conns']} -d{self.d}s, alternating)")
        srv = self.sqlite()
        assert self._token
        self.whoami_vs_bare("SQLite", srv, self._token)
        self.revocation(srv, "SQLite, 1 worker")

    def t1_pg(self) -> None:
        self.report.log(f"\n## T1 whoami vs a bare FastAPI endpoint, PostgreSQL (wrk -t{WHOAMI_WRK['threads']} "
                        f"-c{WHOAMI_WRK['conns']} -d{self.d}s, alternating)")
        import asyncpg

        name = f"dostup_bench_{os.getpid()}"

        async def admin_sql(sql: str) -> None:
            conn = await asyncpg.connect(PG_ADMIN)
            try:
                await conn.execute(sql)
            finally:
                await conn.close()

        asyncio.run(admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        asyncio.run(admin_sql(f'CREATE DATABASE "{name}"'))
        url = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://") + f"/{name}"
        srv = start_dostup(self.tmp, "pg-1w", db_url=url)
        try:
            seed(srv, 0, 5)
            token = login(srv)
            http("GET", srv.base + "/api/v1/whoami", token=token)
            self.whoami_vs_bare("PostgreSQL", srv, token, db_pids_fn=lambda: pg_backend_pids(PG_ADMIN, name))
            self.revocation(srv, "PostgreSQL")
        finally:
            stop(srv.proc)
            asyncio.run(admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    # -- T2 / T3 ----------------------------------------------------------------------------------
    def signin_run(self, srv: Server, seconds: float, accounts: int = 50) -> WrkResult:
        bodies = self.tmp / f"login-{srv.name}.jsonl"
        if not bodies.exists():
            login_bodies(bodies, accounts, 20000)
        return wrk(srv.base + "/api/v1/login", seconds=seconds, threads=1, conns=POST_CONNS, bodies=bodies, server=srv)

    def registration_run(self, srv: Server, seconds: float, expect_rate: float) -> WrkResult:
        count = int(max(300, expect_rate * seconds * 2.0))
        first = self._reg_next
        self._reg_next += count
        bodies = self.tmp / f"reg-{srv.name}-{first}.jsonl"
        registration_bodies(srv, bodies, first, count)
        res = wrk(srv.base + "/api/v1/registration", seconds=seconds, threads=1, conns=POST_CONNS, bodies=bodies,
                  server=srv)
        if res.requests > count:
            raise RuntimeError("registration run sent more requests than prepared bodies")
        return res

    def hash_vs_flow(self, kind: str) -> None:
        srv = self.sqlite()
        d = self.d + 2
        op = "verify" if kind == "sign-in" else "hash"
        run = (lambda: self.signin_run(srv, d)) if kind == "sign-in" else (lambda: self.registration_run(srv, d, 120))
        if kind == "sign-in":
            self.signin_run(srv, 2)  # warm-up
        else:
            self.registration_run(srv, 2, 120)
        raws: list[Raw] = []
        runs: list[WrkResult] = []
        for i in range(self.rounds):
            raw = argon2_raw(op, 2, d)
            res = run()
            raws.append(raw)
            runs.append(res)
            top = " + ".join(f"{t:.2f}" for t in res.threads[:3])
            self.report.log(f"   round {i + 1}: raw {op} {raw.rate:5.1f}/s   {kind} {res.rps:5.1f}/s   ratio "
                            f"{res.rps / raw.rate:.3f}   server {res.server_cores:.2f} cores (busiest threads {top})   "
                            f"CPU/op: raw {raw.cpu_per_op * 1e3:.1f} ms, {kind} {res.cpu_us_per_request / 1e3:.1f} ms   "
                            f"failed {res.failed}")
        self.posts_1w += runs
        ratio = med([r.rps / raw.rate for r, raw in zip(runs, raws, strict=True)])
        cpu_ratio = med([raw.cpu_per_op for raw in raws]) / (med([r.cpu_us_per_request for r in runs]) / 1e6)
        bad = failures(runs)
        goal = 0.85 if kind == "sign-in" else 0.75
        name = "T2 sign-in / raw argon2id verify" if kind == "sign-in" else "T3 registration / raw argon2id hash"
        self.report.add(Row(f"{name}, 2 threads", f"raw {med([r.rate for r in raws]):.1f}/s, {kind} "
                            f"{med([r.rps for r in runs]):.1f}/s; server used {med([r.server_cores for r in runs]):.2f} "
                            f"cores, its 2 busiest threads {med([r.threads[0] for r in runs]):.2f} + "
                            f"{med([r.threads[1] for r in runs]):.2f}; failed {bad}",
                            ratio, f">= {goal:.2f}", ratio >= goal and bad == 0, cpu_ratio))

    def t2_signin(self) -> None:
        self.report.log(f"\n## T2 sign-in (wrk -t1 -c{POST_CONNS} -d{self.d + 2}s, 1 worker) vs raw argon2id verify "
                        "in 2 threads, alternating")
        self.hash_vs_flow("sign-in")
        one = argon2_raw("verify", 1, self.d)
        self.report.log(f"   (raw verify in one thread: {one.rate:.1f}/s)")

    def t3_registration(self) -> None:
        self.report.log(f"\n## T3 registration to 201 (wrk -t1 -c{POST_CONNS} -d{self.d + 2}s, 1 worker) vs raw "
                        "argon2id hash in 2 threads, alternating")
        self.hash_vs_flow("registration")

    # -- T4 -------------------------------------------------------------------------------------
    def t4_storm(self) -> None:
        shape = STORM_PROBE
        self.report.log(f"\n## T4 whoami p99 (wrk -t{shape['threads']} -c{shape['conns']} -d{self.d}s) idle vs during a "
                        f"sign-in storm (wrk -t1 -c{POST_CONNS}), 1 worker, alternating")
        srv = self.sqlite()
        assert self._token
        auth = {"Authorization": f"Bearer {self._token}"}
        url = srv.base + "/api/v1/whoami"
        idle: list[WrkResult] = []
        storm: list[WrkResult] = []
        storms: list[WrkResult] = []
        for i in range(self.rounds):
            a = wrk(url, seconds=self.d, headers=auth, **shape)
            bg = Background(self.signin_run, srv, self.d + 2)
            time.sleep(1.0)
            b = wrk(url, seconds=self.d, headers=auth, **shape)
            s = bg.join()
            idle.append(a)
            storm.append(b)
            storms.append(s)
            assert a.p99_ms and b.p99_ms
            self.report.log(f"   round {i + 1}: idle p99 {a.p99_ms:6.2f} ms ({a.rps:5.0f}/s)   storm p99 {b.p99_ms:6.2f} ms "
                            f"({b.rps:5.0f}/s; sign-ins meanwhile {s.rps:.1f}/s)   ratio {b.p99_ms / a.p99_ms:.2f}")
        self.posts_1w += storms
        ratio = med([b.p99_ms / a.p99_ms for a, b in zip(idle, storm, strict=True)])  # type: ignore[operator]
        bad = failures(idle + storm + storms)
        self.report.add(Row("T4 whoami p99 during sign-in storm / idle p99",
                            f"idle p99 {med([r.p99_ms for r in idle]):.2f} ms, storm p99 "  # type: ignore[misc]
                            f"{med([r.p99_ms for r in storm]):.2f} ms (p50 {med([r.p50_ms for r in idle]):.2f} -> "  # type: ignore[misc]
                            f"{med([r.p50_ms for r in storm]):.2f} ms); sign-in {med([r.rps for r in storms]):.1f}/s "  # type: ignore[misc]
                            f"meanwhile; failed {bad}", ratio, "<= 3.0", ratio <= 3.0 and bad == 0))

    # -- T5 / T6 --------------------------------------------------------------------------------
    def t5_t6_workers(self) -> None:
        one = self.sqlite()
        assert self._token
        two = start_dostup(self.tmp, "sqlite-2w", workers=2)
        try:
            seed(two, 0, 50)
            token2 = login(two)
            if "workers" in self.only:
                self.t5_workers(one, two, token2)
            if "zero" in self.only:
                self.t6_zero(one, two)
        finally:
            stop(two.proc)

    def t5_workers(self, one: Server, two: Server, token2: str) -> None:
        shape = WORKERS_WRK
        self.report.log(f"\n## T5 whoami, 1 worker vs `dostup serve --workers 2` (wrk -t{shape['threads']} "
                        f"-c{shape['conns']} -d{self.d}s, alternating)")
        a1 = {"Authorization": f"Bearer {self._token}"}
        a2 = {"Authorization": f"Bearer {token2}"}
        wrk(one.base + "/api/v1/whoami", seconds=1, headers=a1, **shape)
        wrk(two.base + "/api/v1/whoami", seconds=1, headers=a2, **shape)
        r1: list[WrkResult] = []
        r2: list[WrkResult] = []
        for i in range(self.rounds):
            a = wrk(one.base + "/api/v1/whoami", seconds=self.d, headers=a1, server=one, **shape)
            b = wrk(two.base + "/api/v1/whoami", seconds=self.d, headers=a2, server=two, **shape)
            r1.append(a)
            r2.append(b)
            per = " + ".join(f"{c:.2f}" for c in b.processes)
            self.report.log(f"   round {i + 1}: 1 worker {a.rps:7.0f}/s (server {a.server_cores:.2f} cores)   "
                            f"2 workers {b.rps:7.0f}/s (server {b.server_cores:.2f} cores: {per} per process)   "
                            f"ratio {b.rps / a.rps:.2f}   wrk {b.client_cpu_s / b.wall_s:.2f} cores")
        ratio = med([b.rps / a.rps for a, b in zip(r1, r2, strict=True)])
        bad = failures(r1 + r2)
        self.report.add(Row("T5 whoami, 2 workers / 1 worker", f"1 worker {med([r.rps for r in r1]):,.0f}/s, "
                            f"2 workers {med([r.rps for r in r2]):,.0f}/s; failed {bad}", ratio, ">= 1.50",
                            ratio >= 1.5 and bad == 0))
        self.revocation(two, "SQLite, 2 workers", probes=20)

    def t6_zero(self, one: Server, two: Server) -> None:
        d = self.d + 2
        self.report.log(f"\n## T6 failed requests at {POST_CONNS} concurrent sign-ins / registrations, SQLite "
                        f"(wrk -t1 -c{POST_CONNS} -d{d}s)")
        results: dict[str, WrkResult] = {}
        for label, srv in (("1 worker", one), ("2 workers", two)):
            results[f"sign-in, {label}"] = self.signin_run(srv, d)
            results[f"registration, {label}"] = self.registration_run(srv, d, 120)
        for key, res in results.items():
            self.report.log(f"   {key:26s}: {res.requests:5d} requests, {res.rps:5.1f}/s, non-2xx {res.non2xx}, "
                            f"socket errors {res.socket_errors}, p99 {res.p99_ms:.0f} ms")
        earlier = self.posts_1w
        total = failures(list(results.values()) + earlier)
        count = sum(r.requests for r in results.values()) + sum(r.requests for r in earlier)
        self.report.add(Row("T6 failed requests, 50 concurrent sign-ins / registrations, 1 and 2 workers",
                            f"{total} failed of {count} requests (the runs above plus the T2/T3/T4 ones)",
                            None, "0", total == 0))

    def run(self) -> None:
        self.only = set(self.args.only.split(","))
        if "whoami" in self.only:
            self.t1_sqlite()
        if "pg" in self.only:
            self.t1_pg()
        if "signin" in self.only:
            self.t2_signin()
        if "register" in self.only:
            self.t3_registration()
        if "storm" in self.only:
            self.t4_storm()
        if "workers" in self.only or "zero" in self.only:
            self.t5_t6_workers()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default="whoami,pg,signin,register,storm,workers,zero")
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds per comparison (median ratio)")
    ap.add_argument("--seconds", type=int, default=4, help="duration of one timed wrk run")
    ap.add_argument("--out", type=Path, help="write the log and the markdown table here")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory (server logs)")
    args = ap.parse_args()
    if not shutil.which("wrk"):
        print("wrk not found: apt-get install -y wrk", file=sys.stderr)
        return 2
    tmp = Path(tempfile.mkdtemp(prefix="dostup-bench-"))
    bench = Bench(args, tmp)
    started = time.monotonic()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    try:
        bench.report.log(f"Dostup bench  {time.strftime('%Y-%m-%d %H:%M:%S')}  cores={os.cpu_count()}  "
                         f"load={os.getloadavg()[0]:.2f}  tmp={tmp}")
        bench.run()
    finally:
        stop_all()
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    table = bench.report.markdown()
    print("\n" + table)
    print(f"\n(total {time.monotonic() - started:.0f} s, load average now {os.getloadavg()[0]:.2f})")
    if args.out:
        args.out.write_text("\n".join(bench.report.lines) + "\n\n" + table + "\n")
    return 0 if all(r.passed for r in bench.report.rows) else 1


if __name__ == "__main__":
    sys.exit(main())
