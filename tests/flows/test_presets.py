"""Registration in the rostelecom and gosuslugi presets (SPEC §2): identifier → code → password."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from dostup.persistence.models import Account
from tests.flows.helpers import PASSWORD, phone_e164
from tests.support import Result, Surface, UiSurface, captcha_token, last_code, outbox

ROSTELECOM = {"DOSTUP_PRESET": "rostelecom"}
GOSUSLUGI = {"DOSTUP_PRESET": "gosuslugi"}


async def _start(s: Surface, **fields) -> Result:
    fields.setdefault("consent_personal_data", True)
    fields.setdefault("captcha", await captcha_token(s.client, "register"))
    return await s.register(**fields)


async def _confirm(s: Surface, flow_id: str, code: str) -> Result:
    if isinstance(s, UiSurface):
        return s._result(await s.post_form("/registration/code", {"flow": flow_id, "code": code}, "/registration"))
    return await s.confirm(flow_id, code)


async def _password(s: Surface, flow_id: str, password: str, repeat: str | None = None) -> Result:
    fields = {"flow": flow_id, "password": password, "password_repeat": repeat if repeat is not None else password}
    if isinstance(s, UiSurface):
        r = s._result(await s.post_form("/registration/password", fields, "/registration"))
        if r.status == 200 and "Регистрация прошла успешно" in r.data.get("html", ""):
            r.ok = True
        s.token = s.client.cookies.get("dostup_session")
        return r
    resp = await s.client.post(f"/api/v1/registration/{flow_id}/password",
                               json={"password": password, "password_repeat": fields["password_repeat"]})
    from tests.support import _api_result

    r = _api_result(resp)
    if r.ok:
        s.token = r.data["session"]["token"]
    return r


@pytest.mark.parametrize("settings_overrides", [ROSTELECOM])
async def test_rostelecom_by_mobile_code_then_password(surface, services):
    phone = phone_e164(900)
    r = await _start(surface, family_name="Иванов", given_name="Иван", middle_name="Иванович",
                     region="Москва", contact="8 912 000-09-00")
    assert r.ok, (r.status, r.field, r.message)
    flow = r.data["flow_id"]
    early = await _password(surface, flow, PASSWORD)  # a password before the code is a skipped step
    assert early.status == 409
    c = await _confirm(surface, flow, await last_code(surface.client, phone))
    assert c.ok or c.status == 303
    done = await _password(surface, flow, PASSWORD)
    assert done.ok, (done.status, done.message)
    assert (await surface.whoami()).ok
    async with services.db.read() as s:
        acc = (await s.execute(select(Account))).scalars().one()
    assert (acc.family_name, acc.given_name, acc.middle_name, acc.phone) == ("Иванов", "Иван", "Иванович", phone)


@pytest.mark.parametrize("settings_overrides", [ROSTELECOM])
async def test_rostelecom_by_email(surface, services):
    r = await _start(surface, family_name="Петрова", given_name="Анна", region="Республика Татарстан",
                     contact="Anna@Example.com")
    assert r.ok
    msgs = [m for m in await outbox(surface.client) if m["to"] == "anna@example.com"]
    assert msgs[0]["channel"] == "email"
    assert (await _confirm(surface, r.data["flow_id"], msgs[0]["code"])).status in (200, 303)
    assert (await _password(surface, r.data["flow_id"], PASSWORD)).ok


@pytest.mark.parametrize("settings_overrides", [ROSTELECOM])
async def test_rostelecom_bad_inputs_name_each_field(surface, services):
    r = await _start(surface, family_name="", given_name="<>", region="Атлантида", contact="+74951234567")
    assert r.status == 422
    fields = r.data.get("fields") if surface.name == "ui" else {f["field"]: f["message"] for f in r.data["error"]["fields"]}
    assert {"family_name", "given_name", "region", "contact"} <= set(fields)
    async with services.db.read() as s:
        assert not (await s.execute(select(Account))).scalars().all()


@pytest.mark.parametrize("settings_overrides", [GOSUSLUGI])
async def test_gosuslugi_simplified_account_and_email_link(surface, services):
    phone = phone_e164(901)
    r = await _start(surface, family_name="Сидоров", given_name="Пётр", phone=phone, email="petr@example.com")
    assert r.ok, (r.status, r.field, r.message)
    flow = r.data["flow_id"]
    if surface.name == "ui":
        page = await surface.client.get(f"/registration/code?flow={flow}")
        assert "Код действует до" in page.text and "Получить код повторно" in page.text
    assert (await _confirm(surface, flow, await last_code(surface.client, phone))).status in (200, 303)
    short = await _password(surface, flow, "Ab1-xyz")
    assert short.status == 422
    assert (await _password(surface, flow, PASSWORD)).ok
    link = [m for m in await outbox(surface.client) if m["kind"] == "email_link"][0]
    token = re.search(r"token=([A-Za-z0-9_-]+)", link["text"]).group(1)
    async with services.db.read() as s:
        assert (await s.execute(select(Account.email_verified_at))).scalar_one() is None
    if surface.name == "ui":
        page = await surface.client.get(f"/verify-email?token={token}")
        assert "Подтвердить почту" in page.text
        resp = await surface.post_form("/verify-email", {"token": token}, "/verify-email")
        assert resp.status_code == 200 and "подтверждён" in resp.text
    else:
        resp = await surface.client.post("/api/v1/verify-email", json={"token": token})
        assert resp.status_code == 204
    async with services.db.read() as s:
        assert (await s.execute(select(Account.email_verified_at))).scalar_one() is not None
    again = await surface.client.post("/api/v1/verify-email", json={"token": token})
    assert again.status_code == 404


@pytest.mark.parametrize("settings_overrides", [GOSUSLUGI])
async def test_gosuslugi_needs_a_mobile_and_an_email(surface, services):
    r = await _start(surface, family_name="Сидоров", given_name="Пётр", phone="+74951234567", email="")
    assert r.status == 422


SBER = {"DOSTUP_PRESET": "sber"}
CARD = "4276380012345679"


@pytest.mark.parametrize("settings_overrides", [SBER])
async def test_sber_registration_by_card_code_to_phone_on_file_then_sign_in_by_card(surface, surface_factory, services):
    from tests.flows.contracts_support import seed

    owner = phone_e164(950)
    await seed(services, {"number": CARD, "kind": "card", "phone": owner, "secret": ""})
    r = await _start(surface, card="4276 3800 1234 5679")
    assert r.ok, (r.status, r.field, r.message)
    code = await last_code(surface.client, owner)
    assert (await _confirm(surface, r.data["flow_id"], code)).status in (200, 303)
    assert (await _password(surface, r.data["flow_id"], PASSWORD)).ok
    other = surface_factory()
    signed = await other.login(method="card", card="4276 3800 1234 5679", password=PASSWORD)
    assert signed.ok, (signed.status, signed.message)
    for m in await outbox(surface.client):
        assert CARD not in m["text"]


@pytest.mark.parametrize("settings_overrides", [SBER])
async def test_sber_unknown_card_looks_the_same_and_can_never_complete(surface, services):
    r = await _start(surface, card=CARD)
    assert r.ok
    assert not [m for m in await outbox(surface.client) if m["kind"] == "registration_code"]
    assert (await _confirm(surface, r.data["flow_id"], "123456")).status == 422
    bad = await _start(surface, card="4276 3800 1234 5678")
    assert bad.status == 422 and bad.field == "card"


@pytest.mark.parametrize("settings_overrides", [SBER])
async def test_sber_unknown_card_waits_out_the_same_resend_cooldown_as_a_known_one(surface, surface_factory, services):
    """The code step of an unknown card counts the sending limits too, so a cool-down tells nothing."""
    from tests.flows.contracts_support import seed

    await seed(services, {"number": CARD, "kind": "card", "phone": phone_e164(951), "secret": ""})
    answers = []
    for card in (CARD, "4276 3800 0000 0005"):
        s = surface_factory()
        r = await _start(s, card=card)
        assert r.ok, (r.status, r.field, r.message)
        answers.append((await s.resend(r.data["flow_id"])).status)
    assert answers == [429, 429]
