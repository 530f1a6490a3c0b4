"""Sessions and web protections (SECURITY.md: sessions and web)."""

from __future__ import annotations

import datetime as dt
import hashlib

from sqlalchemy import select

from dostup.persistence.models import Session
from tests.factories import make_user as _user
from tests.flows.helpers import PASSWORD
from tests.support import ApiSurface, UiSurface


async def test_cookie_is_httponly_lax_root_path_without_domain(client_factory, services):
    phone = await _user(services, 30)
    ui = UiSurface(client_factory())
    r = await ui.login(method="phone", phone=phone, password=PASSWORD)
    cookie = r.headers["set-cookie"].lower()
    assert cookie.startswith("dostup_session=")
    assert "httponly" in cookie and "samesite=lax" in cookie and "path=/" in cookie and "domain" not in cookie
    assert "secure" not in cookie  # local development over http


async def test_only_a_hash_of_the_token_is_stored_and_it_has_256_bits(client_factory, services):
    phone = await _user(services, 31)
    api = ApiSurface(client_factory())
    await api.login(method="phone", phone=phone, password=PASSWORD)
    assert api.token and len(api.token) >= 43  # 32 random bytes, base64url
    async with services.db.read() as s:
        rows = (await s.execute(select(Session))).scalars().all()
    assert [r.token_hash for r in rows] == [hashlib.sha256(api.token.encode()).hexdigest()]


async def test_signing_in_again_rotates_the_browser_session(client_factory, services):
    phone = await _user(services, 32)
    ui = UiSurface(client_factory())
    await ui.login(method="phone", phone=phone, password=PASSWORD)
    first = ui.token
    await ui.login(method="phone", phone=phone, password=PASSWORD)
    assert ui.token != first
    old = ApiSurface(client_factory())
    old.token = first
    assert (await old.whoami()).status == 401
    assert (await ui.whoami()).ok


async def test_after_sign_out_the_old_cookie_gets_401(client_factory, services):
    phone = await _user(services, 33)
    ui = UiSurface(client_factory())
    await ui.login(method="phone", phone=phone, password=PASSWORD)
    token = ui.token
    await ui.logout()
    replay = client_factory()
    replay.cookies.set("dostup_session", token)
    assert (await replay.get("/api/v1/whoami")).status_code == 401
    page = await replay.get("/cabinet")
    assert page.status_code == 303 and page.headers["location"].startswith("/login")


async def test_idle_timeout_is_thirty_minutes(client_factory, services, clock):
    phone = await _user(services, 34)
    ui = UiSurface(client_factory())
    await ui.login(method="phone", phone=phone, password=PASSWORD)
    clock.advance(minutes=29)
    assert (await ui.whoami()).ok  # activity moves the idle window
    clock.advance(minutes=29)
    assert (await ui.whoami()).ok
    clock.advance(minutes=31)
    assert (await ui.whoami()).status == 401


async def test_absolute_timeout_is_twelve_hours_even_when_active(client_factory, services, clock):
    phone = await _user(services, 35)
    ui = UiSurface(client_factory())
    await ui.login(method="phone", phone=phone, password=PASSWORD)
    start = clock.now()
    alive_until = start
    for _ in range(30):
        clock.advance(minutes=29)
        if not (await ui.whoami()).ok:
            break
        alive_until = clock.now()
    assert (await ui.whoami()).status == 401
    assert dt.timedelta(hours=11, minutes=30) <= alive_until - start < dt.timedelta(hours=12)
    assert clock.now() - start <= dt.timedelta(hours=12, minutes=29)


async def test_remember_me_lasts_thirty_days_without_idle_timeout(client_factory, services, clock):
    phone = await _user(services, 36)
    ui = UiSurface(client_factory())
    await ui.login(method="phone", phone=phone, password=PASSWORD, remember=True)
    clock.advance(days=10)
    assert (await ui.whoami()).ok
    clock.advance(days=19, hours=23)
    assert (await ui.whoami()).ok
    clock.advance(hours=2)
    assert (await ui.whoami()).status == 401


async def test_bearer_token_works_for_api_clients_and_garbage_tokens_get_401(client_factory, services):
    phone = await _user(services, 37)
    api = ApiSurface(client_factory())
    await api.login(method="phone", phone=phone, password=PASSWORD)
    assert (await api.whoami()).data["account"]["phone"] == phone
    for bad in ("", "x", "a" * 500, "Bearer", "\u043f\u0440\u0438\u0432\u0435\u0442"):
        c = client_factory()
        resp = await c.get("/api/v1/whoami", headers={"Authorization": f"Bearer {bad}".encode()})
        assert resp.status_code == 401
        assert resp.json()["error"]["code"] == "unauthenticated"
