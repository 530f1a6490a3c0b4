"""Revision 0042 moves the signed passkey flow ids already answered out of ``flows`` into
``spent_challenges``: an id answered just before the upgrade is still refused just after it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from dostup.persistence.migrate import migrate

_FLOW = ("INSERT INTO flows (id, kind, state, data, created_at, updated_at, expires_at) "
         "VALUES (?, 'login', 'done', '{}', '2026-12-04 05:00:00', '2026-12-04 05:00:00', ?)")


async def test_an_id_answered_before_the_upgrade_stays_spent(tmp_path: Path) -> None:
    path = tmp_path / "up.db"
    await migrate(f"sqlite+aiosqlite:///{path}", "0040")
    with sqlite3.connect(path) as db:
        db.execute(_FLOW, ("pk1.answered-before-the-upgrade", "2026-12-04 05:05:00.000000"))
        db.execute(_FLOW, ("a-stored-flow", "2026-12-04 05:10:00.000000"))
    await migrate(f"sqlite+aiosqlite:///{path}")
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT id, expires_at FROM spent_challenges").fetchall() == [
            ("pk1.answered-before-the-upgrade", "2026-12-04 05:05:00.000000")]
        assert db.execute("SELECT id FROM flows").fetchall() == [("a-stored-flow",)]
