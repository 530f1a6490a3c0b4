"""Web protections: CSRF, origin checks, headers, redirects, production mode, failing closed."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from dostup.core.urls import safe_return_to
from dostup.services import build_services
from dostup.settings import SettingsError, load_settings
from dostup.web.app import create_app
from tests.flows.helpers import PASSWORD, crash_answer, phone_e164, redis_unreachable, registration_fields
from tests.support import ApiSurface, UiSurface, base_env


async def test_forms_without_a_valid_csrf_token_are_refused(client):
    await client.get("/login")
    for token in (None, "forged", "a" * 64):
        data = {"method": "phone", "phone": phone_e164(80), "password": PASSWORD}
        if token:
            data["csrf_token"] = token
        resp = await client.post("/login", data=data)
        assert resp.status_code == 403
        assert "Срок действия формы истёк" in resp.text


async def test_csrf_token_of_another_browser_does_not_work(client_factory):
    a, b = UiSurface(client_factory()), UiSurface(client_factory())
    token_a = await a.csrf("/login")
    await b.csrf("/login")
    resp = await b.client.post("/logout", data={"csrf_token": token_a})
    assert resp.status_code == 403


async def test_cross_origin_api_writes_are_refused(client):
    for headers in ({"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"}):
        resp = await client.post("/api/v1/login", json={"phone": phone_e164(81), "password": PASSWORD}, headers=headers)
        assert resp.status_code == 403
        assert resp.json()["error"]["code"] == "cross_origin"
    same = await client.post("/api/v1/login", json={"phone": phone_e164(81), "password": PASSWORD},
                             headers={"Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"})
    assert same.status_code == 401


async def test_sign_out_is_a_post_and_get_changes_nothing(client):
    assert (await client.get("/logout")).status_code == 405


async def test_security_headers_are_on_every_page(client):
    for path in ("/", "/login", "/registration", "/api/v1/whoami"):
        resp = await client.get(path)
        csp = resp.headers["content-security-policy"]
        assert "object-src 'none'" in csp and "base-uri 'none'" in csp and "frame-ancestors 'none'" in csp
        assert resp.headers["x-content-type-options"] == "nosniff"
        assert resp.headers["referrer-policy"] == "no-referrer"
        assert "strict-transport-security" not in resp.headers  # development over http


@pytest.mark.parametrize("value", ["//evil.example", "/\\evil.example", "javascript:alert(1)", "host.evil",
                                   "http://testserver@evil.example/", "https://evil.example/x", "http://evil.example",
                                   "/ok\r\nSet-Cookie: x=1"])
def test_return_to_refuses_foreign_and_tricky_targets(value):
    assert safe_return_to(value, {"http://testserver"}) is None


def test_return_to_accepts_relative_paths_and_our_origin():
    assert safe_return_to("/cabinet?x=1", {"http://testserver"}) == "/cabinet?x=1"
    assert safe_return_to("http://testserver/cabinet", {"http://testserver"}) == "http://testserver/cabinet"


async def test_sign_in_returns_to_a_safe_target_only(client_factory, services):
    from dostup.admin.users import create_user

    phone = phone_e164(82)
    await create_user(services.settings, phone=phone, password=PASSWORD, login=None, email=None,
                      country="RU", role="customer", now=services.clock.now())
    ui = UiSurface(client_factory())
    r = await ui.login(method="phone", phone=phone, password=PASSWORD, return_to="//evil.example/")
    assert r.data["location"] == "/cabinet"
    ui2 = UiSurface(client_factory())
    r = await ui2.login(method="phone", phone=phone, password=PASSWORD, return_to="/cabinet?tab=1")
    assert r.data["location"] == "/cabinet?tab=1"


def test_production_refuses_to_start_with_unsafe_settings_and_names_them():
    with pytest.raises(SettingsError) as err:
        load_settings({"DOSTUP_ENV": "production"}, workdir=Path("/tmp"))
    text = str(err.value)
    for name in ("DOSTUP_SECRET_KEY", "DOSTUP_COURIER__EMAIL_PROVIDER", "DOSTUP_COURIER__SMS_PROVIDER",
                 "DOSTUP_PUBLIC_URL"):
        assert name in text
    with pytest.raises(SettingsError) as err:
        load_settings(base_env(DOSTUP_SESSIONS__IDLE_TIMEOUT_SECONDS="soon"), workdir=Path("/tmp"))
    assert "DOSTUP_SESSIONS__IDLE_TIMEOUT_SECONDS" in str(err.value)


def _production_env(tmp_path: Path) -> dict[str, str]:
    return base_env(
        DOSTUP_ENV="production", DOSTUP_PUBLIC_URL="https://cabinet.example",
        DOSTUP_COURIER__EMAIL_PROVIDER="smtp", DOSTUP_COURIER__SMS_PROVIDER="http",
        DOSTUP_SMS__URL="http://127.0.0.1:9/", DOSTUP_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/p.db",
    )


@pytest.mark.parametrize(("name", "extra"), [
    ("DOSTUP_SMS__URL", {"DOSTUP_SMS__URL": "http://sms.example/send"}),
    ("DOSTUP_CONTRACTS__URL", {"DOSTUP_CONTRACTS__REGISTRY": "http", "DOSTUP_CONTRACTS__URL": "http://billing.example/c"}),
    ("DOSTUP_CAPTCHA__VERIFY_URL", {"DOSTUP_CAPTCHA__PROVIDER": "smartcaptcha", "DOSTUP_CAPTCHA__SERVER_KEY": "k",
                                    "DOSTUP_CAPTCHA__VERIFY_URL": "http://captcha.example/validate"}),
])
def test_production_refuses_cleartext_outbound_services_and_names_them(tmp_path, name, extra):
    """Phone numbers, codes and API keys do not cross the network in clear; the same machine is fine."""
    with pytest.raises(SettingsError) as err:
        load_settings({**_production_env(tmp_path), **extra}, workdir=tmp_path)
    assert name in str(err.value) and "https://" in str(err.value)
    local = {k: v.replace("sms.example", "127.0.0.1").replace("billing.example", "localhost")
             .replace("captcha.example", "[::1]") for k, v in extra.items()}
    load_settings({**_production_env(tmp_path), **local}, workdir=tmp_path)  # loopback: accepted
    secure = {k: v.replace("http://", "https://") for k, v in extra.items()}
    load_settings({**_production_env(tmp_path), **secure}, workdir=tmp_path)


async def test_production_has_no_dev_outbox_and_uses_host_prefixed_secure_cookies(tmp_path):
    settings = load_settings(_production_env(tmp_path), workdir=tmp_path)
    services = build_services(settings)
    await services.start(run_migrations=True)
    try:
        app = create_app(services=services, run_migrations=False)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://cabinet.example") as c:
            page = await c.get("/login")
            assert "__Host-dostup_csrf=" in page.headers["set-cookie"] and "Secure" in page.headers["set-cookie"]
            assert "max-age=31536000" in page.headers["strict-transport-security"]
            assert "Режим разработки" not in page.text
            assert (await c.get("/dev/outbox")).status_code == 404
            assert (await c.get("/dev/outbox.json")).status_code == 404
    finally:
        await services.stop()


async def test_a_crash_shows_a_generic_page_without_a_trace(app):
    resp = await crash_answer(app, "/boom-test", "secret internals")
    assert resp.status_code == 500
    assert "secret internals" not in resp.text and "Traceback" not in resp.text
    assert "Внутренняя ошибка" in resp.text


async def test_sign_in_and_codes_fail_closed_when_redis_is_unreachable(tmp_path):
    async with redis_unreachable(tmp_path) as services:
        app = create_app(services=services, run_migrations=False)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as c:
            api = ApiSurface(c)
            r = await api.login(method="phone", phone=phone_e164(83), password=PASSWORD)
            assert r.status == 503 and r.code == "service_unavailable"
            challenge = await c.get("/api/v1/captcha/challenge", params={"action": "register"})
            assert challenge.status_code == 200
            r = await api.register(**await registration_fields(api, phone_e164(84)))
            assert r.status == 503
