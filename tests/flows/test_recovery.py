"""Access recovery (SPEC §4.3; SECURITY.md: one-time codes, temporary password)."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from dostup.credentials.codes import DECOY_HASH
from dostup.persistence.models import OneTimeCode, OutboxMessage
from tests.factories import make_account as _user
from tests.flows.helpers import PASSWORD, phone_e164
from tests.support import ApiSurface, Surface, UiSurface, captcha_token, last_code, outbox

NEW_PASSWORD = "Granite-Violin-77"


async def _request(s: Surface, **fields) -> tuple[int, str, dict]:
    fields.setdefault("captcha", await captcha_token(s.client, "recover"))
    if isinstance(s, UiSurface):
        resp = await s.post_form("/recovery", {"country": "RU", **fields}, "/recovery")
        return resp.status_code, resp.text, {}
    resp = await s.client.post("/api/v1/recovery", json=fields)
    return resp.status_code, resp.text, resp.json()


async def test_whole_recovery_forced_change_and_old_password_refused(surface, surface_factory, services):
    phone = "+79123451823"
    await _user(services, phone)
    elsewhere = surface_factory()  # a session opened before recovery must end after the change
    assert (await elsewhere.login(method="phone", phone=phone, password=PASSWORD)).ok

    status, text, body = await _request(surface, phone=phone)
    assert status == 200
    if surface.name == "ui":
        assert "Пароль успешно сброшен" in text
        assert "Новый пароль для вашего аккаунта отправлен вам SMS по номеру +7 *** ***-18-23" in text
        assert "Изменить номер" in text and "Войти с новым паролем" in text
    else:
        assert body["channel"] == "sms" and body["destination"] == "+7 *** ***-18-23" and body["valid_minutes"] == 10
    temp = await last_code(surface.client, phone, "recovery_password")
    sms = [m for m in await outbox(surface.client) if m["kind"] == "recovery_password"][0]
    assert f"/{temp}" in sms["text"]

    # The current password still works until the temporary one is used.
    assert (await surface_factory().login(method="phone", phone=phone, password=PASSWORD)).ok

    r = await surface.login(method="phone", phone=phone, password=temp)
    assert r.ok
    if surface.name == "api":
        assert (await surface.whoami()).status == 403
    else:
        page = await surface.client.get("/cabinet")
        assert page.status_code == 303 and page.headers["location"] == "/settings/password"
        form = await surface.client.get("/settings/password")
        assert "Старый пароль" in form.text and "Новый пароль" in form.text and "Повторите новый пароль" in form.text
        assert "Сохранить" in form.text

    # Single use: the same temporary password does not sign in again.
    assert (await surface_factory().login(method="phone", phone=phone, password=temp)).status == 401

    changed = await _change(surface, temp, NEW_PASSWORD)
    assert changed
    assert (await surface.whoami()).ok  # rotated, no longer limited
    assert (await elsewhere.whoami()).status == 401  # other sessions ended
    assert (await surface_factory().login(method="phone", phone=phone, password=PASSWORD)).status == 401
    assert (await surface_factory().login(method="phone", phone=phone, password=NEW_PASSWORD)).ok
    kinds = [m["kind"] for m in await outbox(surface.client) if m["to"] == phone]
    assert "password_changed" in kinds


async def _change(s: Surface, old: str, new: str) -> bool:
    fields = {"old_password": old, "new_password": new, "new_password_repeat": new}
    if isinstance(s, UiSurface):
        resp = await s.post_form("/settings/password", fields, "/settings/password")
        if resp.status_code == 303:
            s.token = s.client.cookies.get("dostup_session")
            return True
        return False
    headers = {"Authorization": f"Bearer {s.token}"}
    resp = await s.client.post("/api/v1/settings/password", json=fields, headers=headers)
    if resp.status_code == 200:
        s.token = resp.json()["token"]
        return True
    return False


async def test_limited_session_cannot_reach_anything_else(client_factory, services):
    phone = phone_e164(90)
    await _user(services, phone)
    api = ApiSurface(client_factory())
    await _request(api, phone=phone)
    temp = await last_code(api.client, phone, "recovery_password")
    signed = await api.login(method="phone", phone=phone, password=temp)
    # The API says what the session is: limited to the password change, one factor (issue 8 §4).
    assert signed.ok and signed.data["session"]["state"] == "password_change"
    assert signed.data["session"]["aal"] == 1
    headers = {"Authorization": f"Bearer {api.token}"}
    assert (await api.client.get("/api/v1/whoami", headers=headers)).json()["error"]["code"] == "password_change_required"
    assert (await api.client.post("/api/v1/reauth", json={"password": temp}, headers=headers)).status_code == 403
    wrong_old = await api.client.post("/api/v1/settings/password", headers=headers, json={
        "old_password": "000000" if temp != "000000" else "111111", "new_password": NEW_PASSWORD,
        "new_password_repeat": NEW_PASSWORD})
    assert wrong_old.status_code == 422 and wrong_old.json()["error"]["field"] == "old_password"


async def test_unknown_number_gets_the_seed_message(surface, services):
    status, text, body = await _request(surface, phone=phone_e164(91))
    assert status == 422
    seed = "Профиль с таким номером нет в базе. Пожалуйста проверьте правильность введенного номера или напишите в службу поддержки"
    assert seed in (text if surface.name == "ui" else body["error"]["message"])


@pytest.mark.parametrize("settings_overrides", [{"DOSTUP_ENUMERATION_SAFE": "true"}])
async def test_enumeration_safe_mode_answers_alike_for_known_and_unknown(client_factory, services):
    known = phone_e164(92)
    await _user(services, known)
    api = ApiSurface(client_factory())
    s1, _, b1 = await _request(api, phone=known)
    s2, _, b2 = await _request(api, phone=phone_e164(93))
    assert s1 == s2 == 200 and b1 == b2
    assert await last_code(api.client, known, "recovery_password")
    # The unknown number got nothing: its decoy code is stored (the same work) but matches no code
    # and belongs to no account, and no message was queued for it.
    async with services.db.read() as s:
        assert not (await s.execute(select(OutboxMessage).where(OutboxMessage.to == phone_e164(93)))).scalars().all()
        decoy = (await s.execute(select(OneTimeCode).where(OneTimeCode.destination == phone_e164(93)))).scalar_one()
    assert decoy.account_id is None and decoy.code_hash == DECOY_HASH and decoy.flow_id


async def test_landline_account_gets_the_temporary_password_by_email(surface, services):
    await _user(services, "+74951234567", "owner@example.com", verify_phone=False)
    status, text, body = await _request(surface, phone="+7 495 123-45-67")
    assert status == 200
    msgs = [m for m in await outbox(surface.client) if m["kind"] == "recovery_password"]
    assert msgs[0]["channel"] == "email" and msgs[0]["to"] == "owner@example.com"
    if surface.name == "api":
        assert body["channel"] == "email" and body["valid_minutes"] == 60


async def test_no_usable_channel_points_to_support(surface, services):
    await _user(services, "+74951234568", verify_phone=False)
    status, text, body = await _request(surface, phone="+74951234568")
    assert status == 422
    message = text if surface.name == "ui" else body["error"]["message"]
    assert "8 800 234-59-60" in message


async def test_temporary_password_expires_after_ten_minutes(client_factory, services, clock):
    phone = phone_e164(94)
    await _user(services, phone)
    api = ApiSurface(client_factory())
    await _request(api, phone=phone)
    temp = await last_code(api.client, phone, "recovery_password")
    clock.advance(minutes=10, seconds=1)
    assert (await api.login(method="phone", phone=phone, password=temp)).status == 401


@pytest.mark.parametrize("settings_overrides", [{"DOSTUP_LIMITS__SIGNIN_PER_IP_PER_MINUTE": "100"}])
async def test_five_wrong_tries_kill_the_temporary_password(client_factory, services):
    phone = phone_e164(95)
    await _user(services, phone)
    api = ApiSurface(client_factory())
    await _request(api, phone=phone)
    temp = await last_code(api.client, phone, "recovery_password")
    wrong = f"{(int(temp) + 1) % 1_000_000:06d}"
    for _ in range(5):
        assert (await api.login(method="phone", phone=phone, password=wrong,
                                captcha=await captcha_token(api.client, "login"))).status == 401
    r = await api.login(method="phone", phone=phone, password=temp, captcha=await captcha_token(api.client, "login"))
    assert r.status == 401


async def test_a_new_request_invalidates_the_previous_temporary_password(client_factory, services, clock, backend):
    phone = phone_e164(96)
    await _user(services, phone)
    api = ApiSurface(client_factory())
    await _request(api, phone=phone)
    first = await last_code(api.client, phone, "recovery_password")
    clock.advance(seconds=61)
    if "DOSTUP_REDIS_URL" in backend:
        await services.store.delete(f"send-cooldown:sms:{phone}")
    status, _, _ = await _request(api, phone=phone)
    assert status == 200
    second = await last_code(api.client, phone, "recovery_password")
    if first != second:
        assert (await api.login(method="phone", phone=phone, password=first)).status == 401
    assert (await api.login(method="phone", phone=phone, password=second)).ok


async def test_two_parallel_uses_of_one_temporary_password_exactly_one_wins(client_factory, services):
    phone = phone_e164(97)
    await _user(services, phone)
    api = ApiSurface(client_factory())
    await _request(api, phone=phone)
    temp = await last_code(api.client, phone, "recovery_password")
    results = await asyncio.gather(*(ApiSurface(client_factory()).login(method="phone", phone=phone, password=temp)
                                     for _ in range(2)))
    assert sorted(r.status for r in results) == [200, 401]


@pytest.mark.parametrize("settings_overrides", [{"DOSTUP_LIMITS__SIGNIN_PER_IP_PER_MINUTE": "100"}])
async def test_recovery_works_while_the_account_is_locked(client_factory, services):
    phone = phone_e164(98)
    await _user(services, phone)
    await services.store.put(f"signin-fail:phone:{phone}", 12, 3600)
    await services.store.put(f"signin-lock:phone:{phone}", 1, 600)
    api = ApiSurface(client_factory())
    cap = await captcha_token(api.client, "login")
    assert (await api.login(method="phone", phone=phone, password=PASSWORD, captcha=cap)).status == 401
    await _request(api, phone=phone)
    temp = await last_code(api.client, phone, "recovery_password")
    r = await api.login(method="phone", phone=phone, password=temp, captcha=await captcha_token(api.client, "login"))
    assert r.ok


async def test_recovery_needs_a_captcha(surface, services):
    phone = phone_e164(99)
    await _user(services, phone)
    status, text, body = await _request(surface, phone=phone, captcha="")
    assert status == 422
    async with services.db.read() as s:
        assert not (await s.execute(select(OutboxMessage))).scalars().all()


@pytest.mark.parametrize("settings_overrides", [{"DOSTUP_PRESET": "rostelecom"}])
async def test_recovery_by_email_where_the_preset_allows_it(surface, services):
    await _user(services, None, "anna@example.com")
    status, text, body = await _request(surface, email="Anna@Example.com")
    assert status == 200
    msg = [m for m in await outbox(surface.client) if m["kind"] == "recovery_password"][0]
    assert msg["channel"] == "email" and msg["to"] == "anna@example.com"
    if surface.name == "api":
        assert body["channel"] == "email" and body["valid_minutes"] == 60
    bad = await _request(surface, email="anna@example")
    assert bad[0] == 422


async def test_kit_recovers_by_phone_only(client_factory, services):
    api = ApiSurface(client_factory())
    status, _, body = await _request(api, email="someone@example.com")
    assert status == 422 and body["error"]["field"] == "phone"


@pytest.mark.slow
@pytest.mark.parametrize("settings_overrides", [{
    "DOSTUP_ENUMERATION_SAFE": "true", "DOSTUP_CODES__RESEND_COOLDOWN_SECONDS": "0",
    "DOSTUP_CODES__PER_DESTINATION_PER_HOUR": "100000", "DOSTUP_CODES__PER_DESTINATION_PER_DAY": "100000",
    "DOSTUP_CODES__PER_IP_PER_HOUR": "100000", "DOSTUP_LIMITS__RECOVERY_PER_IP_PER_HOUR": "100000",
    "DOSTUP_CAPTCHA__PROVIDER": "none",
}])
async def test_enumeration_safe_recovery_takes_the_same_time_for_known_and_unknown(client_factory, services, backend):
    import statistics
    import time

    if "DOSTUP_REDIS_URL" in backend:
        pytest.skip("timing is measured once, on the embedded backend")
    known, unknown = phone_e164(110), phone_e164(111)
    await _user(services, known)
    api = ApiSurface(client_factory())
    times: dict[str, list[float]] = {"known": [], "unknown": []}
    bodies = set()
    for i in range(61):
        for name in (("known", "unknown") if i % 2 else ("unknown", "known")):
            start = time.perf_counter()
            resp = await api.client.post("/api/v1/recovery", json={"phone": known if name == "known" else unknown,
                                                                   "captcha": "off"})
            times[name].append(time.perf_counter() - start)
            assert resp.status_code == 200
            bodies.add(resp.text)
    assert len(bodies) == 1
    k, u = statistics.median(times["known"][5:]), statistics.median(times["unknown"][5:])
    assert abs(k - u) / k < 0.25, (k, u)


@pytest.mark.parametrize("phone", ["", "12ab", "+79120000001,+79120000002", "+7912000\r\n0001", "9" * 40, "+7 000"])
async def test_bad_phones_on_recovery_are_refused_and_send_nothing(surface, services, phone):
    status, text, body = await _request(surface, phone=phone)
    assert status == 422
    message = text if surface.name == "ui" else body["error"]["message"]
    assert "номер" in message.lower()
    if surface.name == "api":
        assert body["error"]["field"] == "phone"
    async with services.db.read() as s:
        assert not (await s.execute(select(OutboxMessage))).scalars().all()


async def test_recovery_is_a_persisted_flow_from_sent_to_done(client_factory, services):
    """Issue 8 §1: recovery is a flow — sent, signed in with the temporary password, done."""
    from sqlalchemy import select

    from dostup.persistence.models import Flow

    phone = phone_e164(95)
    await _user(services, phone)
    api = ApiSurface(client_factory())
    await _request(api, phone=phone)

    async def states() -> list[str]:
        async with services.db.read() as s:
            return list((await s.execute(select(Flow.state).where(Flow.kind == "recovery"))).scalars())

    assert await states() == ["sent"]
    temp = await last_code(api.client, phone, "recovery_password")
    assert (await api.login(method="phone", phone=phone, password=temp)).ok
    assert await states() == ["signed_in"]
    assert await _change(api, old=temp, new=NEW_PASSWORD)
    assert await states() == ["done"]
