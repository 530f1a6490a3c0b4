"""Revision 0049 gives the registered letters written before it their ``expires_at`` (from their JSON) and, to
those still waiting to be printed, ``queued_at``: on both backends, a letter ordered before the upgrade is in the
print queue after it exactly when it was before, and ends when it did."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from dostup.persistence.migrate import migrate
from tests.unit.test_migrations_match_models import fresh_url  # noqa: F401 - the fixture: an empty database per backend

ORDERED = dt.datetime(2026, 11, 20, 9, 30)
EXPIRES = ORDERED + dt.timedelta(days=30)

_accounts = sa.table("accounts", sa.column("id", sa.String), sa.column("state", sa.String),
                     sa.column("role", sa.String), sa.column("locale", sa.String),
                     sa.column("created_at", sa.DateTime), sa.column("updated_at", sa.DateTime))
_requests = sa.table("verification_requests", sa.column("id", sa.String), sa.column("account_id", sa.String),
                     sa.column("level", sa.Integer), sa.column("state", sa.String), sa.column("verifier", sa.String),
                     sa.column("data", sa.JSON), sa.column("created_at", sa.DateTime),
                     sa.column("updated_at", sa.DateTime))


def _letter(rid: str, state: str = "submitted", *, sealed: bool = True, printed: bool = False) -> dict[str, object]:
    data: dict[str, object] = {"address": {"postcode": "101000"}, "code_hash": "h", "tries": 0,
                               "expires_at": EXPIRES.isoformat(), "printed_at": ORDERED.isoformat() if printed else None}
    if sealed:
        data["code_sealed"] = "sealed"
    return {"id": rid, "account_id": "a1", "level": 3, "state": state, "verifier": "letter", "data": data,
            "created_at": ORDERED, "updated_at": ORDERED}


async def test_letters_written_before_get_their_expiry_and_the_waiting_ones_their_place_in_the_queue(fresh_url):  # noqa: F811
    await migrate(fresh_url, "0048")
    engine = create_async_engine(fresh_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(sa.insert(_accounts), [{"id": "a1", "state": "active", "role": "customer",
                                                       "locale": "ru", "created_at": ORDERED, "updated_at": ORDERED}])
            await conn.execute(sa.insert(_requests), [
                _letter("to-print"), _letter("printed", sealed=False, printed=True),
                _letter("cancelled", "cancelled", sealed=False), _letter("confirmed", "approved", sealed=False),
                {"id": "profile", "account_id": "a1", "level": 2, "state": "submitted", "verifier": "operator",
                 "data": {"passport_number": "123456"}, "created_at": ORDERED, "updated_at": ORDERED}])
        await migrate(fresh_url)
        async with engine.connect() as conn:
            rows = {r.id: (r.expires_at, r.queued_at) for r in (await conn.execute(
                sa.text("SELECT id, expires_at, queued_at FROM verification_requests"))).all()}
    finally:
        await engine.dispose()

    def at(value: object) -> dt.datetime | None:  # SQLite hands the text back
        return dt.datetime.fromisoformat(value) if isinstance(value, str) else value  # type: ignore[return-value]

    assert {rid: (at(e), at(q)) for rid, (e, q) in rows.items()} == {
        "to-print": (EXPIRES, ORDERED), "printed": (EXPIRES, None), "cancelled": (EXPIRES, None),
        "confirmed": (EXPIRES, None), "profile": (None, None)}
