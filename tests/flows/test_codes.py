"""One-time codes of the registration step (SECURITY.md: one-time codes)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from dostup.persistence.models import Account, OutboxMessage
from tests.flows.helpers import phone_e164, registration_fields
from tests.support import last_code, outbox


async def _start(surface, phone: str) -> str:
    r = await surface.register(**await registration_fields(surface, phone))
    assert r.ok, r.message
    return str(r.data["flow_id"])


async def test_code_expires_after_ten_minutes(surface, services, clock):
    phone = phone_e164(50)
    flow = await _start(surface, phone)
    code = await last_code(surface.client, phone)
    clock.advance(minutes=10, seconds=1)
    r = await surface.confirm(flow, code)
    assert r.status == 422 and r.field == "code"
    assert "истёк" in r.message


async def test_resend_waits_for_the_cooldown_then_kills_the_previous_code(surface, services, clock, backend):
    phone = phone_e164(51)
    flow = await _start(surface, phone)
    first = await last_code(surface.client, phone)
    early = await surface.resend(flow)
    assert early.status == 429
    if "DOSTUP_REDIS_URL" in backend:
        await services.store.delete(f"send-cooldown:sms:{phone}")  # Redis windows follow real time
    clock.advance(seconds=61)
    again = await surface.resend(flow)
    assert again.ok
    second = await last_code(surface.client, phone)
    if first != second:
        assert (await surface.confirm(flow, first)).status == 422
    assert (await surface.confirm(flow, second)).ok


async def test_the_code_page_shows_expiry_and_masked_destination(client_factory, services):
    from tests.support import UiSurface

    ui = UiSurface(client_factory())
    phone = "+79123451823"
    flow = await _start(ui, phone)
    page = await ui.client.get(f"/registration/code?flow={flow}")
    assert "+7 *** ***-18-23" in page.text
    assert "Код действует до" in page.text
    assert "Получить код повторно" in page.text
    assert phone not in page.text


async def test_codes_never_appear_in_api_responses(client_factory, services):
    from tests.support import ApiSurface

    api = ApiSurface(client_factory())
    phone = phone_e164(52)
    r = await api.register(**await registration_fields(api, phone))
    code = await last_code(api.client, phone)
    assert code not in str(r.data)
    view = await api.client.get(f"/api/v1/registration/{r.data['flow_id']}")
    assert code not in view.text


@pytest.mark.parametrize("settings_overrides", [{"DOSTUP_CODES__PER_IP_PER_HOUR": "3"}])
async def test_sending_is_limited_per_ip(client_factory, services):
    from tests.support import ApiSurface

    api = ApiSurface(client_factory(ip="10.1.1.1"))
    statuses = []
    for i in range(4):
        r = await api.register(**await registration_fields(api, phone_e164(60 + i)))
        statuses.append(r.status)
    assert statuses == [201, 201, 201, 429]
    async with services.db.read() as s:
        assert (await s.execute(select(func.count()).select_from(OutboxMessage))).scalar_one() == 3


async def test_landline_number_gets_its_code_by_email(surface, services):
    r = await surface.register(**await registration_fields(surface, "+74951234567", email="Ivan@Example.COM"))
    assert r.ok, r.message
    msgs = [m for m in await outbox(surface.client) if m["to"] == "ivan@example.com"]
    assert msgs and msgs[0]["channel"] == "email"
    c = await surface.confirm(r.data["flow_id"], msgs[0]["code"])
    assert c.ok
    async with services.db.read() as s:
        acc = (await s.execute(select(Account))).scalars().one()
    assert acc.phone == "+74951234567" and acc.phone_verified_at is None and acc.email_verified_at is not None


async def test_landline_without_email_is_asked_for_one(surface):
    r = await surface.register(**await registration_fields(surface, "+74951234567"))
    assert r.status == 422 and r.field == "email"
