"""The daily SMS budget: the operator is alerted once, and SMS stop beyond it (SECURITY.md: sending)."""

from __future__ import annotations

import pytest

from tests.flows.helpers import phone_e164, registration_fields
from tests.support import ApiSurface, outbox


@pytest.mark.parametrize("settings_overrides", [{
    "DOSTUP_CODES__SMS_DAILY_BUDGET": "2", "DOSTUP_COURIER__OPERATOR_EMAIL": "ops@example.com",
}])
async def test_budget_alerts_the_operator_once_and_stops_sms(client_factory, services):
    api = ApiSurface(client_factory())
    statuses = []
    for i in range(4):
        r = await api.register(**await registration_fields(api, phone_e164(700 + i)))
        statuses.append((r.status, r.code))
    assert [s for s, _ in statuses] == [201, 201, 429, 429]
    assert statuses[2][1] == "rate_limited"
    alerts = [m for m in await outbox(api.client) if m["kind"] == "sms_budget_alert"]
    assert len(alerts) == 1 and alerts[0]["to"] == "ops@example.com" and alerts[0]["channel"] == "email"
    sms = [m for m in await outbox(api.client) if m["channel"] == "sms"]
    assert len(sms) == 2
