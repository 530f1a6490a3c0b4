"""The hot path: one indexed read per authenticated request, no ORM.

Every request checks the session row itself, so a revoked session fails at once in every process
(no cache to go stale).  To make that cheap the read bypasses SQLAlchemy: on SQLite a read-only
``sqlite3`` connection answers a primary-key look-up in microseconds without a thread hop (WAL
lets it read while another process writes); on PostgreSQL an ``asyncpg`` pool runs one prepared
statement.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.engine import make_url

_COLUMNS = (
    "s.id, s.account_id, s.state, s.remember, s.kind, s.authenticated_at, s.last_seen_at, s.expires_at, "
    "a.state, a.phone, a.email, a.login, a.segment, a.given_name, a.family_name, a.role, a.created_at"
)
_SQL = f"SELECT {_COLUMNS} FROM sessions s JOIN accounts a ON a.id = s.account_id WHERE s.token_hash = {{p}} AND s.revoked_at IS NULL"  # noqa: S608 - constant


@dataclass(frozen=True, slots=True)
class SessionRecord:
    id: str
    account_id: str
    state: str
    remember: bool
    kind: str
    authenticated_at: dt.datetime
    last_seen_at: dt.datetime
    expires_at: dt.datetime
    account_state: str
    phone: str | None
    email: str | None
    login: str | None
    segment: str | None
    given_name: str | None
    family_name: str | None
    role: str
    account_created_at: dt.datetime


class SessionReader(Protocol):
    async def fetch(self, token_hash: str) -> SessionRecord | None: ...

    async def close(self) -> None: ...


def _dt(value: Any) -> dt.datetime:
    return value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(value)


def _record(row: Any) -> SessionRecord:
    return SessionRecord(
        row[0], row[1], row[2], bool(row[3]), row[4], _dt(row[5]), _dt(row[6]), _dt(row[7]),
        row[8], row[9], row[10], row[11], row[12], row[13], row[14], row[15], _dt(row[16]),
    )


class SqliteSessionReader:
    def __init__(self, url: str) -> None:
        path = make_url(url).database or ""
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA query_only=1")
        self._conn.execute("PRAGMA busy_timeout=5000")
        self._sql = _SQL.format(p="?")

    async def fetch(self, token_hash: str) -> SessionRecord | None:
        row = self._conn.execute(self._sql, (token_hash,)).fetchone()
        return _record(row) if row else None

    async def close(self) -> None:
        self._conn.close()


class PostgresSessionReader:
    def __init__(self, url: str) -> None:
        self._dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        self._pool: Any = None
        self._sql = _SQL.format(p="$1")

    async def open(self) -> None:
        import asyncpg

        self._pool = await asyncpg.create_pool(self._dsn, min_size=2, max_size=8)

    async def fetch(self, token_hash: str) -> SessionRecord | None:
        if self._pool is None:
            await self.open()
        row = await self._pool.fetchrow(self._sql, token_hash)
        return _record(row) if row else None

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()


def make_reader(url: str) -> SessionReader:
    return SqliteSessionReader(url) if url.startswith("sqlite") else PostgresSessionReader(url)
