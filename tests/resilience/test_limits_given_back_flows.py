"""A failed unit of work spends none of the user's limits (SECURITY.md «Outages»), beyond the
registration (``test_limits_given_back.py``): access recovery, a contact change, sign-in and its
second step.

Each limit is counted in Redis or the counter table before the unit of work it guards; when that
unit fails on the database (a trigger refuses its row: ``refusing_rows``, «disk full» — a 503 on
PostgreSQL, a 500 on SQLite) the request's counts are given back (``guards.limits``'s ledger, one
per request).  A refusal the user caused — a cool-down still running, a wrong code, a wrong
password — keeps every count.  Both backends, both surfaces.

What sign-in counts, and where:

- the per-IP bound (more than 10 a minute: 429) is counted first, before the database is read; a
  sign-in that then fails on the database gives it back, as every other limit;
- the identifier's failures (captcha after 5, then the lock) are counted only once the password was
  checked and found wrong: a database that cannot be read counts none.  A wrong password whose
  *record* the database then refuses keeps its failure: the guess was made and checked, and giving
  it back would leave guesses uncounted for as long as the database refuses writes;
- a second step's tries (5 a flow) are counted before its unit of work where the counters are in
  Redis, in the request's ledger: a unit that fails gives its try back (on SQLite the count is a
  row of that unit and rolls back with it).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import select

from dostup.persistence.db import unavailable
from dostup.persistence.models import OneTimeCode, OutboxMessage
from tests.factories import make_user, signed_in
from tests.flows.helpers import PASSWORD
from tests.flows.settings_support import SettingsClient, account
from tests.flows.test_recovery import _request as recover
from tests.flows.test_second_factor import _enrolled
from tests.resilience.conftest import asgi_client, start_services
from tests.resilience.support import OwnPostgres, OwnRedis, refused, refusing_rows
from tests.support import last_code

IP = "127.0.0.1"  # the test clients' address
NEW_PHONE = "+79120001399"


async def counts(services: Any, *keys: str) -> dict[str, int]:
    return {key: await services.store.get(key) for key in keys}


def sends(services: Any, channel: str, to: str) -> list[str]:
    """The keys of a destination's send limits and of the per-IP sends (``selfservice.sending``)."""
    day = services.clock.now().strftime("%Y%m%d")
    return [f"send-cooldown:{channel}:{to}", f"send-hour:{channel}:{to}", f"send-day:{channel}:{to}",
            f"send-ip:{IP}", *([f"sms-budget:{day}"] if channel == "sms" else [])]


def refused_by_the_database(services: Any, raised: pytest.ExceptionInfo[BaseException]) -> None:
    """The server answered the failure as an outage (503) on PostgreSQL, as a crash (500) on SQLite."""
    assert unavailable(raised.value) is not services.db.is_sqlite


async def messages(services: Any, kind: str) -> list[OutboxMessage]:
    async with services.db.read() as s:
        return list((await s.execute(select(OutboxMessage).where(OutboxMessage.kind == kind))).scalars())


# -- access recovery ---------------------------------------------------------------------------------

async def test_a_recovery_that_fails_on_the_database_spends_none_of_its_limits(services, surface) -> None:
    phone = await make_user(services, 1310)
    limits = [*sends(services, "sms", phone), f"recover-ip:{IP}"]
    async with refusing_rows(services.db, "outbox"):
        with pytest.raises(refused(), match="disk full") as raised:
            await recover(surface, phone=phone)
    refused_by_the_database(services, raised)
    assert await counts(services, *limits) == dict.fromkeys(limits, 0), "the failed recovery used up limits"
    assert await services.store.ttl(f"send-cooldown:sms:{phone}") == 0
    assert await messages(services, "recovery_password") == []  # nothing half-written
    status, _, _ = await recover(surface, phone=phone)
    assert status == 200  # at once, not «wait 60 s»
    assert await counts(services, *limits) == dict.fromkeys(limits, 1)
    assert len(await messages(services, "recovery_password")) == 1


async def test_a_recovery_refused_for_the_user_keeps_its_counts(services, surface) -> None:
    phone = await make_user(services, 1311)
    status, _, _ = await recover(surface, phone=phone)
    assert status == 200
    status, _, _ = await recover(surface, phone=phone)
    assert status == 429  # the destination's cool-down holds: nothing was given back
    assert await services.store.ttl(f"send-cooldown:sms:{phone}") > 0
    # counted up to the full limit: the per-IP recoveries twice, the cool-down's refusal spent no hourly send
    assert await counts(services, f"recover-ip:{IP}", f"send-cooldown:sms:{phone}", f"send-hour:sms:{phone}") == {
        f"recover-ip:{IP}": 2, f"send-cooldown:sms:{phone}": 2, f"send-hour:sms:{phone}": 1}


# -- a contact change --------------------------------------------------------------------------------

async def _account_id(services: Any, phone: str) -> str:
    return (await account(services, phone)).id


async def test_a_contact_change_that_fails_on_the_database_spends_none_of_its_limits(services, surface) -> None:
    me = SettingsClient(await signed_in(surface, services, 1320))
    limits = [*sends(services, "sms", NEW_PHONE), f"contact-change:{await _account_id(services, '+79120001320')}"]
    async with refusing_rows(services.db, "outbox"):
        with pytest.raises(refused(), match="disk full") as raised:
            await me.start("phone", NEW_PHONE)
    refused_by_the_database(services, raised)
    assert await counts(services, *limits) == dict.fromkeys(limits, 0), "the failed change used up limits"
    assert await services.store.ttl(f"send-cooldown:sms:{NEW_PHONE}") == 0
    assert await messages(services, "contact_code") == []
    again = await me.start("phone", NEW_PHONE)
    assert again.ok, (again.status, again.code, again.message)  # at once, not «wait 60 s»
    assert await counts(services, *limits) == dict.fromkeys(limits, 1)


async def test_a_code_try_that_fails_on_the_database_is_not_counted(services, surface) -> None:
    me = SettingsClient(await signed_in(surface, services, 1321))
    started = await me.start("phone", NEW_PHONE)
    assert started.ok, (started.status, started.code, started.message)
    flow_id = str(started.data["flow_id"])
    code = await last_code(surface.client, NEW_PHONE, kind="contact_code")
    wrong = "000000" if code != "000000" else "111111"

    async def tries() -> int:
        async with services.db.read() as s:
            return (await s.execute(select(OneTimeCode.attempts).where(OneTimeCode.flow_id == flow_id))).scalar_one()

    async with refusing_rows(services.db, "security_events"):  # the failed try's record is refused
        with pytest.raises(refused(), match="disk full") as raised:
            await me.confirm(flow_id, wrong)
    refused_by_the_database(services, raised)
    assert await tries() == 0  # rolled back with its unit: no try of the five spent on nothing
    typed = await me.confirm(flow_id, wrong)
    assert not typed.ok and typed.status == 422
    assert await tries() == 1  # the wrong code the user typed counts
    confirmed = await me.confirm(flow_id, code)
    assert confirmed.ok, (confirmed.status, confirmed.code, confirmed.message)


async def test_a_contact_change_refused_for_the_user_keeps_its_counts(services, surface) -> None:
    me = SettingsClient(await signed_in(surface, services, 1322))
    account_id = await _account_id(services, "+79120001322")
    assert (await me.start("phone", NEW_PHONE)).ok
    again = await me.start("phone", NEW_PHONE)
    assert again.status == 429  # the new number's cool-down holds: nothing was given back
    assert await services.store.ttl(f"send-cooldown:sms:{NEW_PHONE}") > 0
    assert await counts(services, f"contact-change:{account_id}", f"send-hour:sms:{NEW_PHONE}") == {
        f"contact-change:{account_id}": 2, f"send-hour:sms:{NEW_PHONE}": 1}


# -- sign-in -----------------------------------------------------------------------------------------

def _signin(phone: str) -> list[str]:
    return [f"signin-ip:{IP}", f"signin-fail:phone:{phone}", f"signin-lock:phone:{phone}"]


async def test_a_sign_in_that_fails_on_the_database_gives_back_its_per_ip_count(services, surface) -> None:
    phone = await make_user(services, 1330)
    async with refusing_rows(services.db, "sessions"):  # the right password; the session is refused
        with pytest.raises(refused(), match="disk full") as raised:
            await surface.login(method="phone", phone=phone, password=PASSWORD)
    refused_by_the_database(services, raised)
    assert await counts(services, *_signin(phone)) == dict.fromkeys(_signin(phone), 0)
    assert (await surface.login(method="phone", phone=phone, password=PASSWORD)).ok
    assert await services.store.get(f"signin-ip:{IP}") == 1


async def test_a_wrong_password_counts_as_a_failure_even_when_its_record_is_refused(services, surface) -> None:
    phone = await make_user(services, 1331)
    async with refusing_rows(services.db, "security_events"):  # the failure's record is refused
        with pytest.raises(refused(), match="disk full") as raised:
            await surface.login(method="phone", phone=phone, password="Wrong-Password-1")
    refused_by_the_database(services, raised)
    # the guess was checked: its failure is kept; the per-IP count is given back with the unit
    assert await counts(services, *_signin(phone)) == {f"signin-ip:{IP}": 0, f"signin-fail:phone:{phone}": 1,
                                                       f"signin-lock:phone:{phone}": 0}


async def test_wrong_passwords_keep_their_counts_up_to_the_captcha(services, surface) -> None:
    phone = await make_user(services, 1332)
    for n in range(1, 6):
        r = await surface.login(method="phone", phone=phone, password="Wrong-Password-1")
        assert r.status == 401, (n, r.status, r.code)
        assert await counts(services, f"signin-ip:{IP}", f"signin-fail:phone:{phone}") == {
            f"signin-ip:{IP}": n, f"signin-fail:phone:{phone}": n}
    captcha = await surface.login(method="phone", phone=phone, password=PASSWORD)
    assert not captcha.ok and captcha.status in (400, 401, 403, 422)  # the sixth try needs a captcha first
    assert await services.store.get(f"signin-fail:phone:{phone}") == 5


async def test_a_sign_in_while_postgresql_is_stopped_counts_nothing(own_pg: OwnPostgres, own_redis: OwnRedis,
                                                                    stopper: list[Any]) -> None:
    """The database down and Redis up: the per-IP count is made, then given back with the 503; the
    account cannot be read, so no password is checked and no failure counted.  More than 10 tries
    in the minute of the outage are each a 503, not a 429, and leave the account its five tries
    before a captcha and the IP its ten a minute once the database is back."""
    svc = await start_services(DOSTUP_DATABASE_URL=own_pg.url, DOSTUP_REDIS_URL=own_redis.url)
    client = asgi_client(svc)
    stopper += [svc, client]
    phone = await make_user(svc, 1333)
    wrong = {"method": "phone", "phone": phone, "password": "Wrong-Password-1"}
    await asyncio.to_thread(own_pg.stop)
    try:
        for _ in range(11):
            resp = await client.post("/api/v1/login", json=wrong)
            assert resp.status_code == 503, resp.text
        assert await counts(svc, *_signin(phone)) == dict.fromkeys(_signin(phone), 0)
    finally:
        await asyncio.to_thread(own_pg.start)
    while (await asyncio.wait_for(client.get("/health/ready"), 30)).status_code != 200:
        await asyncio.sleep(0.05)  # started again: ready within a moment, no restart of Dostup
    for n in range(1, 6):  # the account's five failures before a captcha are all there
        resp = await client.post("/api/v1/login", json=wrong)
        assert resp.status_code == 401, (n, resp.text)
    for n in range(6, 11):  # and so are the IP's ten tries of the minute
        resp = await client.post("/api/v1/login", json={**wrong, "phone": f"+7912000{n:04d}"})
        assert resp.status_code == 401, (n, resp.text)
    assert await counts(svc, f"signin-ip:{IP}", f"signin-fail:phone:{phone}") == {
        f"signin-ip:{IP}": 10, f"signin-fail:phone:{phone}": 5}
    assert (await client.post("/api/v1/login", json=wrong)).status_code == 429


async def test_a_second_step_that_fails_on_the_database_spends_none_of_the_flows_five_tries(services, surface) -> None:
    me, phone, codes = await _enrolled(surface, services, 1334)
    flow = (await me.login(phone)).data["flow_id"]
    async with refusing_rows(services.db, "security_events"):  # the wrong code's record is refused
        with pytest.raises(refused(), match="disk full") as raised:
            await me.second(flow, "aaaaa-aaaa0")
    refused_by_the_database(services, raised)
    assert await services.store.get(f"second-factor-tries:{flow}") == 0, "the failed unit spent one of five tries"
    statuses = [(await me.second(flow, f"aaaaa-aaaa{i}")).status for i in range(1, 5)]
    assert statuses == [401] * 4  # the four wrong codes the user typed count, and leave one more try
    assert await services.store.get(f"second-factor-tries:{flow}") == 4
    assert (await me.second(flow, codes[0])).ok
