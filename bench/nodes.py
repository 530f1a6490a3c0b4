#!/usr/bin/env python
"""Scale-out: two web nodes, each pinned to its own core, against one node on one core (issue 13 §2).

    cd /work/main && .venv/bin/python bench/nodes.py --rounds 3 --seconds 5 --out /tmp/nodes.md

Both nodes are ``dostup serve`` processes over one PostgreSQL database (``dostup_nodes_<pid>`` on
127.0.0.1:5432, created and dropped here) and one Redis (127.0.0.1:6379, keys under their own
prefix, deleted afterwards), as SPEC §7 deploys them; the in-process courier is off (no messages
are sent here).  Node a runs under ``taskset -c 0``, node b under ``taskset -c 1``.  "One node" is
node a alone; "two nodes" is a and b at once, each with its own wrk of the same shape as the
one-node run (a balancer's even split), and the throughput is their sum.  Rounds alternate one and
two nodes; the verdict is the median of the per-round ratios (goal: two nodes >= 1.8x one).

* whoami: ``GET /api/v1/whoami`` with a bearer token opened on node a (served by both);
  ``wrk -t1 -c32`` per node.
* sign-in: ``POST /api/v1/login`` for 50 seeded accounts at Dostup's full argon2id cost
  (m=19 MiB, t=2); ``wrk -t1 -c8 -s body.lua`` per node, runs 3 s longer than whoami's.

Beside throughput it reports the CPU each node, PostgreSQL and wrk used, read from /proc and
rusage: on a 2-core machine wrk and PostgreSQL run on the same two cores as the nodes, so the
two-node runs leave the nodes less than two whole cores, and the per-node-core rate (requests per
CPU-second of the nodes) says whether a node serves as much when it has a twin.

``--node-cpu Q`` (cores, e.g. 0.5) gives every node the same CPU in both runs: each node runs in a
cgroup of its own (cgroup v1 ``cpu``: ``cfs_quota_us`` = Q cores, ``cpu.shares`` = ``--shares``)
besides its ``taskset`` core, and the wrk processes in one more cgroup with the same shares and no
quota, and the bench database's PostgreSQL backends (moved there at the start of every run) in
another shares-only cgroup.  On a shared 2-core machine a pinned node otherwise gets whatever its core's other
tenants leave it (0.13-0.26 of a core at load average 13-16), which differs between the one-node
and the two-node run of a round; where the quota binds in both runs, the lone node and each of the
two nodes get Q cores, so the ratio measures what a second node adds, not who else ran in that
second.  Whether it bound shows in the nodes' cores and in "seconds held back by the quota": at
load average 8-15 (bench/RESULTS.md, 18:19) it did not, even with the high shares — a node got
0.17-0.49 of a core — so there it equalised nothing; it is meant for a machine where the nodes can
reach Q and only wrk and PostgreSQL share their cores.  Redis (shared with other users of the
machine) is left as it is.  ``--busy-twin`` keeps node b's core busy during the one-node runs with a CPU spinner pinned
there (no database, no network): the machine's other tenants then meet the same competition on
core 1 in both runs instead of moving onto it while node a runs alone, which gave the lone node
more of core 0 than each twin got (0.37 against 0.28-0.34 of a core, 18:02).  The spinner uses
neither PostgreSQL nor Redis, so what the twins share is still measured.
``--signin-conns`` sets the sign-in wrk's connections per node: with
8 in flight a node waited on PostgreSQL and Redis (scheduled among a load average of 15) for two
thirds of the time and never reached its quota.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import (  # noqa: E402 - the sibling driver's helpers
    BENCH,
    BENCH_ENV,
    PG_ADMIN,
    Server,
    clean_env,
    free_port,
    login,
    login_bodies,
    parse_wrk,
    pg_backend_pids,
    spawn,
    stop_all,
    thread_cpu,
    wait_ready,
)

GOAL = 1.8
WHOAMI = {"threads": 1, "conns": 32}
SIGNIN = {"threads": 1, "conns": 8}
ACCOUNTS = 50


@dataclass
class Run:
    rps: float  # all nodes together
    requests: int
    failed: int
    wall_s: float
    node_cores: list[float]  # CPU each node used, in cores
    db_cores: float
    wrk_cores: float

    @property
    def per_node_core(self) -> float:
        """Requests per CPU-second the nodes spent."""
        return self.rps / max(1e-9, sum(self.node_cores))


CGROUP_CPU = Path("/sys/fs/cgroup/cpu")  # cgroup v1; --node-cpu needs it writable (root)
PERIOD_US = 100_000


class Cgroups:
    """``dostup-nodes-<pid>/{a,b,load}`` under the cgroup v1 ``cpu`` controller, removed by :meth:`close`."""

    def __init__(self, node_cpu: float, shares: int) -> None:
        self.root = CGROUP_CPU / f"dostup-nodes-{os.getpid()}"
        self.root.mkdir()
        for name in ("a", "b", "load", "db"):
            group = self.root / name
            group.mkdir()
            (group / "cpu.shares").write_text(str(shares))
            if name in ("a", "b"):
                (group / "cpu.cfs_period_us").write_text(str(PERIOD_US))
                (group / "cpu.cfs_quota_us").write_text(str(int(node_cpu * PERIOD_US)))

    def wrap(self, name: str, cmd: list[str]) -> list[str]:
        """``cmd`` started inside cgroup ``name`` (the shell joins it, then execs the command)."""
        procs = self.root / name / "cgroup.procs"
        return ["sh", "-c", f'echo $$ > {procs} && exec "$@"', "sh", *cmd]

    def move(self, name: str, pids: list[int]) -> None:
        for pid in pids:
            try:
                (self.root / name / "cgroup.procs").write_text(str(pid))
            except OSError:  # gone meanwhile
                pass

    def throttled(self) -> dict[str, float]:
        """Seconds each node's group was held back by its quota so far."""
        out = {}
        for name in ("a", "b"):
            stat = dict(line.split() for line in (self.root / name / "cpu.stat").read_text().splitlines())
            out[name] = int(stat.get("throttled_time", 0)) / 1e9
        return out

    def close(self) -> None:
        for name in ("a", "b", "load", "db"):
            group = self.root / name
            for pid in (group / "cgroup.procs").read_text().split():  # none left after stop_all, normally
                (CGROUP_CPU / "cgroup.procs").write_text(pid)
            group.rmdir()
        self.root.rmdir()


CGROUPS: list[Cgroups] = []


def in_group(name: str, cmd: list[str]) -> list[str]:
    return CGROUPS[0].wrap(name, cmd) if CGROUPS else cmd


def start_node(tmp: Path, name: str, core: int, env: dict[str, str]) -> Server:
    workdir = tmp / name
    workdir.mkdir()
    port = free_port()
    log = workdir / "server.log"
    cmd = in_group(name, ["taskset", "-c", str(core), sys.executable, "-m", "dostup.cli", "serve", "--port", str(port)])
    proc = spawn(cmd, cwd=workdir, env=env, log=log)
    wait_ready(f"http://127.0.0.1:{port}/api/v1/captcha/challenge?action=login", proc, log)
    return Server(name, proc, port, workdir, env)


def wrk_many(
    targets: list[tuple[Server, str]],
    *,
    seconds: int,
    shape: dict[str, int],
    token: str | None = None,
    bodies: Path | None = None,
    db_pids: list[int],
) -> Run:
    """One wrk per target at once (same shape each); throughput summed, CPU of every part measured."""
    pids = [p for server, _ in targets for p in server.pids()]
    if CGROUPS:
        CGROUPS[0].move("db", db_pids)
    env = dict(os.environ)
    if bodies is not None:
        env.update({"WRK_BODIES": str(bodies), "WRK_THREADS": str(shape["threads"])})
    procs = []
    outs = []
    before, before_db, t0 = thread_cpu(pids), thread_cpu(db_pids), time.monotonic()
    for _, url in targets:
        cmd = ["wrk", f"-t{shape['threads']}", f"-c{shape['conns']}", f"-d{seconds}s", "--timeout=10s"]
        if token:
            cmd += ["-H", f"Authorization: Bearer {token}"]
        if bodies is not None:
            cmd += ["-s", str(BENCH / "body.lua")]
        out = tempfile.TemporaryFile()
        outs.append(out)
        procs.append(subprocess.Popen(in_group("load", [*cmd, url]), stdout=out, stderr=subprocess.STDOUT, env=env))
    wrk_cpu = 0.0
    for proc in procs:
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        wrk_cpu += usage.ru_utime + usage.ru_stime
    after, after_db, t1 = thread_cpu(pids), thread_cpu(db_pids), time.monotonic()
    wall = t1 - t0
    results = []
    for proc, out in zip(procs, outs, strict=True):
        out.seek(0)
        text = out.read().decode()
        out.close()
        if proc.returncode != 0 or "Requests/sec" not in text:
            raise RuntimeError(f"wrk failed: {text}")
        if "ran out of bodies" in text:
            raise RuntimeError("wrk reused request bodies: make more")
        results.append(parse_wrk(text))
    node_cores = []
    for server, _ in targets:
        own = set(server.pids())
        node_cores.append(sum(after[k] - before.get(k, 0.0) for k in after if k[0] in own) / wall)
    return Run(
        rps=sum(r.rps for r in results),
        requests=sum(r.requests for r in results),
        failed=sum(r.failed for r in results),
        wall_s=wall,
        node_cores=node_cores,
        db_cores=sum(after_db[k] - before_db.get(k, 0.0) for k in after_db) / wall,
        wrk_cores=wrk_cpu / wall,
    )


def describe(run: Run) -> str:
    nodes = " + ".join(f"{c:.2f}" for c in run.node_cores)
    return (
        f"{run.rps:,.1f}/s ({run.requests} requests, {run.failed} failed); cores: nodes {nodes}, "
        f"postgres {run.db_cores:.2f}, wrk {run.wrk_cores:.2f}; {run.per_node_core:,.1f} per node-core-second"
    )


def create_db(name: str) -> str:
    import asyncpg

    async def go() -> None:
        conn = await asyncpg.connect(PG_ADMIN)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    asyncio.run(go())
    return PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://") + f"/{name}"


def drop_db(name: str, prefix: str) -> None:
    import asyncpg
    import redis.asyncio as aioredis

    async def go() -> None:
        conn = await asyncpg.connect(PG_ADMIN)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()
        r = aioredis.Redis.from_url("redis://127.0.0.1:6379")
        try:
            keys = [k async for k in r.scan_iter(match=prefix + "*", count=1000)]
            if keys:
                await r.delete(*keys)
        finally:
            await r.aclose()

    asyncio.run(go())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--only", default="whoami,signin")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--node-cpu", type=float, default=0.0,
                    help="cores each node may use, by a cgroup quota (0: no quota, taskset only)")
    ap.add_argument("--shares", type=int, default=8192, help="cpu.shares of the nodes', wrk's and the backends' cgroups")
    ap.add_argument("--busy-twin", action="store_true",
                    help="during the one-node runs a CPU spinner holds node b's core (taskset -c 1)")
    ap.add_argument("--signin-conns", type=int, default=SIGNIN["conns"], help="sign-in wrk connections per node")
    args = ap.parse_args()
    if (os.cpu_count() or 1) < 2:
        print("needs two cores")
        return 2

    name = f"dostup_nodes_{os.getpid()}"
    prefix = f"dostup-nodes-{os.getpid()}:"
    lines: list[str] = []
    verdicts: list[bool] = []
    rows = [
        "| target | measured (medians of alternating rounds) | ratio | CPU-normalised ratio | goal | result |",
        "|---|---|---|---|---|---|",
    ]

    def log(text: str) -> None:
        print(text, flush=True)
        lines.append(text)

    db_url = create_db(name)
    tmp = Path(tempfile.mkdtemp(prefix="dostup-nodes-"))
    if args.node_cpu:
        CGROUPS.append(Cgroups(args.node_cpu, args.shares))
    try:
        env = clean_env(
            {
                **BENCH_ENV,
                "DOSTUP_DATABASE_URL": db_url,
                "DOSTUP_REDIS_URL": "redis://127.0.0.1:6379/0",
                "DOSTUP_REDIS_PREFIX": prefix,
                "DOSTUP_SECRET_KEY": "bench-nodes-secret-key-that-is-long-enough-0123456789",
                "DOSTUP_PUBLIC_URL": "http://cabinet.localhost",
                "DOSTUP_COURIER__WORKER_IN_PROCESS": "false",
            }
        )
        subprocess.run(
            [sys.executable, "-m", "dostup.cli", "migrate"], env=env, cwd=tmp, check=True, capture_output=True
        )
        subprocess.run(
            [sys.executable, str(BENCH / "seed.py"), "--first", "0", "--count", str(ACCOUNTS)],
            env=env,
            cwd=tmp,
            check=True,
            capture_output=True,
        )
        a = start_node(tmp, "a", 0, env)
        b = start_node(tmp, "b", 1, env)
        token = login(a)
        admin = PG_ADMIN
        log(f"# nodes bench {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC; load average {os.getloadavg()}")
        log(f"node a: taskset -c 0 (pid {a.proc.pid}), node b: taskset -c 1 (pid {b.proc.pid}); db {name}")
        if CGROUPS:
            log(f"each node capped at {args.node_cpu} cores (cgroup cpu quota), cpu.shares {args.shares} for nodes, wrk "
                f"and the database's backends; sign-in wrk -c{args.signin_conns} per node")

        def compare(label: str, path: str, shape: dict[str, int], seconds: int, **kw: object) -> None:
            one_runs: list[Run] = []
            two_runs: list[Run] = []
            ratios: list[float] = []
            for rnd in range(args.rounds):
                db_pids = pg_backend_pids(admin, name)
                spinner = None
                if args.busy_twin:  # node b's core as busy as when b serves: its other tenants stay put
                    spinner = subprocess.Popen(in_group("b", ["taskset", "-c", "1", sys.executable, "-c", "while True: pass"]))
                try:
                    one = wrk_many([(a, a.base + path)], seconds=seconds, shape=shape, db_pids=db_pids, **kw)  # type: ignore[arg-type]
                finally:
                    if spinner is not None:
                        spinner.kill()
                        spinner.wait()
                two = wrk_many(
                    [(a, a.base + path), (b, b.base + path)],
                    seconds=seconds,
                    shape=shape,
                    db_pids=pg_backend_pids(admin, name),
                    **kw,  # type: ignore[arg-type]
                )
                one_runs.append(one)
                two_runs.append(two)
                if CGROUPS:
                    log(f"  {label} round {rnd + 1}: seconds held back by the quota so far {CGROUPS[0].throttled()}")
                ratios.append(two.rps / one.rps)
                log(f"  {label} round {rnd + 1}: one node {describe(one)}")
                log(f"  {label} round {rnd + 1}: two nodes {describe(two)}  -> ratio {ratios[-1]:.2f}")
            ratio = statistics.median(ratios)
            # What two nodes would serve if each had the CPU the lone node had: 2 x the ratio of their
            # rates per CPU-second (the CPU-cost ratio of bench/run.py; steady when others load the machine).
            cpu_ratio = statistics.median(
                2 * t.per_node_core / o.per_node_core for o, t in zip(one_runs, two_runs, strict=True)
            )
            failed = sum(r.failed for r in one_runs + two_runs)
            ok = ratio >= GOAL and failed == 0
            verdicts.append(ok)
            log(
                f"==> {label}: two nodes / one node {ratio:.2f} (rounds {', '.join(f'{r:.2f}' for r in ratios)}); "
                f"CPU-normalised {cpu_ratio:.2f}; failed {failed}; goal >= {GOAL}: {'PASS' if ok else 'FAIL'}"
            )
            one_m, two_m = statistics.median(r.rps for r in one_runs), statistics.median(r.rps for r in two_runs)
            rows.append(
                f"| {label} | one node {one_m:,.1f}/s, two nodes {two_m:,.1f}/s; node cores one "
                f"{statistics.median(r.node_cores[0] for r in one_runs):.2f}, two "
                f"{statistics.median(sum(r.node_cores) for r in two_runs):.2f}; failed {failed} | **{ratio:.2f}** "
                f"| {cpu_ratio:.2f} | >= {GOAL} | {'PASS' if ok else 'FAIL'} |"
            )

        if "whoami" in args.only:
            compare("whoami", "/api/v1/whoami", WHOAMI, args.seconds, token=token)
        if "signin" in args.only:
            bodies = tmp / "login.jsonl"
            login_bodies(bodies, ACCOUNTS, 20000)
            compare("sign-in", "/api/v1/login", {**SIGNIN, "conns": args.signin_conns}, args.seconds + 3, bodies=bodies)
    finally:
        stop_all()
        for groups in CGROUPS:
            groups.close()
        drop_db(name, prefix)
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    log("\n".join(["", *rows]))
    if args.out:
        args.out.write_text("\n".join(lines) + "\n")
    return 0 if all(verdicts) else 1


if __name__ == "__main__":
    raise SystemExit(main())
