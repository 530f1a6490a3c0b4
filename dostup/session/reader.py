"""The hot path: one indexed read per authenticated request, no ORM.

Every request checks the session row itself, so a revoked session fails at once in every process
(no cache to go stale).  To make that cheap the read bypasses SQLAlchemy: on SQLite a read-only
``sqlite3`` connection answers a primary-key look-up in microseconds without a thread hop (WAL
lets it read while another process writes); on PostgreSQL a few ``asyncpg`` connections run one
prepared statement.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.engine import make_url

_COLUMNS = (
    "s.id, s.account_id, s.state, s.remember, s.kind, s.authenticated_at, s.last_seen_at, s.expires_at, "
    "a.state, a.phone, a.email, a.login, a.segment, a.given_name, a.family_name, a.role, a.created_at, "
    # whoami's onboarding answer (dostup.accounts.companies.CONFIRMED_EXISTS), in the same indexed read
    "EXISTS (SELECT 1 FROM companies c WHERE c.account_id = a.id AND c.confirmed_at IS NOT NULL)"
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
    company_confirmed: bool = False  # the account has a confirmed company profile


class SessionReader(Protocol):
    async def fetch(self, token_hash: str) -> SessionRecord | None: ...

    async def close(self) -> None: ...


def _dt(value: Any) -> dt.datetime:
    return value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(value)


def _record(row: Any) -> SessionRecord:
    return SessionRecord(
        row[0], row[1], row[2], bool(row[3]), row[4], _dt(row[5]), _dt(row[6]), _dt(row[7]),
        row[8], row[9], row[10], row[11], row[12], row[13], row[14], row[15], _dt(row[16]), bool(row[17]),
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
    """A handful of ``asyncpg`` connections, each running the one prepared look-up.

    Not ``asyncpg.Pool``: its acquire/release machinery (timeouts, shields, and a reset query
    sent to the server on every release, a second round trip) cost more CPU than the look-up
    itself.  These connections only ever run this SELECT in autocommit, so there is no session
    state to reset.  A slot holds an open connection or ``None`` (opened on demand); a connection
    that fails or is interrupted mid-query is dropped and its slot reopened by the next caller.
    """

    SIZE = 16

    def __init__(self, url: str) -> None:
        self._dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        self._sql = _SQL.format(p="$1")
        self._slots: asyncio.Queue[Any] | None = None
        self._open: set[Any] = set()

    def _queue(self) -> asyncio.Queue[Any]:
        if self._slots is None:
            self._slots = asyncio.Queue()
            for _ in range(self.SIZE):
                self._slots.put_nowait(None)
        return self._slots

    async def fetch(self, token_hash: str) -> SessionRecord | None:
        slots = self._queue()
        conn = slots.get_nowait() if not slots.empty() else await slots.get()
        try:
            if conn is None or conn.is_closed():
                import asyncpg

                self._open.discard(conn)
                conn = None
                conn = await asyncpg.connect(self._dsn)
                self._open.add(conn)
            row = await conn.fetchrow(self._sql, token_hash)
        except BaseException:
            if conn is not None:  # state unknown (cancelled mid-query, broken socket): drop it
                self._open.discard(conn)
                conn.terminate()
            slots.put_nowait(None)
            raise
        slots.put_nowait(conn)
        return _record(row) if row else None

    async def close(self) -> None:
        for conn in list(self._open):
            self._open.discard(conn)
            try:
                await conn.close(timeout=5)
            except Exception:  # noqa: BLE001 - closing anyway
                conn.terminate()
        self._slots = None


def make_reader(url: str) -> SessionReader:
    return SqliteSessionReader(url) if url.startswith("sqlite") else PostgresSessionReader(url)
