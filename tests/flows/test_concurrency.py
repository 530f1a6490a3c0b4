"""The concurrency cases of SECURITY.md, run as real parallel requests."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from dostup.persistence.models import Account, OneTimeCode
from tests.flows.helpers import phone_e164, registration_fields
from tests.support import ApiSurface, last_code, outbox

MANY_SENDS = {
    "DOSTUP_CODES__RESEND_COOLDOWN_SECONDS": "1",
    "DOSTUP_CODES__PER_DESTINATION_PER_HOUR": "100",
    "DOSTUP_CODES__PER_DESTINATION_PER_DAY": "100",
    "DOSTUP_CODES__PER_IP_PER_HOUR": "100",
}


async def _count_accounts(services) -> int:
    async with services.db.read() as s:
        return (await s.execute(select(func.count()).select_from(Account))).scalar_one()


async def test_ten_parallel_registrations_of_one_phone_make_one_account(client_factory, services):
    phone = phone_e164(40)
    surfaces = [ApiSurface(client_factory()) for _ in range(10)]
    fields = [await registration_fields(s, phone) for s in surfaces]
    results = await asyncio.gather(*(s.register(**f) for s, f in zip(surfaces, fields, strict=True)))
    started = [r for r in results if r.ok]
    assert started and all(r.status in (201, 429) for r in results)
    codes = [m for m in await outbox(surfaces[0].client) if m["to"] == phone]
    assert len(codes) == len(started) == 1  # one code per destination per minute
    code = await last_code(surfaces[0].client, phone)
    confirms = await asyncio.gather(*(surfaces[0].confirm(r.data["flow_id"], code) for r in started))
    assert sum(c.ok for c in confirms) == 1
    assert await _count_accounts(services) == 1


@pytest.mark.parametrize("settings_overrides", [MANY_SENDS])
async def test_parallel_confirmations_of_many_flows_for_one_phone_make_one_account(client_factory, services):
    phone = phone_e164(41)
    surfaces = [ApiSurface(client_factory()) for _ in range(6)]
    flows = []
    for s in surfaces:
        r = await s.register(**await registration_fields(s, phone))
        assert r.ok, r.message
        code = await last_code(s.client, phone)
        flows.append((s, r.data["flow_id"], code))
        services.clock.advance(seconds=2)
        await asyncio.sleep(1.05)  # the cooldown window is real time in Redis
    results = await asyncio.gather(*(s.confirm(f, c) for s, f, c in flows))
    assert sum(r.ok for r in results) == 1
    assert {r.status for r in results if not r.ok} == {409}
    assert await _count_accounts(services) == 1


async def test_twenty_parallel_right_codes_exactly_one_succeeds(client_factory, services):
    phone = phone_e164(42)
    s = ApiSurface(client_factory())
    r = await s.register(**await registration_fields(s, phone))
    code = await last_code(s.client, phone)
    results = await asyncio.gather(*(s.confirm(r.data["flow_id"], code) for _ in range(20)))
    assert sum(x.ok for x in results) == 1
    assert all(x.status in (201, 409, 422) for x in results)
    assert await _count_accounts(services) == 1


async def test_fifty_parallel_wrong_codes_are_all_counted_and_kill_the_code(client_factory, services):
    phone = phone_e164(43)
    s = ApiSurface(client_factory())
    r = await s.register(**await registration_fields(s, phone))
    code = await last_code(s.client, phone)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    results = await asyncio.gather(*(s.confirm(r.data["flow_id"], wrong) for _ in range(50)))
    assert all(x.status == 422 for x in results)
    async with services.db.read() as db:
        row = (await db.execute(select(OneTimeCode))).scalars().one()
    assert row.attempts == 5
    late = await s.confirm(r.data["flow_id"], code)  # the right code, too late
    assert late.status == 422 and late.data["error"]["code"] == "code_exhausted"
    assert await _count_accounts(services) == 0
