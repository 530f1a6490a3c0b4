"""Create confirmed accounts for the sign-in benchmark, straight into the configured database.

    .venv/bin/python bench/seed.py --first 0 --count 50       (env: DOSTUP_DATABASE_URL, ...)

Phones are +7900xxxxxxx; every account gets the bench password, hashed once with Dostup's own
PasswordHasher (the server's argon2id parameters), so a sign-in verifies a real hash.
"""

from __future__ import annotations

import argparse
import asyncio

from dostup.core.clock import SystemClock
from dostup.credentials.password import PasswordHasher
from dostup.identity import repository as accounts
from dostup.persistence.db import Database
from dostup.settings import load_settings

PASSWORD = "Tundra-Lantern-42"


def phone(n: int) -> str:
    return f"+7900{n:07d}"


async def seed(first: int, count: int) -> None:
    settings = load_settings()
    hasher = PasswordHasher(settings.passwords)
    try:
        password_hash = await hasher.hash(PASSWORD)
    finally:
        hasher.close()
    db = Database(settings.database_url)
    now = SystemClock().now()
    try:
        async with db.write() as s:
            for n in range(first, first + count):
                s.add(accounts.new_account(now, phone=phone(n), phone_verified_at=now, password_hash=password_hash,
                                           password_changed_at=now))
    finally:
        await db.dispose()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--first", type=int, default=0)
    ap.add_argument("--count", type=int, default=50)
    args = ap.parse_args()
    asyncio.run(seed(args.first, args.count))
    print(f"seeded {args.count} accounts {phone(args.first)}..{phone(args.first + args.count - 1)}")


if __name__ == "__main__":
    main()
