"""SECURITY.md lines that no other test showed on its own (docs/security-tests.md lists them all).

Each test states one line (or one number of a line) of SECURITY.md, through both surfaces and on both
backends where the line is about a flow.  Every one was seen to fail against a deliberately broken
setting or code path before it was kept.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import re
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher as Argon2
from argon2 import Type
from sqlalchemy import func, select, update

from dostup.admin.users import create_user
from dostup.core.crypto import Keyring, sha256_hex
from dostup.core.urls import safe_return_to
from dostup.credentials.codes import CodeService
from dostup.persistence.models import (
    Account,
    Consent,
    Credential,
    Flow,
    OneTimeCode,
    OutboxMessage,
    SecurityEvent,
    Session,
)
from dostup.persistence.models_oidc import OidcClient
from dostup.services import build_services
from dostup.settings import load_settings
from dostup.web.app import create_app
from tests.factories import make_account
from tests.flows.helpers import PASSWORD, crash_answer, phone_e164, redis_unreachable, registration_fields
from tests.support import (
    ApiSurface,
    Result,
    Surface,
    UiSurface,
    _api_result,
    captcha_token,
    last_code,
    make_settings,
    outbox,
)

NEW_PASSWORD = "Granite-Violin-77"
WRONG = "Wrong-password-1"


def _bearer(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


async def _dead(client_factory: Any, surface: Surface, token: str | None) -> bool:
    """Whether a session token of ``surface`` is refused (401) when replayed from another client."""
    assert token
    other = client_factory()
    if surface.name == "ui":
        other.cookies.set("dostup_session", token)
        return (await other.get("/api/v1/whoami")).status_code == 401
    return (await other.get("/api/v1/whoami", headers=_bearer(token))).status_code == 401


async def _change_password(s: Surface, old: str, new: str, repeat: str | None = None) -> Result:
    fields = {"old_password": old, "new_password": new, "new_password_repeat": new if repeat is None else repeat}
    if isinstance(s, UiSurface):
        r = s._result(await s.post_form("/settings/password", fields, "/settings/password"))
        if r.ok:
            s.token = s.client.cookies.get("dostup_session")
        return r
    r = _api_result(await s.client.post("/api/v1/settings/password", json=fields, headers=_bearer(s.token)))
    if r.ok:
        s.token = r.data["token"]
    return r


async def _recover(s: Surface, phone: str) -> int:
    cap = await captcha_token(s.client, "recover")
    if isinstance(s, UiSurface):
        return (await s.post_form("/recovery", {"country": "RU", "phone": phone, "captcha": cap}, "/recovery")).status_code
    return (await s.client.post("/api/v1/recovery", json={"phone": phone, "captcha": cap})).status_code


async def _stored_hash(services: Any, account_id: str) -> str:
    async with services.db.read() as s:
        return str((await s.execute(select(Account.password_hash).where(Account.id == account_id))).scalar_one())


# -- Passwords -------------------------------------------------------------------------------------------------

async def test_the_users_own_login_is_refused_as_a_new_password_with_the_reason(surface, services):
    made = await make_account(services, 7001, login="lantern.keeper")
    assert made.phone
    before = await _stored_hash(services, made.id)
    assert (await surface.login(method="phone", phone=made.phone, password=PASSWORD)).ok
    for value in ("lantern.keeper", "Lantern.Keeper-2024", "my-lantern.keeper!"):
        r = await _change_password(surface, PASSWORD, value)
        assert (r.status, r.field) == (422, "new_password"), (value, r)
        assert services.catalog.text("password.personal", "ru") in (r.message or r.data.get("html", "")), value
    assert await _stored_hash(services, made.id) == before
    assert (await ApiSurface(surface.client).login(method="phone", phone=made.phone, password=PASSWORD)).ok


async def test_a_4kb_new_password_is_422_before_any_hashing(surface, services, monkeypatch):
    made = await make_account(services, 7002)
    assert made.phone and (await surface.login(method="phone", phone=made.phone, password=PASSWORD)).ok
    before = await _stored_hash(services, made.id)
    calls: list[str] = []
    real_hash, real_verify = services.hasher.hash, services.hasher.verify

    async def spy_hash(password: str) -> str:
        calls.append("hash")
        return await real_hash(password)

    async def spy_verify(stored: str | None, password: str) -> tuple[bool, bool]:
        calls.append("verify")
        return await real_verify(stored, password)

    monkeypatch.setattr(services.hasher, "hash", spy_hash)
    monkeypatch.setattr(services.hasher, "verify", spy_verify)
    r = await _change_password(surface, PASSWORD, "x" * 4097)
    assert (r.status, r.field) == (422, "new_password"), r
    assert calls == []
    assert await _stored_hash(services, made.id) == before


async def test_a_hash_with_older_argon2_parameters_is_replaced_at_the_next_sign_in(surface, surface_factory, services):
    made = await make_account(services, 7003)
    cost = services.settings.passwords
    older = Argon2(time_cost=cost.argon2_time_cost, memory_cost=cost.argon2_memory_kib // 2,
                   parallelism=cost.argon2_parallelism, type=Type.ID).hash(PASSWORD)
    async with services.db.write() as s:
        await s.execute(update(Account).where(Account.id == made.id).values(password_hash=older))
    assert made.phone
    wrong = await surface.login(method="phone", phone=made.phone, password=WRONG)
    assert wrong.status == 401 and await _stored_hash(services, made.id) == older  # only a success re-hashes
    assert (await surface.login(method="phone", phone=made.phone, password=PASSWORD)).ok
    now = await _stored_hash(services, made.id)
    assert now != older and now.startswith("$argon2id$")
    assert f"m={cost.argon2_memory_kib},t={cost.argon2_time_cost}," in now
    assert (await surface_factory().login(method="phone", phone=made.phone, password=PASSWORD)).ok


async def test_a_password_change_needs_the_current_one_tells_the_owner_and_ends_the_other_sessions(
        surface, surface_factory, services, client_factory):
    made = await make_account(services, 7026)
    assert made.phone
    other = surface_factory()
    assert (await other.login(method="phone", phone=made.phone, password=PASSWORD)).ok
    assert (await surface.login(method="phone", phone=made.phone, password=PASSWORD)).ok
    for old in ("", WRONG):
        r = await _change_password(surface, old, NEW_PASSWORD)
        assert (r.status, r.field) == (422, "old_password"), r
    assert (await other.whoami()).ok  # nothing changed yet
    before = surface.token
    assert (await _change_password(surface, PASSWORD, NEW_PASSWORD)).ok
    assert (await other.whoami()).status == 401 and await _dead(client_factory, surface, before)
    assert (await surface.whoami()).ok
    kinds = [m["kind"] for m in await outbox(surface.client) if m["to"] == made.phone]
    assert kinds == ["password_changed"]
    assert (await surface_factory().login(method="phone", phone=made.phone, password=PASSWORD)).status == 401


# -- Sign-in and throttling ------------------------------------------------------------------------------------

@pytest.mark.parametrize("settings_overrides", [{"DOSTUP_LIMITS__SIGNIN_PER_IP_PER_MINUTE": "1000"}])
async def test_the_sign_in_lock_grows_a_minute_a_failure_up_to_fifteen_and_the_count_lives_twelve_hours(
        surface, services, clock, backend):
    made = await make_account(services, 7004)
    phone = made.phone
    assert phone
    lock, fail = f"signin-lock:phone:{phone}", f"signin-fail:phone:{phone}"
    waits = []
    for n in range(1, 27):
        cap = await captcha_token(surface.client, "login") if n > 5 else None
        r = await surface.login(method="phone", phone=phone, password=WRONG, captcha=cap)
        assert r.status == 401, (n, r)
        waits.append(await services.store.ttl(lock))
        await services.store.delete(lock)  # the wait is over (Redis keeps real time; the lock only delays)
    expected = [0] * 9 + [60 * min(15, k) for k in range(1, 18)]
    assert all(e - 5 <= w <= e for w, e in zip(waits, expected, strict=True)), waits
    assert 12 * 3600 - 60 <= await services.store.ttl(fail) <= 12 * 3600
    if "DOSTUP_REDIS_URL" in backend:
        return  # Redis expiry follows real time: its 12 h are shown by the counter's TTL above
    clock.advance(hours=12, seconds=1)
    assert await services.store.get(fail) == 0
    r = await surface.login(method="phone", phone=phone, password=PASSWORD)  # no captcha asked any more
    assert r.ok, r


@pytest.mark.parametrize("settings_overrides", [{"DOSTUP_LIMITS__SIGNIN_PER_IP_PER_MINUTE": "1000"}])
async def test_unknown_wrong_and_locked_give_the_same_status_body_and_cookies(surface, surface_factory, services):
    known, locked = await make_account(services, 7030), await make_account(services, 7031)
    assert locked.phone and known.phone
    await services.store.put(f"signin-fail:phone:{locked.phone}", 3, 3600)  # under the captcha threshold
    await services.store.put(f"signin-lock:phone:{locked.phone}", 1, 600)
    seen = []
    for phone, password in ((phone_e164(7039), PASSWORD), (known.phone, WRONG), (locked.phone, PASSWORD)):
        s = surface_factory()
        if isinstance(s, UiSurface):
            resp = await s.post_form("/login", {"method": "phone", "phone": phone, "password": password})
            body: Any = re.sub(r'name="csrf_token" value="[^"]+"', "", resp.text).replace(phone, "PHONE")
        else:
            resp = await s.client.post("/api/v1/login", json={"method": "phone", "phone": phone, "password": password})
            body = resp.json()
        cookies = sorted(re.sub(r"=[^;]*", "=", v, count=1) for k, v in resp.headers.multi_items()
                         if k == "set-cookie")
        seen.append((resp.status_code, body, cookies))
    assert seen[0][0] == 401 and seen[0] == seen[1] == seen[2], [x[0] for x in seen]


@pytest.mark.parametrize("settings_overrides", [{"DOSTUP_LIMITS__SIGNIN_PER_IP_PER_MINUTE": "100"}])
async def test_there_is_no_default_administrator(services, client):
    async with services.db.read() as s:
        assert (await s.execute(select(func.count()).select_from(Account))).scalar_one() == 0
    for login in ("admin", "administrator", "root"):
        for password in ("admin", "password", "Admin-12345", PASSWORD):
            r = await ApiSurface(client).login(method="login", login=login, password=password,
                                               captcha=await captcha_token(client, "login"))
            assert r.status in (401, 422), r


# -- One-time codes --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("settings_overrides", [{"DOSTUP_CODES__RESEND_COOLDOWN_SECONDS": "0"}])
async def test_codes_passwords_and_tokens_never_reach_the_logs(surface, surface_factory, services, caplog):
    caplog.set_level(logging.DEBUG, logger="dostup")
    caplog.set_level(logging.INFO)
    phone = phone_e164(7005)
    r = await surface.register(**await registration_fields(surface, phone))
    assert r.ok, r
    code = await last_code(surface.client, phone)
    assert (await surface.confirm(r.data["flow_id"], code)).ok
    token = surface.token
    failed = await surface_factory().login(method="phone", phone=phone, password=WRONG)
    assert failed.status == 401
    assert await _recover(surface_factory(), phone) == 200
    temp = await last_code(surface.client, phone, "recovery_password")
    secrets_seen = {"code": code, "temporary password": temp, "password": PASSWORD, "wrong password": WRONG,
                    "session token": str(token)}
    logged = caplog.text + "\n".join(str(rec.args) for rec in caplog.records)
    assert caplog.records  # the capture is on
    async with services.db.read() as s:
        rows = [*(await s.execute(select(SecurityEvent))).scalars(), *(await s.execute(select(Flow))).scalars(),
                *(await s.execute(select(Session))).scalars(), *(await s.execute(select(OneTimeCode))).scalars()]
    stored = "\n".join(repr({c.key: getattr(r, c.key) for c in r.__table__.columns}) for r in rows)
    for what, value in secrets_seen.items():
        assert value not in logged, what
        assert value not in stored, what
    async with services.db.read() as s:
        events = list((await s.execute(select(SecurityEvent).order_by(SecurityEvent.created_at))).scalars())
    assert {(e.kind, e.outcome) for e in events} >= {("registration", "success"), ("login", "failure")}
    for e in events:  # UTC time, account, IP, user agent, outcome
        assert e.created_at and e.ip == "127.0.0.1" and e.user_agent and e.outcome and e.account_id, e.kind


def test_a_code_is_six_digits_kept_as_a_keyed_hash_bound_to_its_purpose_and_destination():
    settings = make_settings()
    keyring = Keyring(settings.secret_key)
    rows: list[OneTimeCode] = []

    class Rows:
        def add(self, row: OneTimeCode) -> None:
            rows.append(row)

    issued = [CodeService(settings.codes, keyring).add(Rows(), purpose="registration", channel="sms",
                                                       destination="+79120007006", now=dt.datetime(2026, 1, 1),
                                                       flow_id=f"flow-{i}") for i in range(200)]
    assert all(i.code.isascii() and i.code.isdigit() and len(i.code) == 6 for i in issued)
    assert len({i.code for i in issued}) > 150  # random, not a counter or a constant
    for code, row in zip(issued, rows, strict=True):
        assert code.code not in row.code_hash and row.code_hash != sha256_hex(code.code)  # keyed, never the code
        assert keyring.check("code", row.code_hash, "registration", "+79120007006", code.code)
        assert not keyring.check("code", row.code_hash, "recovery", "+79120007006", code.code)
        assert not keyring.check("code", row.code_hash, "contact_phone", "+79120007006", code.code)
        assert not keyring.check("code", row.code_hash, "registration", "+79120007007", code.code)
        assert not Keyring(settings.secret_key + "x").check("code", row.code_hash, "registration", "+79120007006",
                                                             code.code)


@pytest.mark.parametrize("settings_overrides", [{"DOSTUP_CODES__RESEND_COOLDOWN_SECONDS": "0",
                                                 "DOSTUP_CODES__PER_IP_PER_HOUR": "100"}])
async def test_five_codes_an_hour_to_one_destination_then_429_whatever_the_flow(surface, surface_factory, services):
    phone = phone_e164(7008)
    r = await surface.register(**await registration_fields(surface, phone))
    assert r.ok
    statuses = [(await surface.resend(r.data["flow_id"])).status for _ in range(5)]
    assert statuses[:4] == [statuses[0]] * 4 and statuses[0] in (200, 303) and statuses[4] == 429, statuses
    other = surface_factory(ip="10.70.0.8")
    again = await other.register(**await registration_fields(other, phone))
    assert again.status == 429
    async with services.db.read() as s:
        sent = (await s.execute(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.to == phone)))
        assert sent.scalar_one() == 5


@pytest.mark.parametrize("settings_overrides", [{"DOSTUP_CODES__RESEND_COOLDOWN_SECONDS": "0",
                                                 "DOSTUP_CODES__PER_IP_PER_HOUR": "100",
                                                 "DOSTUP_CODES__PER_DESTINATION_PER_HOUR": "100"}])
async def test_ten_codes_a_day_to_one_destination_then_429(surface, services):
    phone = phone_e164(7009)
    r = await surface.register(**await registration_fields(surface, phone))
    assert r.ok
    statuses = [(await surface.resend(r.data["flow_id"])).status for _ in range(10)]
    assert 429 not in statuses[:9] and statuses[9] == 429, statuses
    async with services.db.read() as s:
        sent = (await s.execute(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.to == phone)))
        assert sent.scalar_one() == 10


async def test_a_contact_confirmation_code_lives_ten_minutes(surface, services, clock):
    from tests.flows.settings_support import account, shown, signed_in

    me = await signed_in(surface, services, 7027, email="old7027@example.com")
    r = await me.start("email", "late7027@example.com")
    assert r.ok, r
    code = await last_code(surface.client, "late7027@example.com", kind="contact_code")
    clock.advance(minutes=10, seconds=1)
    late = await me.confirm(str(r.data["flow_id"]), code)
    assert late.status == 422 and shown(late) == services.catalog.text("code.expired", "ru"), late
    assert (await account(services, phone_e164(7027))).email == "old7027@example.com"
    r = await me.start("email", "soon7027@example.com")
    assert r.ok, r
    code = await last_code(surface.client, "soon7027@example.com", kind="contact_code")
    clock.advance(minutes=9, seconds=59)
    assert (await me.confirm(str(r.data["flow_id"]), code)).ok
    assert (await account(services, phone_e164(7027))).email == "soon7027@example.com"


async def test_a_temporary_password_by_email_lives_sixty_minutes(client_factory, services, clock):
    early = await make_account(services, "+74951237010", "early@example.com", verify_phone=False)
    late = await make_account(services, "+74951237011", "late@example.com", verify_phone=False)
    api = ApiSurface(client_factory())
    for who in (early, late):
        assert who.phone and await _recover(api, who.phone) == 200
    temps = {to: await last_code(api.client, to, "recovery_password") for to in ("early@example.com", "late@example.com")}
    clock.advance(minutes=59)
    assert (await ApiSurface(client_factory()).login(method="phone", phone=early.phone,
                                                      password=temps["early@example.com"])).ok
    clock.advance(minutes=1, seconds=1)
    r = await ApiSurface(client_factory()).login(method="phone", phone=late.phone, password=temps["late@example.com"])
    assert r.status == 401


@pytest.mark.parametrize("number", ["+7 701 123 4567", "+49 151 23456789"])  # a Kazakh and a German mobile
async def test_no_sms_goes_to_a_mobile_of_a_country_not_allowed_on_any_path(surface, services, number):
    from tests.flows.settings_support import messages, signed_in

    me = await signed_in(surface, services, 7025, email="owner7025@example.com")
    r = await me.start("phone", number, country="RU")
    assert r.ok or r.status == 422, r
    foreign = await make_account(services, number, "foreign7025@example.com")
    assert foreign.phone and await _recover(ApiSurface(surface.client), foreign.phone) in (200, 422)
    async with services.db.read() as s:
        sms = list((await s.execute(select(OutboxMessage.to).where(OutboxMessage.channel == "sms"))).scalars())
    assert foreign.phone not in sms and await messages(services, foreign.phone) == []


# -- Registration and consent ----------------------------------------------------------------------------------

@pytest.mark.parametrize("settings_overrides", [{"DOSTUP_LIMITS__REGISTRATION_PER_IP_PER_HOUR": "3",
                                                 "DOSTUP_CODES__PER_IP_PER_HOUR": "100"}])
async def test_registration_is_rate_limited_per_ip_in_the_seeds_explicit_mode(surface, surface_factory, services):
    taken = await make_account(services, 7040)
    statuses = []
    for n in (7041, 7042, 7040, 7043):  # the taken number is told as the seed tells it, and counted too
        r = await surface.register(**await registration_fields(surface, phone_e164(n)))
        statuses.append(r.status if not r.ok else "ok")
    assert statuses[:2] == ["ok", "ok"] and statuses[2] != "ok" and statuses[3] == 429, statuses
    assert int(r.headers["retry-after"]) > 0
    assert taken.phone and await last_code(surface.client, phone_e164(7042))
    elsewhere = surface_factory(ip="10.70.0.44")
    assert (await elsewhere.register(**await registration_fields(elsewhere, phone_e164(7044)))).ok


async def test_consent_records_hold_the_text_hash_time_ip_user_agent_and_channel(surface, services, client_factory):
    if surface.name == "ui":
        page = await surface.client.get("/registration")
        box = re.search(r'<input[^>]*name="consent_marketing"[^>]*>', page.text)
        assert box and "checked" not in box.group(0)  # a separate box, not ticked
    surface.client.headers["User-Agent"] = "Consent-Agent/7.0 (test)"
    phone = phone_e164(7012)
    r = await surface.register(**await registration_fields(surface, phone, consent_marketing=True))
    assert r.ok
    assert (await surface.confirm(r.data["flow_id"], await last_code(surface.client, phone))).ok
    async with services.db.read() as s:
        account_id = (await s.execute(select(Account.id))).scalar_one()
        rows = {c.kind: c for c in (await s.execute(select(Consent))).scalars()}
    assert set(rows) == {"personal_data", "marketing"}
    for kind, row in rows.items():
        assert row.account_id == account_id and row.granted
        assert row.document_sha256 == sha256_hex(services.catalog.text(f"consent.{kind}", "ru"))
        assert row.document_version == services.preset.consent_version
        assert _utc(row.created_at) == _utc(services.clock.now())
        assert row.ip == "127.0.0.1" and row.user_agent == "Consent-Agent/7.0 (test)" and row.channel == surface.name


# -- Sessions and web ------------------------------------------------------------------------------------------

async def test_leaving_the_temporary_password_state_rotates_the_token_and_the_old_one_is_dead(
        surface, services, client_factory):
    made = await make_account(services, 7013)
    assert made.phone and await _recover(surface, made.phone) == 200
    temp = await last_code(surface.client, made.phone, "recovery_password")
    assert (await surface.login(method="phone", phone=made.phone, password=temp)).ok
    limited = surface.token
    assert (await _change_password(surface, temp, NEW_PASSWORD)).ok
    assert surface.token and surface.token != limited
    assert await _dead(client_factory, surface, limited)
    assert (await surface.whoami()).ok


async def test_step_up_rotates_the_token_and_the_old_one_is_dead(surface, services, client_factory, clock):
    made = await make_account(services, 7014)
    assert made.phone and (await surface.login(method="phone", phone=made.phone, password=PASSWORD)).ok
    before = surface.token
    clock.advance(minutes=16)
    if isinstance(surface, UiSurface):
        resp = await surface.post_form("/reauth", {"password": PASSWORD, "return_to": "/settings"}, "/reauth")
        assert resp.status_code == 303, resp.text[:300]
        surface.token = surface.client.cookies.get("dostup_session")
    else:
        resp = await surface.client.post("/api/v1/reauth", json={"password": PASSWORD}, headers=_bearer(surface.token))
        assert resp.status_code == 200, resp.text
        surface.token = resp.json()["token"]
    assert surface.token and surface.token != before
    assert await _dead(client_factory, surface, before)
    assert (await surface.whoami()).ok


def _production_env(tmp_path: Any) -> dict[str, str]:
    from tests.support import base_env

    return base_env(DOSTUP_ENV="production", DOSTUP_PUBLIC_URL="https://cabinet.example",
                    DOSTUP_COURIER__EMAIL_PROVIDER="smtp", DOSTUP_COURIER__SMS_PROVIDER="http",
                    DOSTUP_SMS__URL="http://127.0.0.1:9/", DOSTUP_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/p.db")


async def test_in_production_the_session_cookie_is_host_prefixed_secure_and_has_no_domain(tmp_path):
    settings = load_settings(_production_env(tmp_path), workdir=tmp_path)
    services = build_services(settings)
    await services.start(run_migrations=True)
    try:
        await create_user(settings, phone=phone_e164(7015), password=PASSWORD, login=None, email=None, country="RU",
                          role="customer", now=services.clock.now())
        app = create_app(services=services, run_migrations=False)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://cabinet.example") as c:
            ui = UiSurface(c)
            r = await ui.login(method="phone", phone=phone_e164(7015), password=PASSWORD)
            assert r.ok, r
            cookies = [v for k, v in r.headers.items() if k.lower() == "set-cookie"]
            session = [v for v in cookies if "dostup_session=" in v]
            assert session and session[0].startswith("__Host-dostup_session="), cookies
            attrs = [a.strip().lower() for a in session[0].split(";")[1:]]
            assert {"httponly", "secure", "path=/", "samesite=lax"} <= set(attrs)
            assert not any(a.startswith("domain") for a in attrs)
            assert (await c.get("/api/v1/whoami")).status_code == 200
    finally:
        await services.stop()


async def test_recovery_pages_send_no_referrer_and_the_security_headers(surface, services):
    made = await make_account(services, 7016)
    assert made.phone
    answers = [await surface.client.get("/recovery")]
    cap = await captcha_token(surface.client, "recover")
    if isinstance(surface, UiSurface):
        answers.append(await surface.post_form("/recovery", {"country": "RU", "phone": made.phone, "captcha": cap},
                                               "/recovery"))
        answers.append(await surface.post_form("/recovery", {"country": "RU", "phone": "+7 912 ABC"}, "/recovery"))
    else:
        answers.append(await surface.client.post("/api/v1/recovery", json={"phone": made.phone, "captcha": cap}))
        answers.append(await surface.client.post("/api/v1/recovery", json={"phone": "+7 912 ABC"}))
    assert [a.status_code for a in answers][1:] == [200, 422]
    for resp in answers:
        assert resp.headers["referrer-policy"] == "no-referrer", resp.url
        csp = resp.headers["content-security-policy"]
        assert "object-src 'none'" in csp and "base-uri 'none'" in csp and "frame-ancestors 'none'" in csp
        assert resp.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("value", [
    "http://testserver.evil.example/", "https://testserver.evil.example/cabinet", "http://testserver:80@evil.example/",
    "http://testserver%40evil.example/", "HTTP://testserver@evil.example", "//testserver@evil.example",
    "\\\\evil.example", "/\\/evil.example", " //evil.example", "\t/\\evil.example", "javascript://testserver/%0aalert(1)",
    "data:text/html,<script>alert(1)</script>", "http://evil.example/http://testserver", "https:/evil.example",
])
def test_return_to_refuses_lookalike_hosts_userinfo_and_scheme_tricks(value):
    assert safe_return_to(value, {"http://testserver"}) is None


@pytest.mark.parametrize("value", ["http://testserver.evil.example/", "http://testserver@evil.example/",
                                   "/\\evil.example", "javascript:alert(1)", "//evil.example"])
async def test_sign_in_and_reauthentication_never_send_the_browser_to_a_foreign_return_to(client_factory, services,
                                                                                         value):
    made = await make_account(services, 7017)
    ui = UiSurface(client_factory())
    r = await ui.login(method="phone", phone=made.phone, password=PASSWORD, return_to=value)
    assert r.ok and r.data["location"] == "/cabinet", r
    page = await ui.client.get("/reauth", params={"return_to": value})
    assert "evil" not in page.text and "javascript:" not in page.text
    resp = await ui.post_form("/reauth", {"password": PASSWORD, "return_to": value}, "/reauth")
    assert resp.status_code == 303 and not resp.headers["location"].lstrip("/").startswith(("/", "\\", "http", "java"))
    assert "evil" not in resp.headers["location"]


@pytest.mark.parametrize("settings_overrides", [{"DOSTUP_PRESET": "gosuslugi"}])
async def test_links_in_messages_come_from_the_public_url_never_the_host_header(client_factory, services):
    from tests.flows.test_presets import _confirm, _password, _start

    hostile = {"Host": "evil.example", "X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https",
               "Forwarded": "host=evil.example;proto=https"}
    api = ApiSurface(client_factory(headers=hostile))
    phone = phone_e164(7018)
    r = await _start(api, family_name="Сидоров", given_name="Пётр", phone=phone, email="petr@example.com")
    assert r.ok, r
    assert (await _confirm(api, r.data["flow_id"], await last_code(api.client, phone))).status == 200
    assert (await _password(api, r.data["flow_id"], PASSWORD)).ok
    link = next(m for m in await outbox(client_factory()) if m["kind"] == "email_link")
    assert "http://testserver/verify-email?token=" in link["text"] and "evil" not in link["text"]


async def test_a_crash_in_the_api_is_the_json_error_shape_without_a_trace(app):
    resp = await crash_answer(app, "/api/v1/boom-test", "secret internals at /srv/dostup/app.py line 42")
    assert resp.status_code == 500
    assert "secret internals" not in resp.text and "Traceback" not in resp.text and ".py" not in resp.text
    assert set(resp.json()["error"]) >= {"code", "message"}


async def test_recovery_fails_closed_when_redis_is_unreachable_and_sends_nothing(tmp_path):
    async with redis_unreachable(tmp_path) as services:
        made = await make_account(services, 7019)
        app = create_app(services=services, run_migrations=False)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as c:
            for s in (ApiSurface(c), UiSurface(c)):
                assert made.phone
                assert await asyncio.wait_for(_recover(s, made.phone), 10) == 503  # at once, never a hang
        async with services.db.read() as db:
            assert (await db.execute(select(func.count()).select_from(OutboxMessage))).scalar_one() == 0
            assert (await db.execute(select(func.count()).select_from(OneTimeCode))).scalar_one() == 0


# -- Second factors --------------------------------------------------------------------------------------------

async def test_the_totp_secret_and_the_recovery_codes_are_never_stored_readable(surface, services, clock):
    from tests.flows.test_totp import Totp, code_at

    made = await make_account(services, 7020)
    me = Totp(surface)
    assert made.phone and (await me.login(made.phone)).ok
    flow, secret = await me.enrol()

    async def stored() -> str:
        async with services.db.read() as s:
            rows = [*(await s.execute(select(Flow))).scalars(), *(await s.execute(select(Credential))).scalars()]
        return "\n".join(repr({c.key: getattr(r, c.key) for c in r.__table__.columns}) for r in rows)

    assert secret not in await stored()  # the enrolment waiting for its first code holds it sealed
    done = await me.confirm(flow, code_at(secret, clock.now()))
    assert done.ok and len(done.data["codes"]) == 10
    everything = await stored()
    assert secret not in everything and secret.lower() not in everything
    for code in done.data["codes"]:
        assert code not in everything and code.replace("-", "") not in everything


async def test_adding_an_authenticator_app_needs_a_sign_in_within_fifteen_minutes(surface, services, clock):
    from tests.flows.test_totp import Totp

    made = await make_account(services, 7024)
    me = Totp(surface)
    assert made.phone and (await me.login(made.phone)).ok
    clock.advance(minutes=16)
    if isinstance(surface, UiSurface):
        page = await surface.post_form("/settings/totp", {}, "/settings")
        assert page.status_code == 303 and page.headers["location"].startswith("/reauth"), page.status_code
    else:
        r = _api_result(await surface.client.post("/api/v1/settings/totp", headers=_bearer(surface.token)))
        assert (r.status, r.code) == (403, "reauth_required"), r
    async with services.db.read() as s:
        assert (await s.execute(select(func.count()).select_from(Flow).where(Flow.kind.like("%totp%")))).scalar_one() == 0
    assert (await surface.login(method="phone", phone=made.phone, password=PASSWORD)).ok
    clock.advance(minutes=14)
    flow, secret = await me.enrol()
    assert flow and secret


# -- OpenID Connect provider -----------------------------------------------------------------------------------

async def test_client_secrets_are_stored_only_as_a_hash(services, client):
    from tests.oidc.support import add_client

    rp = await add_client(services)
    rotated = await services.oidc.clients.rotate_secret(rp["client_id"])
    async with services.db.read() as s:
        row = (await s.execute(select(OidcClient).where(OidcClient.id == rp["client_id"]))).scalar_one()
    text = repr({c.key: getattr(row, c.key) for c in row.__table__.columns})
    for secret in (rp["client_secret"], rotated["client_secret"]):
        assert secret not in text
    assert row.secret_hash == sha256_hex(rotated["client_secret"])
    form = {"grant_type": "authorization_code", "code": "no-such-code", "redirect_uri": "https://rp.example/cb"}
    old = await client.post("/oauth2/token", data=form, auth=(rp["client_id"], rp["client_secret"]))
    assert old.status_code == 401 and old.json()["error"] == "invalid_client"
    new = await client.post("/oauth2/token", data=form, auth=(rp["client_id"], rotated["client_secret"]))
    assert new.status_code == 400 and new.json()["error"] == "invalid_grant"


def _utc(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


# -- Logging and personal data ---------------------------------------------------------------------------------

@pytest.mark.parametrize("settings_overrides", [{"DOSTUP_PRESET": "gosuslugi"}])
async def test_every_operator_page_that_shows_a_passport_or_snils_is_in_the_audit_trail(client_factory, services):
    """The queue, the card, and each of them shown again on a refused or repeated action: every answer
    that carries the passport or the SNILS wrote a row of the trail while it was made."""
    from tests.factories import sign_in
    from tests.flows.levels_support import PERSON, submit
    from tests.flows.test_operator_pages import _console, _post
    from tests.flows.test_operator_search import REASON, _audit

    customer = UiSurface(client_factory())
    made = await make_account(services, 7021, "c7021@example.ru")
    assert made.phone
    await sign_in(customer, made.phone)
    assert (await submit(customer, **PERSON)).ok
    console = await _console(client_factory, services, 7022)
    queue = "/operator/verifications"
    first = await _post(console, queue, {"reason": REASON})
    request = re.search(r'data-request="([^"]+)"', first.text)
    assert request
    steps = [(queue, {"reason": REASON}), (queue, {"reason": ""}),
             (f"{queue}/{request.group(1)}/reject", {"reason": ""}),
             (f"{queue}/{request.group(1)}/reject", {"reason": "я" * 301}),
             (f"/operator/accounts/{made.id}", {"reason": REASON}),
             (f"/operator/accounts/{made.id}/block", {"reason": ""}),
             (f"{queue}/{request.group(1)}/approve", {"reason": "Паспорт сверен"}),
             (f"{queue}/{request.group(1)}/approve", {"reason": "Паспорт сверен"}),
             (f"/operator/accounts/{made.id}", {"reason": REASON})]
    shown = 0
    for path, data in steps:
        before = len(await _audit(services))
        page = await _post(console, path, data)
        assert page.status_code in (200, 409, 422), (path, data, page.status_code)
        if PERSON["passport_number"] in page.text or PERSON["snils"] in page.text.replace("-", "").replace(" ", ""):
            shown += 1
            assert len(await _audit(services)) > before, (path, data, page.status_code)
    assert shown >= 1  # the queue shows it; the refusals show the form again without it


@pytest.mark.parametrize("settings_overrides", [{"DOSTUP_PRESET": "gosuslugi"}])
async def test_passport_and_snils_never_ride_in_a_url_or_reach_the_logs(surface, services, caplog):
    from tests.factories import sign_in
    from tests.flows.levels_support import PAGE, PERSON, submit

    caplog.set_level(logging.DEBUG, logger="dostup")
    caplog.set_level(logging.INFO)
    urls: list[str] = []

    async def seen(resp: httpx.Response) -> None:
        urls.append(str(resp.request.url))
        urls.append(resp.headers.get("location", ""))

    surface.client.event_hooks["response"].append(seen)
    made = await make_account(services, 7023, "c7023@example.ru")
    assert made.phone
    await sign_in(surface, made.phone)
    bad = await submit(surface, **{**PERSON, "passport_issued_on": "2999-01-01"})
    assert bad.status == 422
    assert (await submit(surface, **PERSON)).ok
    if isinstance(surface, UiSurface):
        assert PERSON["passport_number"] in (await surface.client.get(PAGE)).text  # the owner's own form shows it
    snils = PERSON["snils"]
    for value in (PERSON["passport_number"], PERSON["passport_series"] + PERSON["passport_number"], snils,
                  f"{snils[:3]}-{snils[3:6]}-{snils[6:9]} {snils[9:]}"):
        assert not [u for u in urls if value in u], value
        assert value not in caplog.text and value not in "\n".join(str(r.args) for r in caplog.records), value


# -- OpenID Connect client (social sign-in) --------------------------------------------------------------------

@pytest.fixture(scope="module")
def fake_bank() -> Any:
    from tests.social.fake_providers import Served

    served = Served("oidc")
    yield served
    served.close()


class TestIdTokenLifetime:
    """The provider's ID token is checked for ``exp`` (and ``iat``) as it is for ``iss``, ``aud``, ``nonce`` and
    its signature (tests/social/test_provider_kinds.py)."""

    @pytest.fixture
    def settings_overrides(self, fake_bank: Any) -> dict[str, str]:
        from tests.social.conftest import providers_env

        fake_bank.fake.fault = ""
        fake_bank.fake.requests.clear()
        return providers_env(fake_bank.fake.setting("bank", "Банк"))

    @pytest.mark.parametrize("age", [3600, 24 * 3600])
    async def test_an_expired_id_token_is_refused_and_writes_nothing(self, surface, services, fake_bank, monkeypatch,
                                                                     age):
        import time

        from joserfc import jwt

        from tests.flows.settings_support import shown
        from tests.social.support import Social

        fake = fake_bank.fake
        fake.user = {"sub": f"bank-exp-{surface.name}-{age}", "email": "exp@example.com", "email_verified": True}

        def expired(grant: Any) -> str:
            now = int(time.time()) - age
            claims = {"iss": fake.url, "sub": grant.user["sub"], "aud": fake.client_id, "iat": now - 300, "exp": now,
                      "nonce": grant.params.get("nonce")}
            return jwt.encode({"alg": "RS256", "kid": "fake-1"}, claims, fake.key)

        monkeypatch.setattr(fake, "_id_token", expired)
        r = await Social(surface).round_trip("bank")
        assert not r.ok and r.status == 401, r
        assert "ответ не прошёл проверку" in shown(r)
        async with services.db.read() as s:
            assert (await s.execute(select(func.count()).select_from(Account))).scalar_one() == 0
            assert (await s.execute(select(func.count()).select_from(Credential))).scalar_one() == 0
