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

from dostup.persistence.db import Breaker, Timeouts, acquiring, asyncpg_options, connect_budget
from dostup.session.strength import Strength, parse

_COLUMNS = (
    "s.id, s.account_id, s.aal, s.amr, s.restrictions, s.remember, s.kind, s.authenticated_at, s.last_seen_at, s.expires_at, "
    "a.state, a.phone, a.email, a.login, a.segment, a.given_name, a.family_name, a.role, a.created_at, "
    # whoami's onboarding answer (dostup.accounts.companies.CONFIRMED_EXISTS), in the same indexed read
    "EXISTS (SELECT 1 FROM companies c WHERE c.account_id = a.id AND c.confirmed_at IS NOT NULL), "
    "COALESCE(s.sid, s.id)"
)
_SQL = f"SELECT {_COLUMNS} FROM sessions s JOIN accounts a ON a.id = s.account_id WHERE s.token_hash = {{p}} AND s.revoked_at IS NULL"  # noqa: S608 - constant


@dataclass(frozen=True, slots=True)
class SessionRecord:
    id: str
    account_id: str
    strength: Strength  # aal, amr and restrictions (dostup.session.strength)
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
    sid: str = ""  # the sign-in this session continues, kept across rotation (OIDC ``sid``; session.manage.rotate)


class SessionReader(Protocol):
    async def fetch(self, token_hash: str) -> SessionRecord | None: ...

    async def close(self) -> None: ...


def _dt(value: Any) -> dt.datetime:
    return value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(value)


def _record(row: Any) -> SessionRecord:
    return SessionRecord(
        row[0], row[1], parse(row[2], row[3], row[4]), bool(row[5]), row[6], _dt(row[7]), _dt(row[8]), _dt(row[9]),
        row[10], row[11], row[12], row[13], row[14], row[15], row[16], row[17], _dt(row[18]), bool(row[19]), row[20],
    )


class SqliteSessionReader:
    """The look-up on a read-only connection of its own, with a page cache of ``cache_mib``
    (``DOSTUP_DB__SQLITE_READER_CACHE_MIB``; SQLite's default is 2 MiB).  In WAL mode SQLite
    empties a connection's page cache whenever another connection has committed since its last
    read, so the cache pays off between writes; see docs/scaling.md for what it saves."""

    def __init__(self, url: str, cache_mib: int = 64) -> None:
        path = make_url(url).database or ""
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA query_only=1")
        self._conn.execute("PRAGMA busy_timeout=5000")
        self._conn.execute(f"PRAGMA cache_size=-{int(cache_mib) * 1024}")  # negative: KiB
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

    def __init__(self, url: str, timeouts: Timeouts, breaker: Breaker | None = None) -> None:
        self._breaker = breaker or Breaker()
        self._dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        self._timeouts = timeouts
        self._options = asyncpg_options(timeouts)  # a frozen database: 503 within seconds, not a hang
        self._slot_timeout = timeouts.acquire_seconds
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
        with self._breaker.attempt(), acquiring(self._timeouts):
            return await self._fetch(token_hash)

    async def _fetch(self, token_hash: str) -> SessionRecord | None:
        slots = self._queue()
        # Waiting for a slot and opening its connection share one budget, like the engine's pool
        # (persistence.db.acquiring): a crowd in front of a frozen database answers 503 too,
        # instead of queueing for one connect timeout after another.
        conn = slots.get_nowait() if not slots.empty() else await asyncio.wait_for(slots.get(), self._slot_timeout)
        try:
            if conn is None or conn.is_closed():
                import asyncpg

                self._open.discard(conn)
                conn = None
                self._breaker.check()
                conn = await asyncpg.connect(self._dsn, **{**self._options, "timeout": connect_budget(self._timeouts)})
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


def make_reader(url: str, timeouts: Timeouts | None = None, breaker: Breaker | None = None, *,
                sqlite_cache_mib: int = 64) -> SessionReader:
    if url.startswith("sqlite"):
        return SqliteSessionReader(url, sqlite_cache_mib)
    return PostgresSessionReader(url, timeouts or Timeouts(), breaker)
