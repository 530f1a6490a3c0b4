"""A unit of work that fails on the database spends none of the user's limits (issue 13 §3,
SECURITY.md «Outages»): the registration reserved its code (cool-down, hourly and daily sends,
per-IP sends, SMS budget) before writing the flow; when that write fails the counts are given
back, so the customer can try again at once instead of waiting out a cool-down for nothing.

The failure is real: a trigger makes the database refuse the outbox row.  Both backends (SQLite
with its counter table; PostgreSQL with Redis), both surfaces.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from tests.flows.helpers import phone_e164, registration_fields

TRIGGERS = {
    "sqlite": ["CREATE TRIGGER refuse_outbox BEFORE INSERT ON outbox BEGIN SELECT RAISE(ABORT, 'disk full'); END"],
    "postgres": [
        "CREATE FUNCTION refuse_outbox() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'disk full'; END $$",
        "CREATE TRIGGER refuse_outbox BEFORE INSERT ON outbox FOR EACH ROW EXECUTE FUNCTION refuse_outbox()",
    ],
}
DROP = {
    "sqlite": ["DROP TRIGGER refuse_outbox"],
    "postgres": ["DROP TRIGGER refuse_outbox ON outbox", "DROP FUNCTION refuse_outbox()"],
}


async def _run(services: Any, statements: list[str]) -> None:
    async with services.db.write() as s:
        for statement in statements:
            await s.execute(text(statement))


async def test_a_registration_that_fails_on_the_database_spends_no_cool_down(services, surface) -> None:
    kind = "sqlite" if services.db.is_sqlite else "postgres"
    phone = phone_e164(1304)
    await _run(services, TRIGGERS[kind])
    fields = await registration_fields(surface, phone)
    try:
        # The test client re-raises what the server answered 500 for (raise_app_exceptions).
        with pytest.raises(DBAPIError, match="disk full"):
            await surface.register(**fields)
    finally:
        await _run(services, DROP[kind])
    left = await services.store.ttl(f"send-cooldown:sms:{phone}")
    hour = await services.store.get(f"send-hour:sms:{phone}")
    assert (left, hour) == (0, 0), "the failed registration used up the phone's limits"
    again = await surface.register(**await registration_fields(surface, phone))
    assert again.ok, (again.status, again.code, again.message)  # not «wait 60 s»
    assert await services.store.get(f"send-hour:sms:{phone}") == 1


async def test_a_refusal_the_user_caused_keeps_its_counts(services, surface) -> None:
    phone = phone_e164(1305)
    first = await surface.register(**await registration_fields(surface, phone))
    assert first.ok
    second = await surface.register(**await registration_fields(surface, phone))
    assert second.status == 429  # the cool-down holds: nothing was given back
    assert await services.store.ttl(f"send-cooldown:sms:{phone}") > 0
