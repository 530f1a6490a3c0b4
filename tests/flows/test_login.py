"""Sign-in (SPEC §4.2) and its throttling (SECURITY.md: sign-in and throttling)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from dostup.persistence.models import SecurityEvent
from tests.factories import make_account
from tests.flows.helpers import PASSWORD, phone_e164, register
from tests.support import ApiSurface, UiSurface, captcha_token


async def test_sign_in_by_phone_then_sign_out_kills_the_session(surface, surface_factory):
    phone = await register(surface, phone_e164(10))
    other = surface_factory()
    r = await other.login(method="phone", phone=phone, password=PASSWORD)
    assert r.ok
    assert (await other.whoami()).ok
    token = other.token
    out = await other.logout()
    assert out.ok
    stale = ApiSurface(other.client)
    stale.token = token
    assert (await stale.whoami()).status == 401


async def test_login_tab_always_needs_captcha_in_kit(surface, services):
    await make_account(services, phone_e164(11), login="ivan.petrov")
    r = await surface.login(method="login", login="Ivan.Petrov", password=PASSWORD)
    assert r.status == 422 and r.field == "captcha"
    r = await surface.login(method="login", login="Ivan.Petrov", password=PASSWORD,
                            captcha=await captcha_token(surface.client, "login"))
    assert r.ok


async def test_wrong_password_and_unknown_account_look_the_same(surface, services):
    await make_account(services, phone_e164(12), login="known.user")
    wrong = await surface.login(method="phone", phone=phone_e164(12), password="Wrong-password-1")
    unknown = await surface.login(method="phone", phone=phone_e164(99), password="Wrong-password-1")
    assert wrong.status == unknown.status == 401
    assert wrong.message == unknown.message == "Неверный номер телефона или пароль"
    assert {k for k in wrong.headers if k.lower() == "set-cookie"} == {k for k in unknown.headers if k.lower() == "set-cookie"}


@pytest.mark.parametrize("settings_overrides", [{"DOSTUP_LIMITS__SIGNIN_PER_IP_PER_MINUTE": "100"}])
async def test_captcha_after_five_failures_then_lock_that_still_answers_the_same(surface_factory, services):
    phone = phone_e164(13)
    await make_account(services, phone, login="locked.user")
    s = surface_factory()
    for _ in range(5):
        r = await s.login(method="phone", phone=phone, password="Wrong-password-1")
        assert r.status == 401
    r = await s.login(method="phone", phone=phone, password=PASSWORD)
    assert r.status == 422 and r.field == "captcha"
    for _ in range(5):  # failures 6..10 → locked after the 10th
        r = await s.login(method="phone", phone=phone, password="Wrong-password-1",
                          captcha=await captcha_token(s.client, "login"))
        assert r.status == 401
    # Locked: even the right password gets the same answer as a wrong one.
    r = await s.login(method="phone", phone=phone, password=PASSWORD, captcha=await captcha_token(s.client, "login"))
    assert r.status == 401 and r.message == "Неверный номер телефона или пароль"
    assert await services.store.ttl(f"signin-lock:phone:{phone}") > 0
    async with services.db.read() as db:
        outcomes = [e.outcome for e in (await db.execute(select(SecurityEvent).where(SecurityEvent.kind == "login"))).scalars()]
    assert outcomes.count("locked") >= 1


async def test_lock_is_temporary_and_success_resets_the_counter(surface_factory, services, clock, backend):
    if "DOSTUP_REDIS_URL" in backend:
        return  # Redis expiry follows real time; the SQL store follows the injected clock
    phone = phone_e164(14)
    await make_account(services, phone, login="temp.lock")
    await services.store.put(f"signin-fail:phone:{phone}", 10, 12 * 3600)
    await services.store.put(f"signin-lock:phone:{phone}", 1, 60)
    s = surface_factory()
    tok = await captcha_token(s.client, "login")
    assert (await s.login(method="phone", phone=phone, password=PASSWORD, captcha=tok)).status == 401
    clock.advance(seconds=61)
    r = await s.login(method="phone", phone=phone, password=PASSWORD, captcha=await captcha_token(s.client, "login"))
    assert r.ok
    assert await services.store.get(f"signin-fail:phone:{phone}") == 0


async def test_more_than_ten_attempts_a_minute_from_one_ip_get_429_with_retry_after(surface_factory, services):
    s = surface_factory(ip="10.9.8.7")
    statuses = []
    for i in range(11):
        r = await s.login(method="phone", phone=phone_e164(200 + i), password="Wrong-password-1")
        statuses.append(r.status)
    assert statuses[:10] == [401] * 10
    assert statuses[10] == 429
    assert int(r.headers["retry-after"]) > 0
    # Another IP is not affected.
    assert (await surface_factory(ip="10.9.8.8").login(method="phone", phone=phone_e164(300), password="x" * 9)).status == 401


async def test_remember_me_gives_a_persistent_cookie_and_thirty_days(client_factory, services):
    phone = phone_e164(15)
    await make_account(services, phone, login="remember.me")
    plain = UiSurface(client_factory())
    r = await plain.login(method="phone", phone=phone, password=PASSWORD)
    cookie = r.headers["set-cookie"]
    assert "Max-Age" not in cookie and "expires" not in cookie.lower()
    remembered = UiSurface(client_factory())
    r = await remembered.login(method="phone", phone=phone, password=PASSWORD, remember=True)
    cookie = r.headers["set-cookie"]
    assert "Max-Age=2592000" in cookie
    me = await remembered.whoami()
    expires = dt.datetime.fromisoformat(me.data["session"]["expires_at"])  # RFC 3339, in UTC
    assert expires.tzinfo == dt.UTC and (expires.replace(tzinfo=None) - services.clock.now()).days == 30


async def test_sign_in_is_recorded_in_the_security_history(surface, services):
    phone = await register(surface, phone_e164(16))
    await surface.login(method="phone", phone=phone, password=PASSWORD)
    async with services.db.read() as db:
        events = (await db.execute(select(SecurityEvent).order_by(SecurityEvent.created_at))).scalars().all()
    kinds = [(e.kind, e.outcome) for e in events]
    assert ("registration", "success") in kinds and ("login", "success") in kinds
    assert all(e.ip and e.created_at for e in events)
    assert all(PASSWORD not in str(e.detail) for e in events)
