"""Raw argon2id throughput with argon2-cffi, the yardstick for sign-in and registration.

    .venv/bin/python bench/argon2_raw.py verify --threads 2 --seconds 5

Uses Dostup's own password settings (m=19 MiB, t=2, p=1 by default), so the parameters are the
ones the server uses.  argon2-cffi releases the GIL, so N threads use N cores.  Prints one JSON
line: {"op", "threads", "ops", "seconds", "rate", "cpu_per_op", "p50_ms", "params"}; ``p50_ms`` is the
median time of one operation (the unloaded sign-in is compared with it, median with median).
"""

from __future__ import annotations

import argparse
import json
import statistics
import threading
import time

from argon2 import PasswordHasher, Type

from dostup.settings import PasswordSettings

PASSWORD = "Tundra-Lantern-42"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("op", choices=["hash", "verify"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=5.0)
    args = ap.parse_args()
    ps = PasswordSettings()
    ph = PasswordHasher(time_cost=ps.argon2_time_cost, memory_cost=ps.argon2_memory_kib,
                        parallelism=ps.argon2_parallelism, type=Type.ID)
    stored = ph.hash(PASSWORD)
    counts = [0] * args.threads
    took: list[float] = []  # seconds per operation, every thread (list.append is atomic)
    start = threading.Barrier(args.threads + 1)
    deadline = 0.0

    def work(i: int) -> None:
        start.wait()
        n = 0
        while (t := time.perf_counter()) < deadline:
            if args.op == "hash":
                ph.hash(PASSWORD)
            else:
                ph.verify(stored, PASSWORD)
            took.append(time.perf_counter() - t)
            n += 1
        counts[i] = n

    threads = [threading.Thread(target=work, args=(i,)) for i in range(args.threads)]
    for t in threads:
        t.start()
    t0, c0 = time.perf_counter(), time.process_time()
    deadline = t0 + args.seconds
    start.wait()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0  # includes finishing the last operation of each thread
    cpu = time.process_time() - c0
    total = sum(counts)
    print(json.dumps({"op": args.op, "threads": args.threads, "ops": total, "seconds": round(elapsed, 3),
                      "rate": total / elapsed, "cpu_per_op": cpu / max(1, total),
                      "p50_ms": 1000 * statistics.median(took) if took else None,
                      "params": {"m_kib": ps.argon2_memory_kib, "t": ps.argon2_time_cost, "p": ps.argon2_parallelism}}))


if __name__ == "__main__":
    main()
