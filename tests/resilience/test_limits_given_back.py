"""A unit of work that fails on the database spends none of the user's limits (issue 13 §3,
SECURITY.md «Outages»): the registration reserved its code (cool-down, hourly and daily sends,
per-IP sends, SMS budget) before writing the flow; when that write fails the counts are given
back, so the customer can try again at once instead of waiting out a cool-down for nothing.

The failure is real: a trigger makes the database refuse the outbox row (``refusing_rows``).  Both
backends (SQLite with its counter table; PostgreSQL with Redis), both surfaces.  The other limited
flows — recovery, a contact change, sign-in — are in ``test_limits_given_back_flows.py``.
"""

from __future__ import annotations

import pytest

from tests.flows.helpers import phone_e164, registration_fields
from tests.resilience.support import refused, refusing_rows


async def test_a_registration_that_fails_on_the_database_spends_no_cool_down(services, surface) -> None:
    phone = phone_e164(1304)
    fields = await registration_fields(surface, phone)
    async with refusing_rows(services.db, "outbox"):
        # The test client re-raises what the server answered 500 or 503 for (raise_app_exceptions).
        with pytest.raises(refused(), match="disk full"):
            await surface.register(**fields)
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
