#!/usr/bin/env python
"""CPU of the session look-up alone (``dostup.session.reader``'s SQL) on a seeded SQLite file.

    PYTHONPATH=$PWD .venv/bin/python bench/reader_cache.py DIR/sqlite-1000000/dostup.db 1000000 \\
        [--write-every K] [--pragma cache_size=-65536] [--pragma mmap_size=2147418112]

Looks up the seeded sessions of 1,000 accounts spread over the file (``bench/bulk_seed.py``), on
a read-only connection like the server's, 5 passes per round, 3 rounds; with ``--write-every K``
another connection commits a one-row write (a bench counter) after every K look-ups, as the
server's sign-ins and touches do, which makes SQLite empty the reader's page cache (WAL mode).
Prints the CPU per look-up (the writes' own CPU left out).  Used for docs/scaling.md.
"""

from __future__ import annotations

import argparse
import hashlib
import sqlite3
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import bulk_seed as S  # noqa: E402
from dostup.session import reader as R  # noqa: E402

WRITE = ("INSERT INTO counters (key, count, expires_at) VALUES ('bench:reader-cache', 1, '2099-01-01 00:00:00.000000') "
         "ON CONFLICT (key) DO UPDATE SET count = counters.count + 1")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("path")
    ap.add_argument("accounts", type=int)
    ap.add_argument("--write-every", type=int, default=0)
    ap.add_argument("--pragma", dest="pragmas", action="append", default=[], help="e.g. cache_size=-65536")
    args = ap.parse_args()
    step = max(1, args.accounts // 1000)
    hashes = [hashlib.sha256(S.session_token(i * step % args.accounts).encode()).hexdigest() for i in range(1000)]
    conn = sqlite3.connect(args.path, check_same_thread=False, isolation_level=None)
    conn.execute("PRAGMA query_only=1")
    writer = sqlite3.connect(args.path, isolation_level=None, timeout=10)
    for pragma in args.pragmas:
        conn.execute("PRAGMA " + pragma).fetchall()
    sql = R._SQL.format(p="?")
    for h in hashes:  # warm up, and every token is there
        assert conn.execute(sql, (h,)).fetchone(), h
    rounds = []
    for _ in range(3):
        spent, done, writes = time.process_time(), 0, 0.0
        for _ in range(5):
            for h in hashes:
                conn.execute(sql, (h,)).fetchone()
                done += 1
                if args.write_every and done % args.write_every == 0:
                    w0 = time.process_time()
                    writer.execute(WRITE)
                    writes += time.process_time() - w0
        rounds.append((time.process_time() - spent - writes) / done * 1e6)
    print(f"{args.accounts:,} accounts, write every {args.write_every or '-'}, {' '.join(args.pragmas) or 'defaults'}: "
          + ", ".join(f"{r:.1f}" for r in rounds) + " us CPU per look-up (3 rounds)")


if __name__ == "__main__":
    main()
