#!/usr/bin/env python
"""PostgreSQL bytes per customer: the tables and indexes Dostup keeps for N accounts, per table.

    cd /work/main && .venv/bin/python bench/dbsize.py --accounts 100000

A scratch database ``dostup_size_<pid>`` on 127.0.0.1:5432 (``BENCH_PG``) is migrated with
Dostup's own history, filled with ``generate_series`` (SQL only, seconds), measured with
``pg_total_relation_size`` (heap + TOAST + every index) after ``VACUUM ANALYZE``, and dropped.
What one account carries, by default (the figures of a customer a few months in):

* the ``accounts`` row: phone, email, login, a real-length argon2id hash, names, region;
* 2 consents (personal data, marketing) with IP and a 110-character user agent;
* 1 live session (token hash, user agent, amr);
* 10 security events (sign-ins, with the ``detail`` JSON Dostup writes);
* 3 delivered outbox messages (body redacted to «[delivered]» after delivery, as the worker does).

Short-lived rows (flows, one-time codes, counters) are not counted: they expire within the hour
and the 10⁶-account seeding tool of issue 13 §1 measures them under load.  The result is per
account, so it scales linearly to 10⁶ (B-tree indexes grow as N log N, a few % over 10×).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile

PG_ADMIN = os.environ.get("BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")
UA = (
    "Mozilla/5.0 (Linux; Android 14; SM-A546B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Mobile Safari/537.36"
)
HASH = "$argon2id$v=19$m=19456,t=2,p=1$" + "c2FsdHNhbHRzYWx0c2FsdA" + "$" + "x" * 43

FILL = [
    # accounts: n = 1..N
    """INSERT INTO accounts (id, state, role, phone, phone_verified_at, email, email_verified_at, login,
           password_hash, password_changed_at, given_name, family_name, middle_name, region, locale,
           created_at, updated_at)
       SELECT md5('a' || n), 'active', 'customer', '+7912' || lpad(n::text, 7, '0'), now(),
              'customer' || n || '@example.ru', now(), 'user' || n, $1::text, now(), 'Иван', 'Иванов', 'Иванович',
              'Москва', 'ru', now(), now()
       FROM generate_series(1, $2::int) AS n""",
    """INSERT INTO consents (id, account_id, kind, granted, document_version, document_sha256, created_at, ip,
           user_agent, channel)
       SELECT md5('c' || n || k), md5('a' || n), k, true, '2024-01', md5(k) || md5(k), now(), '203.0.113.7', $1::text, 'web'
       FROM generate_series(1, $2::int) AS n, unnest(ARRAY['personal_data', 'marketing']) AS k""",
    """INSERT INTO sessions (id, token_hash, account_id, aal, amr, restrictions, remember, kind, created_at,
           authenticated_at, last_seen_at, expires_at, ip, user_agent)
       SELECT md5('s' || n), md5('t' || n) || md5('u' || n), md5('a' || n), 1, 'pwd', '', false, 'cookie', now(),
              now(), now(), now() + interval '12 hours', '203.0.113.7', $1::text
       FROM generate_series(1, $2::int) AS n""",
    """INSERT INTO security_events (id, account_id, kind, outcome, ip, user_agent, detail, created_at)
       SELECT md5('e' || n || '-' || k), md5('a' || n), 'login', 'success', '203.0.113.7', $1::text,
              '{"method": "phone", "amr": ["pwd"]}'::json, now() - k * interval '1 day'
       FROM generate_series(1, $2::int) AS n, generate_series(1, 10) AS k""",
    """INSERT INTO outbox (id, account_id, channel, kind, "to", subject, body, code, locale, status, attempts,
           next_attempt_at, claimed_until, last_error, created_at, sent_at)
       SELECT md5('o' || n || '-' || k), md5('a' || n), 'sms', 'registration_code', '+7912' || lpad(n::text, 7, '0'),
              '', '[delivered]', NULL, 'ru', 'sent', 1, now(), NULL, NULL, now(), now()
       FROM generate_series(1, $1::int) AS n, generate_series(1, 3) AS k""",
]


async def measure(url: str, n: int) -> list[tuple[str, int]]:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        await conn.execute(FILL[0], HASH, n)
        for sql in FILL[1:]:
            await conn.execute(sql, *((UA, n) if "$2" in sql else (n,)))
        await conn.execute("VACUUM ANALYZE")
        rows = await conn.fetch(
            "SELECT relname, pg_total_relation_size(c.oid) AS bytes FROM pg_class c "
            "JOIN pg_namespace s ON s.oid = c.relnamespace WHERE s.nspname = 'public' AND c.relkind = 'r' "
            "ORDER BY bytes DESC"
        )
        return [(str(r["relname"]), int(r["bytes"])) for r in rows]
    finally:
        await conn.close()


async def admin(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--accounts", type=int, default=100_000)
    args = ap.parse_args()
    name = f"dostup_size_{os.getpid()}"
    url = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith("DOSTUP_")}
        env["DOSTUP_DATABASE_URL"] = url.replace("postgresql://", "postgresql+asyncpg://")
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run(
                [sys.executable, "-m", "dostup.cli", "migrate"], env=env, cwd=tmp, check=True, capture_output=True
            )
        sizes = asyncio.run(measure(url, args.accounts))
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    total = sum(b for _, b in sizes)
    print(
        f"{args.accounts:,} accounts: {total / 2**20:,.1f} MiB in all, {total / args.accounts:,.0f} bytes per account"
    )
    print(f"per 10^6 accounts (linear): {total / args.accounts * 1e6 / 2**30:,.2f} GiB")
    for table, b in sizes:
        if b >= args.accounts * 10:  # the tables that grow with accounts
            print(f"  {table:<24} {b / 2**20:9,.1f} MiB  {b / args.accounts:7,.0f} B/account")


if __name__ == "__main__":
    main()
