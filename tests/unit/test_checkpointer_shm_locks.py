"""The Checkpointer reads the WAL-index header of the ``-shm`` file; it must not take away the locks
SQLite holds on that file.  POSIX record locks belong to a process and an inode, and closing *any*
descriptor of the file releases all of them: a Checkpointer that opened the ``-shm`` file and closed
it again dropped SQLite's shared lock on the WAL-index, so the next process to open the database
(``dostup worker``, ``dostup admin …``) found the index unused, rebuilt it under the server's feet,
and the server died of SIGBUS (found by the OpenID Connect bench, 2 runs of 2)."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from dostup.persistence.db import Checkpointer


def _locks_on(path: Path, pid: int) -> list[str]:
    """This process's lines in /proc/locks for ``path``'s inode."""
    st = os.stat(path)
    inode = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    return [line for line in Path("/proc/locks").read_text().splitlines()
            if line.split()[4] == str(pid) and line.split()[5] == inode]


def test_reading_the_wal_index_keeps_sqlites_locks_on_it(tmp_path: Path) -> None:
    db = tmp_path / "dostup.db"
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE t (x)")
    conn.execute("INSERT INTO t VALUES (1)")
    conn.execute("SELECT * FROM t").fetchall()  # a reader: SQLite holds its shared lock on the -shm
    shm = Path(f"{db}-shm")
    held = _locks_on(shm, os.getpid())
    assert held, "SQLite holds a lock on the WAL-index while a connection is open"
    checkpointer = Checkpointer(str(db))
    for _ in range(3):
        assert checkpointer.pending_frames() >= 1
    assert _locks_on(shm, os.getpid()) == held
    conn.close()

