#!/usr/bin/env python
"""Issue 13 §0, side by side in one run: memory of a web process and of ``dostup worker``, unloaded
sign-in latency against one raw argon2id verify, and whoami against a bare FastAPI endpoint.

    cd /work/main && .venv/bin/python bench/memory.py --rounds 3 --out /tmp/memory.md

* bare FastAPI (``bench/bare_app.py``) and one ``dostup serve`` (SQLite, the courier in its own
  ``dostup worker`` process, as several web processes run it) start here, each in its own session.
* RSS: ``VmRSS`` of every process sampled every 20 ms, and the kernel's high-water mark
  ``VmHWM``; idle after start, after the whoami runs, and the peak during a sign-in storm
  (``wrk -c50`` on 50 seeded accounts, the argon2id pool busy on both cores).  The worker's peak
  while it delivers the codes of a registration storm.
* Unloaded sign-in: ``wrk -t1 -c1`` (one request at a time) p50, against the median time of one raw
  verify in one thread (``bench/argon2_raw.py verify --threads 1``), alternating; the figure is the
  difference of the medians.
* whoami / bare: ``wrk -t1 -c32``, alternating rounds, median of the per-round ratios.
* ``--bounded``: the other way to spend two cores on argon2id, ``dostup serve --workers 2`` with one
  hashing thread per process (``DOSTUP_PASSWORDS__HASH_THREADS=1``): the peak RSS of each process
  under the same storm, and its sign-in rate against raw argon2id verify in 2 threads (T2's
  comparison; T2 itself runs one process with two hashing threads), alternating.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import run as R  # noqa: E402 - the driver's servers, wrk and parsing
from dostup.credentials.password import GIVE_BACK_AFTER_SECONDS  # noqa: E402

MIB = 1024


def status_kib(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class Sampler:
    """The largest VmRSS seen for each pid, sampled every 20 ms in a thread."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids, self.peak = pids, dict.fromkeys(pids, 0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            for name, pid in self.pids.items():
                self.peak[name] = max(self.peak[name], status_kib(pid, "VmRSS"))

    def stop(self) -> dict[str, int]:
        self._stop.set()
        self._thread.join()
        return self.peak


def start_worker(tmp: Path, srv: R.Server) -> subprocess.Popen[bytes]:
    log = srv.workdir / "worker.log"
    proc = R.spawn([str(R.BIN / "dostup"), "worker"], cwd=srv.workdir, env=srv.env, log=log)
    deadline = time.monotonic() + 120
    last, steady = -1, 0
    while time.monotonic() < deadline and steady < 10:  # RSS unchanged for 2 s
        time.sleep(0.2)
        try:  # ``dostup worker`` migrates, then execs the courier process: wait for that one
            courier = b"--courier" in Path(f"/proc/{proc.pid}/cmdline").read_bytes()
        except OSError:
            courier = False
        rss = status_kib(proc.pid, "VmRSS")
        steady = steady + 1 if courier and rss == last else 0
        last = rss
    return proc


def mib(kib: int) -> str:
    return f"{kib / MIB:.1f}"


def bounded(tmp: Path, bodies: Path, rounds: int, seconds: int, log: Callable[[str], None]) -> list[str]:
    """``--workers 2``, one hashing thread each: peak RSS per process in a storm, sign-in / raw verify."""
    srv = R.start_dostup(tmp, "bounded", workers=2, extra={"DOSTUP_COURIER__WORKER_IN_PROCESS": "false",
                                                           "DOSTUP_PASSWORDS__HASH_THREADS": "1"})
    R.seed(srv, 0, 50)
    R.login(srv)
    workers = {f"worker {p}": p for p in srv.pids()  # uvicorn's workers, not multiprocessing's resource tracker
               if p != srv.proc.pid and b"resource_tracker" not in Path(f"/proc/{p}/cmdline").read_bytes()}
    idle = {k: status_kib(p, "VmRSS") for k, p in workers.items()}
    R.wrk(srv.base + "/api/v1/login", seconds=2, threads=1, conns=R.POST_CONNS, bodies=bodies)  # warm-up
    ratios, rates = [], []
    sampler = Sampler(workers)
    for i in range(rounds):
        raw = R.argon2_raw("verify", 2, seconds + 2)
        res = R.wrk(srv.base + "/api/v1/login", seconds=seconds + 2, threads=1, conns=R.POST_CONNS, bodies=bodies)
        ratios.append(res.rps / raw.rate)
        rates.append(res.rps)
        log(f"  bounded round {i + 1}: raw verify (2 threads) {raw.rate:6.1f}/s   sign-in {res.rps:6.1f}/s   "
            f"ratio {res.rps / raw.rate:.3f}   failed {res.failed}")
    peak = sampler.stop()
    R.stop(srv.proc)
    worst = max(peak.values())
    log(f"bounded: idle RSS MiB {', '.join(mib(v) for v in idle.values())}; peak {', '.join(mib(v) for v in peak.values())}")
    ratio = statistics.median(ratios)
    return [
        f"| `--workers 2`, 1 hashing thread each: peak RSS per process, sign-in storm | {mib(worst)} MiB (idle "
        f"{', '.join(mib(v) for v in idle.values())}) | <= 100 MiB | {'PASS' if worst <= 100 * MIB else 'FAIL'} |",
        f"| `--workers 2`, 1 hashing thread each: sign-in / raw verify in 2 threads | {ratio:.2f} (rounds "
        f"{', '.join(f'{r:.2f}' for r in ratios)}; {statistics.median(rates):.1f}/s) | >= 0.85 (T2's goal) | "
        f"{'PASS' if ratio >= 0.85 else 'FAIL'} |",
    ]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=4)
    ap.add_argument("--out", type=Path)
    ap.add_argument("--bounded", action="store_true", help="also measure --workers 2 with one hashing thread each")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="dostup-memory-"))
    lines: list[str] = []

    def log(text: str) -> None:
        print(text, flush=True)
        lines.append(text)

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    try:
        log(f"Dostup memory bench  {time.strftime('%Y-%m-%d %H:%M:%S')}  load={os.getloadavg()[0]:.2f}")
        bare = R.start_bare(tmp)
        web = R.start_dostup(tmp, "web", extra={"DOSTUP_COURIER__WORKER_IN_PROCESS": "false"})
        R.seed(web, 0, 50)
        worker = start_worker(tmp, web)
        token = R.login(web)
        pids = {"bare": bare.proc.pid, "web": web.proc.pid, "worker": worker.pid}
        idle = {k: status_kib(p, "VmRSS") for k, p in pids.items()}
        log(f"idle RSS MiB: bare {mib(idle['bare'])}, web {mib(idle['web'])}, worker {mib(idle['worker'])}")

        # whoami vs bare, alternating
        auth = {"Authorization": f"Bearer {token}"}
        ratios = []
        for i in range(args.rounds):
            b = R.wrk(bare.base + "/ping", seconds=args.seconds, **R.WHOAMI_WRK)
            w = R.wrk(web.base + "/api/v1/whoami", seconds=args.seconds, headers=auth, **R.WHOAMI_WRK)
            ratios.append(w.rps / b.rps)
            log(f"  round {i + 1}: bare {b.rps:7.0f}/s  whoami {w.rps:7.0f}/s  ratio {w.rps / b.rps:.3f}")
        whoami_ratio = statistics.median(ratios)

        # unloaded sign-in p50 vs one raw verify
        bodies = tmp / "login.jsonl"
        R.login_bodies(bodies, 50, 20000)
        raw_ms, p50s = [], []
        for i in range(args.rounds):
            raw = R.argon2_raw("verify", 1, args.seconds)
            res = R.wrk(web.base + "/api/v1/login", seconds=args.seconds, threads=1, conns=1, bodies=bodies)
            raw_ms.append(raw.p50_ms)  # median with median: a mean would count the verifies' slow tail
            assert res.p50_ms is not None
            p50s.append(res.p50_ms)
            log(f"  round {i + 1}: raw verify p50 {raw.p50_ms:6.2f} ms (mean {1000.0 / raw.rate:6.2f})   sign-in p50 "
                f"{res.p50_ms:6.2f} ms   above {res.p50_ms - raw.p50_ms:5.2f} ms   failed {res.failed}")
        above = statistics.median(p50s) - statistics.median(raw_ms)

        # sign-in storm: peak RSS of the web process
        sampler = Sampler(pids)
        storm = R.wrk(web.base + "/api/v1/login", seconds=args.seconds + 4, threads=1, conns=R.POST_CONNS,
                      bodies=bodies, server=web)
        peak = sampler.stop()
        log(f"sign-in storm: {storm.rps:.1f}/s, failed {storm.failed}; peak RSS MiB: web {mib(peak['web'])} "
            f"(VmHWM {mib(status_kib(web.proc.pid, 'VmHWM'))}), bare {mib(peak['bare'])}")
        after = status_kib(web.proc.pid, "VmRSS")

        # registration storm: the worker delivers every code
        sampler = Sampler(pids)
        reg_bodies = tmp / "reg.jsonl"
        R.registration_bodies(web, reg_bodies, 0, 600)
        reg = R.wrk(web.base + "/api/v1/registration", seconds=args.seconds + 2, threads=1, conns=R.POST_CONNS,
                    bodies=reg_bodies)
        time.sleep(3.0)  # the worker drains the outbox
        wpeak = sampler.stop()
        log(f"registration storm: {reg.rps:.1f}/s, failed {reg.failed}; peak RSS MiB: worker {mib(wpeak['worker'])} "
            f"(VmHWM {mib(status_kib(worker.pid, 'VmHWM'))}), web {mib(wpeak['web'])}")
        time.sleep(GIVE_BACK_AFTER_SECONDS + 2 - 3.0)  # hashing idle since the storm's end: its memory is given back
        rested = status_kib(web.proc.pid, "VmRSS")
        log(f"web RSS {GIVE_BACK_AFTER_SECONDS + 2:.0f} s after the storms: {mib(rested)} MiB")

        bounded_rows: list[str] = []
        if args.bounded:
            R.stop(web.proc)
            R.stop(worker)
            bounded_rows = bounded(tmp, bodies, args.rounds, args.seconds, log)

        table = [
            "| figure | measured | goal | result |",
            "|---|---|---|---|",
            f"| peak RSS, web process, sign-in storm | {mib(peak['web'])} MiB (idle {mib(idle['web'])}, after the storm "
            f"{mib(after)}, {GIVE_BACK_AFTER_SECONDS + 2:.0f} s after the storms {mib(rested)}; bare FastAPI {mib(idle['bare'])} idle, {mib(peak['bare'])} peak) | <= 100 MiB | "
            f"{'PASS' if peak['web'] <= 100 * MIB else 'FAIL'} |",
            f"| peak RSS, `dostup worker`, registration storm | {mib(wpeak['worker'])} MiB (idle {mib(idle['worker'])}) "
            f"| <= 80 MiB | {'PASS' if wpeak['worker'] <= 80 * MIB else 'FAIL'} |",
            f"| unloaded sign-in p50 above one raw verify | {above:.2f} ms (p50 {statistics.median(p50s):.2f} ms, "
            f"raw {statistics.median(raw_ms):.2f} ms) | <= 3 ms | {'PASS' if above <= 3.0 else 'FAIL'} |",
            f"| whoami / bare FastAPI | {whoami_ratio:.2f} (rounds {', '.join(f'{r:.2f}' for r in ratios)}) | >= 1.0 | "
            f"{'PASS' if whoami_ratio >= 1.0 else 'FAIL'} |",
            *bounded_rows,
        ]
        log("\n" + "\n".join(table))
    finally:
        R.stop_all()
        shutil.rmtree(tmp, ignore_errors=True)
    if args.out:
        args.out.write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
