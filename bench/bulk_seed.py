"""Fill a Dostup database with a million customers, fast: the scale bench and the index test use it.

    cd <server workdir> && DOSTUP_DATABASE_URL=... python bench/bulk_seed.py --accounts 1000000

Runs in the server's working directory (its ``.dostup-dev-secret``) so that keyed hashes (contract
and card numbers) match what the server computes.  Migrates first, then writes, per account:

* a confirmed account: phone ``+7901nnnnnnn``, email ``uN@bench.example``, login ``userN``, a valid
  SNILS; the first ``--bench-accounts`` get their own argon2id hash of :data:`PASSWORD` (Dostup's own
  hasher and parameters), the rest share one more hash of it, so every account can sign in;
* one live session whose bearer token is :func:`session_token` (``--sessions-per-account``);
* ``--events-per-account`` security events spread over 90 days, ``--notifications-per-account``
  sent SMS/email messages;
* every 10th account a confirmed company, a registry contract and its link, and a registry card
  (number :func:`card_number`) linked to it; every 20th a TOTP credential, a passkey credential id
  and a quick-passcode device; every 2nd an OIDC grant with its code, tokens and consent; some flows,
  codes, counters, consents, preferences, and unclaimed registration codes (abandoned registrations).

PostgreSQL gets the rows by ``COPY`` (asyncpg), SQLite by ``executemany`` in one transaction with
``synchronous=OFF`` and a large page cache.  A progress bar goes to stderr.  Ids of seeded rows are
``<table letter><zero-padded hex>`` (opaque 32-character strings like ``random_id()``), so the
primary-key indexes are filled in order.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import hashlib
import json
import sqlite3
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table
from stdnum.ru.inn import calc_company_check_digit

from dostup.accounts.contracts import number_key
from dostup.core.crypto import Keyring, sha256_hex
from dostup.identity.documents import snils_checksum
from dostup.persistence.migrate import migrate, model_metadata

PASSWORD = "Tundra-Lantern-42"
BATCH = 20_000
EVENT_KINDS = (("login", "success"), ("login", "failure"), ("logout", "success"), ("password_changed", "success"),
               ("reauth", "success"), ("session_ended", "success"), ("contract_linked", "success"))
USER_AGENT = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/124.0.0.0 Safari/537.36")


def phone(n: int) -> str:
    return f"+7901{n:07d}"


def email(n: int) -> str:
    return f"u{n}@bench.example"


def login(n: int) -> str:
    return f"user{n}"


def snils(n: int) -> str:
    first9 = f"{2_000_000 + n:09d}"
    return first9 + snils_checksum(first9)


OPERATOR = 1  # account 1 is an operator: its bearer token (``session_token(1)``) searches the others


def inn(n: int) -> str:
    """A valid organisation INN (10 digits, its check digit) for account ``n``'s company."""
    first9 = f"77{n:07d}"
    return first9 + calc_company_check_digit(first9)


def session_token(n: int) -> str:
    """The bearer token of account ``n``'s seeded session (bench only: guessable by design)."""
    return f"bench-session-{n:07d}-0000000000000000000000"


def contract_number(n: int) -> str:
    return f"77{n:08d}"


def card_number(n: int) -> str:
    """A Luhn-valid 16-digit card number for account ``n`` (registry kind ``card``)."""
    body = f"220220{n:09d}"
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d = d * 2 - 9 if d * 2 > 9 else d * 2
        total += d
    return body + str((10 - total % 10) % 10)


def rid(letter: str, n: int) -> str:
    return f"{letter}{n:031x}"


@dataclass
class Plan:
    accounts: int
    sessions_per_account: int = 1
    events_per_account: int = 10
    notifications_per_account: int = 2
    bench_accounts: int = 50

    def rows(self) -> int:
        a = self.accounts
        per = 1 + self.sessions_per_account + self.events_per_account + self.notifications_per_account
        return a * per + int(a * 5.35)  # the smaller tables and rows without an account


class Progress:
    """A plain stderr progress bar (rows written / planned, rate, elapsed)."""

    def __init__(self, total: int, enabled: bool) -> None:
        self.total, self.done, self.enabled = max(1, total), 0, enabled
        self.start = self.last = time.monotonic()

    def add(self, n: int, table: str) -> None:
        self.done += n
        now = time.monotonic()
        if self.enabled and (now - self.last > 0.5 or self.done >= self.total):
            self.last = now
            frac = min(1.0, self.done / self.total)
            bar = "#" * int(frac * 30)
            rate = self.done / max(1e-9, now - self.start)
            sys.stderr.write(f"\r[{bar:30s}] {frac * 100:5.1f}%  {self.done:,} rows  {rate:,.0f}/s  "
                             f"{now - self.start:5.0f}s  {table:24s}")
            sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")


# -- rows, table by table (dicts keyed by column name; missing columns take NULL) ---------------

class Rows:
    """The rows that need Python (hashes, keyed MACs, check digits), as dicts per table."""

    def __init__(self, plan: Plan, keyring: Keyring, hashes: list[str], shared_hash: str, now: dt.datetime) -> None:
        self.p, self.keyring, self.hashes, self.shared, self.now = plan, keyring, hashes, shared_hash, now
        self.t0 = now - dt.timedelta(days=90)

    def account_id(self, n: int) -> str:
        return rid("a", n)

    def accounts(self) -> Iterator[dict[str, Any]]:
        now = self.now
        for n in range(self.p.accounts):
            created = self.t0 + dt.timedelta(seconds=n % 7_000_000)
            yield {"id": rid("a", n), "state": "active", "role": "operator" if n == OPERATOR else "customer", "phone": phone(n),
                   "phone_verified_at": created, "email": email(n), "email_verified_at": created, "login": login(n),
                   "snils": snils(n), "password_hash": self.hashes[n] if n < len(self.hashes) else self.shared,
                   "password_changed_at": created, "given_name": "Иван", "family_name": "Петров", "locale": "ru",
                   "created_at": created, "updated_at": now}

    def every(self, step: int) -> Iterator[int]:
        return iter(range(0, self.p.accounts, step))

    def companies(self) -> Iterator[dict[str, Any]]:
        for n in self.every(10):
            yield {"id": rid("c", n), "account_id": rid("a", n), "kind": "legal", "name": f"ООО «Ромашка {n}»",
                   "inn": inn(n), "email": email(n), "created_at": self.now,
                   "confirmed_at": self.now}

    def contract_registry(self) -> Iterator[dict[str, Any]]:
        for n in self.every(10):
            number, card = contract_number(n), card_number(n)
            yield {"id": rid("r", 2 * n), "kind": "contract", "number_hash": number_key(self.keyring, "contract", number),
                   "number": number, "display": number, "owner_phone": phone(n), "created_at": self.now,
                   "updated_at": self.now}
            yield {"id": rid("r", 2 * n + 1), "kind": "card", "number_hash": number_key(self.keyring, "card", card),
                   "display": f"{card[:4]} **** **** {card[-4:]}", "owner_phone": phone(n), "created_at": self.now,
                   "updated_at": self.now}

    def contract_links(self) -> Iterator[dict[str, Any]]:
        for n in self.every(10):
            for j, (kind, number) in enumerate((("contract", contract_number(n)), ("card", card_number(n)))):
                yield {"id": rid("l", 2 * n + j), "account_id": rid("a", n),
                       "registry_key": number_key(self.keyring, kind, number), "kind": kind, "display": number[-4:],
                       "method": "sms", "created_at": self.now}

    def flows(self) -> Iterator[dict[str, Any]]:
        for n in self.every(5):
            yield {"id": rid("f", n), "kind": "login", "state": "done", "data": "{}", "account_id": rid("a", n),
                   "created_at": self.now, "updated_at": self.now, "expires_at": self.now - dt.timedelta(hours=1)}

    def codes(self) -> Iterator[dict[str, Any]]:
        for n in self.every(5):
            yield {"id": rid("k", n), "purpose": "recovery", "channel": "sms", "destination": phone(n),
                   "flow_id": rid("f", n), "account_id": rid("a", n), "code_hash": sha256_hex(f"code{n}"),
                   "attempts": 0, "max_attempts": 5, "created_at": self.now, "expires_at": self.now,
                   "used_at": self.now}

    def counters(self) -> Iterator[dict[str, Any]]:
        for n in self.every(2):
            yield {"key": f"bench:signin-fail:{phone(n)}", "count": 1, "expires_at": self.now + dt.timedelta(minutes=n % 60)}

    def consents(self) -> Iterator[dict[str, Any]]:
        for n in self.every(2):
            yield {"id": rid("p", n), "account_id": rid("a", n), "kind": "personal_data", "granted": True,
                   "document_version": "1", "document_sha256": "0" * 64, "created_at": self.now, "channel": "web"}

    def notification_preferences(self) -> Iterator[dict[str, Any]]:
        for n in self.every(10):
            yield {"account_id": rid("a", n), "kind": "marketing", "channel": "sms", "enabled": False,
                   "updated_at": self.now}

    def credentials(self) -> Iterator[dict[str, Any]]:
        for n in self.every(20):
            yield {"id": rid("t", 2 * n), "account_id": rid("a", n), "type": "totp", "config": "{}", "version": 1,
                   "created_at": self.now, "updated_at": self.now}
            yield {"id": rid("t", 2 * n + 1), "account_id": rid("a", n), "type": "passkey", "name": "Ключ",
                   "config": "{}", "version": 1, "created_at": self.now, "updated_at": self.now}

    def credential_identifiers(self) -> Iterator[dict[str, Any]]:
        for n in self.every(20):
            yield {"id": rid("i", n), "credential_id": rid("t", 2 * n + 1), "type": "passkey",
                   "identifier": hashlib.sha256(f"cred{n}".encode()).hexdigest()}

    def devices(self) -> Iterator[dict[str, Any]]:
        for n in self.every(20):
            yield {"id": rid("d", n), "account_id": rid("a", n), "secret_hash": sha256_hex(f"device{n}"),
                   "passcode_hash": self.shared, "failures": 0, "created_at": self.now}

    def oidc_grants(self) -> Iterator[dict[str, Any]]:
        for n in self.every(2):
            yield {"id": rid("g", n), "client_id": "bench-client", "account_id": rid("a", n), "code_id": rid("x", n),
                   "session_id": rid("s", n * self.p.sessions_per_account), "scope": "openid", "auth_time": self.now,
                   "acr": "urn:dostup:loa:1:aal1", "amr": "pwd", "created_at": self.now}

    def oidc_codes(self) -> Iterator[dict[str, Any]]:
        for n in self.every(2):
            yield {"id": rid("x", n), "code_hash": sha256_hex(f"oidc-code{n}"), "client_id": "bench-client",
                   "account_id": rid("a", n), "redirect_uri": "https://rp.example/cb", "scope": "openid",
                   "auth_time": self.now, "acr": "urn:dostup:loa:1:aal1", "amr": "pwd", "created_at": self.now,
                   "expires_at": self.now, "used_at": self.now}

    def oidc_tokens(self) -> Iterator[dict[str, Any]]:
        for n in self.every(2):
            yield {"id": rid("y", 2 * n), "grant_id": rid("g", n), "kind": "access", "scope": "openid",
                   "created_at": self.now, "expires_at": self.now}
            yield {"id": rid("y", 2 * n + 1), "grant_id": rid("g", n), "kind": "refresh",
                   "token_hash": sha256_hex(f"refresh{n}"), "scope": "openid", "created_at": self.now,
                   "expires_at": self.now + dt.timedelta(days=30)}

    def oidc_consents(self) -> Iterator[dict[str, Any]]:
        for n in self.every(2):
            yield {"id": rid("z", n), "account_id": rid("a", n), "client_id": "bench-client", "scope": "openid",
                   "created_at": self.now}


ORDER = ("accounts", "companies", "contract_registry", "contract_links",
         "flows", "codes", "counters", "consents", "notification_preferences", "credentials",
         "credential_identifiers", "devices", "oidc_codes", "oidc_grants", "oidc_tokens", "oidc_consents")


# -- the big tables, generated by the database itself (C speed: Python rows cost ~20 us each) ------

class Dialect:
    """SQL spellings of the few functions the generated rows need."""

    def __init__(self, sqlite: bool, t0: dt.datetime) -> None:
        self.sqlite, self.t0 = sqlite, t0
        self.epoch = int(t0.replace(tzinfo=dt.UTC).timestamp())

    def source(self, lo: int, hi: int) -> str:
        if self.sqlite:
            return f"(WITH RECURSIVE c(x) AS (SELECT {lo} UNION ALL SELECT x + 1 FROM c WHERE x < {hi - 1}) SELECT x FROM c) AS c"  # noqa: S608
        return f"generate_series({lo}::bigint, {hi - 1}::bigint) AS c(x)"

    def rid(self, letter: str, expr: str) -> str:
        if self.sqlite:
            return f"printf('{letter}%031x', {expr})"
        return f"'{letter}' || lpad(to_hex({expr}), 31, '0')"

    def pad7(self, expr: str) -> str:
        return f"printf('%07d', {expr})" if self.sqlite else f"lpad(({expr})::text, 7, '0')"

    def sha256(self, expr: str) -> str:
        return f"sha256hex({expr})" if self.sqlite else f"encode(sha256(convert_to({expr}, 'UTF8')), 'hex')"

    def time(self, micros: str) -> str:
        """t0 + ``micros`` microseconds, as each backend stores a DateTime."""
        if self.sqlite:
            return (f"strftime('%Y-%m-%d %H:%M:%S', {self.epoch} + ({micros}) / 1000000, 'unixepoch') "
                    f"|| printf('.%06d', ({micros}) % 1000000)")
        return f"(timestamp '{self.t0.isoformat(sep=' ')}' + ({micros}) * interval '1 microsecond')"

    def true(self) -> str:
        return "1" if self.sqlite else "true"

    def text(self, value: str) -> str:
        return "'" + value.replace("'", "''") + "'"


SPAN_US = 90 * 86400 * 1_000_000  # events and messages spread over the last 90 days


def generated(plan: Plan, d: Dialect, now: dt.datetime) -> list[tuple[str, int, dict[str, str]]]:
    """(table, rows, column -> SQL expression of the row number ``x``) for the big tables."""
    per_s, per_e, per_o, n_acc = plan.sessions_per_account, plan.events_per_account, plan.notifications_per_account, plan.accounts
    t_now = d.time(str(int((now - d.t0).total_seconds() * 1_000_000)))
    t_exp = d.time(str(int((now - d.t0 + dt.timedelta(days=30)).total_seconds() * 1_000_000)))
    ua, ip = d.text(USER_AGENT), "'192.0.2.10'"
    token = (f"'bench-session-' || {d.pad7(f'x / {per_s}')} || '-0000000000000000000000' || "
             f"CASE WHEN x % {per_s} = 0 THEN '' ELSE '-' || (x % {per_s}) END")
    kind = "CASE (x / {p} + x % {p}) % 7 " + " ".join(f"WHEN {i} THEN '{k}'" for i, (k, _) in enumerate(EVENT_KINDS)) + " END"
    outcome = "CASE (x / {p} + x % {p}) % 7 " + " ".join(f"WHEN {i} THEN '{o}'" for i, (_, o) in enumerate(EVENT_KINDS)) + " END"
    spread = "((x / {p}) * 7919 + (x % {p}) * 104729) % 65536 * " + str(SPAN_US // 65536) + " + (x * 7) % 1000 * 1000"
    first_e, first_o = n_acc * per_e, n_acc * per_o
    return [
        ("sessions", n_acc * per_s, {
            "id": d.rid("s", "x"), "token_hash": d.sha256(token), "account_id": d.rid("a", f"x / {per_s}"),
            # the operator signed in with two factors, as the staff API requires
            "aal": f"CASE WHEN x / {per_s} = {OPERATOR} THEN 2 ELSE 1 END",
            "amr": f"CASE WHEN x / {per_s} = {OPERATOR} THEN 'pwd otp' ELSE 'pwd' END", "restrictions": "''", "remember": d.true(), "kind": "'bearer'", "created_at": t_now,
            "authenticated_at": t_now, "last_seen_at": t_now, "expires_at": t_exp, "ip": ip, "user_agent": ua}),
        ("security_events", n_acc * per_e, {
            "id": d.rid("e", "x"), "account_id": d.rid("a", f"x / {per_e}"), "kind": kind.format(p=per_e),
            "outcome": outcome.format(p=per_e), "ip": ip, "user_agent": ua, "detail": "'{\"method\": \"phone\"}'",
            "created_at": d.time(spread.format(p=per_e))}),
        ("security_events", n_acc // 10, {  # failed sign-ins with unknown identifiers: no account
            "id": d.rid("e", f"{first_e} + x"), "kind": "'login'", "outcome": "'failure'", "ip": ip, "user_agent": ua,
            "detail": "'{\"method\": \"phone\"}'", "created_at": d.time(spread.format(p=1))}),
        ("outbox", n_acc * per_o, {
            "id": d.rid("o", "x"), "account_id": d.rid("a", f"x / {per_o}"),
            "channel": f"CASE WHEN x % {per_o} % 2 = 0 THEN 'sms' ELSE 'email' END",
            "kind": "'password_changed'",
            "to": (f"CASE WHEN x % {per_o} % 2 = 0 THEN '+7901' || {d.pad7(f'x / {per_o}')} "
                   f"ELSE 'u' || (x / {per_o}) || '@bench.example' END"),
            "subject": "''", "body": "'Пароль изменён'", "locale": "'ru'", "status": "'sent'", "attempts": "1",
            "next_attempt_at": d.time(spread.format(p=per_o)), "created_at": d.time(spread.format(p=per_o)),
            "sent_at": d.time(spread.format(p=per_o))}),
        ("outbox", n_acc // 2, {  # codes of registrations never finished: no account yet
            "id": d.rid("o", f"{first_o} + x"), "channel": "'sms'", "kind": "'registration_code'",
            "to": f"'+7902' || {d.pad7('x')}", "subject": "''", "body": "'Код'", "locale": "'ru'", "status": "'sent'",
            "attempts": "1", "next_attempt_at": d.time(spread.format(p=1)), "created_at": d.time(spread.format(p=1)),
            "sent_at": d.time(spread.format(p=1))}),
        ("operator_actions", n_acc // 10, {  # the operator's audit trail: a search for every 10 customers
            "id": d.rid("q", "x"), "operator_id": d.rid("a", str(OPERATOR)), "action": "'search'",
            "reason": "'bench'", "ip": ip, "detail": "'{\"by\": \"phone\"}'", "created_at": d.time(spread.format(p=1))}),
    ]


def generate_sql(table: str, columns: dict[str, str], d: Dialect, lo: int, hi: int) -> str:
    names = ", ".join(f'"{c}"' for c in columns)
    return f"INSERT INTO {table} ({names}) SELECT {', '.join(columns.values())} FROM {d.source(lo, hi)}"  # noqa: S608


CHUNK = 250_000  # generated rows per statement (a progress step)


def _chunks(total: int) -> Iterator[tuple[int, int]]:
    for lo in range(0, total, CHUNK):
        yield lo, min(total, lo + CHUNK)


def _batches(table: Table, rows: Iterator[dict[str, Any]]) -> Iterator[list[tuple[Any, ...]]]:
    names = [c.name for c in table.columns]
    batch: list[tuple[Any, ...]] = []
    for row in rows:
        batch.append(tuple(map(row.get, names)))
        if len(batch) >= BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _steps(metadata: Any, rows: Rows, d: Dialect) -> Iterator[tuple[str, str | list[tuple[Any, ...]], int]]:
    """What to write, in foreign-key order: a generating statement, or a batch of Python rows (and how many)."""
    for i, name in enumerate(ORDER):
        yield from ((name, batch, len(batch)) for batch in _batches(metadata.tables[name], getattr(rows, name)()))
        if i == 0:  # after the accounts: the generated tables that point at them
            for table, total, columns in generated(rows.p, d, rows.now):
                yield from ((table, generate_sql(table, columns, d, lo, hi), hi - lo) for lo, hi in _chunks(total))


def sqlite_time(value: dt.datetime) -> str:
    return value.isoformat(sep=" ", timespec="microseconds")  # SQLAlchemy's SQLite DateTime format


async def _hashes(count: int) -> tuple[list[str], str]:
    from dostup.credentials.password import PasswordHasher
    from dostup.settings import load_settings

    hasher = PasswordHasher(load_settings().passwords)
    try:
        own = [await hasher.hash(PASSWORD) for _ in range(count)]
        shared = await hasher.hash(PASSWORD)
    finally:
        hasher.close()
    return own, shared


async def bulk_seed(url: str, secret_key: str, plan: Plan, *, progress: bool = True,
                    hashes: tuple[list[str], str] | None = None, fast: bool = True) -> float:
    """Migrate ``url`` and write ``plan``'s rows; returns the seconds the writing took.

    ``fast`` (SQLite): no journal and no fsync while writing, for a database nobody else has open;
    without it the rows go in through the WAL, beside a running server's connections."""
    await migrate(url)
    metadata = model_metadata()
    own, shared = hashes or await _hashes(plan.bench_accounts)
    sqlite = url.startswith("sqlite")
    rows = Rows(plan, Keyring(secret_key), own, shared, dt.datetime.now(dt.UTC).replace(tzinfo=None))
    bar = Progress(plan.rows(), progress)
    started = time.monotonic()
    if sqlite:
        # in a thread: a server sharing this loop (the tests) may hold the write lock for a moment
        await asyncio.to_thread(_seed_sqlite, url.split("///", 1)[1], metadata, rows, bar, fast)
    else:
        await _seed_pg(url, metadata, rows, bar)
    bar.close()
    return time.monotonic() - started


def _seed_sqlite(path: str, metadata: Any, rows: Rows, bar: Progress, fast: bool) -> None:
    sqlite3.register_adapter(dt.datetime, sqlite_time)
    conn = sqlite3.dbapi2.Connection(path, isolation_level=None, timeout=60)
    try:
        if fast:
            conn.execute("PRAGMA journal_mode=DELETE")  # one big transaction: no WAL copy of every page
            conn.execute("PRAGMA synchronous=OFF")
        conn.execute("PRAGMA cache_size=-1000000")  # 1 GB of page cache while the indexes grow
        conn.create_function("sha256hex", 1, lambda v: hashlib.sha256(v.encode()).hexdigest(), deterministic=True)
        conn.execute("BEGIN IMMEDIATE")
        for name, step, count in _steps(metadata, rows, Dialect(True, rows.t0)):
            bar.add(count, name)
            if isinstance(step, str):
                conn.execute(step)
                continue
            table = metadata.tables[name]
            cols = [c.name for c in table.columns]
            sql = f'INSERT INTO {name} ({", ".join(f"{c!r}" for c in cols)}) VALUES ({", ".join("?" * len(cols))})'  # noqa: S608
            conn.executemany(sql, step)
        conn.execute("COMMIT")
        conn.execute("PRAGMA analysis_limit=10000")  # statistics from a sample: a full ANALYZE of 8 GB takes minutes
        conn.execute("ANALYZE")
        if fast:
            conn.execute("PRAGMA journal_mode=WAL")
    finally:
        conn.close()


async def _seed_pg(url: str, metadata: Any, rows: Rows, bar: Progress) -> None:
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.execute("SET synchronous_commit = off")
        async with conn.transaction():
            for name, step, count in _steps(metadata, rows, Dialect(False, rows.t0)):
                bar.add(count, name)
                if isinstance(step, str):
                    await conn.execute(step)
                else:
                    cols = [c.name for c in metadata.tables[name].columns]
                    await conn.copy_records_to_table(name, records=step, columns=cols)
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--accounts", type=int, default=1_000_000)
    ap.add_argument("--sessions-per-account", type=int, default=1)
    ap.add_argument("--events-per-account", type=int, default=10)
    ap.add_argument("--notifications-per-account", type=int, default=2)
    ap.add_argument("--bench-accounts", type=int, default=50, help="accounts with their own argon2id hash")
    args = ap.parse_args()
    from dostup.settings import load_settings

    settings = load_settings()
    plan = Plan(args.accounts, args.sessions_per_account, args.events_per_account, args.notifications_per_account,
                args.bench_accounts)
    seconds = asyncio.run(bulk_seed(settings.database_url, settings.secret_key, plan))
    print(json.dumps({"accounts": plan.accounts, "rows": plan.rows(), "seconds": round(seconds, 1)}))


if __name__ == "__main__":
    main()
