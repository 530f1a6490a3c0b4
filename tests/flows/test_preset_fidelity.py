"""Each preset as its customers know it (issue 9 §1), through both surfaces and on both backends.

gosuslugi: the simplified account is complete only once the email is confirmed, the cabinet says so,
and a SNILS entered in «Мои данные» makes «По СНИЛС» work.  sber: an unknown card gets true words
(enumeration-safe) or a plain error (explicit mode), cards are «Карты».  rostelecom: «Отключить
учетную запись…» at the end of «Профиль пользователя», the signed-in header after «Регистрация».
"""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from dostup.identity.documents import snils_checksum
from dostup.persistence.models import Account
from tests.factories import make_account, sign_in
from tests.flows.helpers import PASSWORD, phone_e164
from tests.flows.settings_support import SettingsClient, events, shown
from tests.flows.test_presets import CARD, _confirm, _password, _start
from tests.support import Result, UiSurface, last_code, outbox

GOSUSLUGI = {"DOSTUP_PRESET": "gosuslugi"}
SBER = {"DOSTUP_PRESET": "sber"}
SBER_EXPLICIT = {"DOSTUP_PRESET": "sber", "DOSTUP_ENUMERATION_SAFE": "false"}
ROSTELECOM = {"DOSTUP_PRESET": "rostelecom"}


def _snils(first9: str) -> str:
    return first9 + snils_checksum(first9)


async def _status(surface, services) -> dict:
    if isinstance(surface, UiSurface):
        html = (await surface.client.get("/cabinet")).text
        return {"html": html}
    resp = await surface.client.get("/api/v1/account/status", headers={"Authorization": f"Bearer {surface.token}"})
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


# -- gosuslugi: the letter, the status, the SNILS -------------------------------------------------

@pytest.mark.parametrize("settings_overrides", [GOSUSLUGI])
async def test_gosuslugi_account_is_complete_only_once_the_email_is_confirmed(surface, services):
    phone = phone_e164(910)
    r = await _start(surface, family_name="Сидорова", given_name="Анна", phone=phone, email="anna@example.org")
    assert r.ok, (r.status, r.message)
    flow = r.data["flow_id"]
    assert (await _confirm(surface, flow, await last_code(surface.client, phone))).status in (200, 303)
    assert (await _password(surface, flow, PASSWORD)).ok

    before = await _status(surface, services)
    if surface.name == "ui":
        html = before["html"]
        assert "Упрощённая учётная запись" in html and "регистрация не завершена" in html
        assert "Мы отправили письмо на anna@example.org" in html
        assert "Откройте почтовый ящик и перейдите по ссылке" in html
    else:
        assert before == {"level": "simplified", "complete": False, "pending": ["email_confirmation"],
                          "email": "anna@example.org", "next_level": "standard", "level_number": 1,
                          "verification": None, "levels_on": True}

    link = next(m for m in await outbox(surface.client) if m["kind"] == "email_link")
    token = re.search(r"token=([A-Za-z0-9_-]+)", link["text"]).group(1)
    assert (await surface.client.post("/api/v1/verify-email", json={"token": token})).status_code == 204

    after = await _status(surface, services)
    if surface.name == "ui":
        html = after["html"]
        assert "Упрощённая учётная запись" in html and "не завершена" not in html
        assert "Откройте почтовый ящик" not in html
        assert "Стандартная учётная запись" in html and "запись к врачу" in html
        assert 'href="/settings/identity">Заполнить профиль</a>' in html
    else:
        assert after == {"level": "simplified", "complete": True, "pending": [], "email": None,
                         "next_level": "standard", "level_number": 1, "verification": None, "levels_on": True}


@pytest.mark.parametrize("settings_overrides", [GOSUSLUGI])
async def test_gosuslugi_snils_in_my_data_then_sign_in_by_snils(surface, surface_factory, services):
    made = await make_account(services, 911)
    await sign_in(surface, made.phone)
    settings = SettingsClient(surface)
    snils = _snils("112233445")

    async def put(value: str | None) -> Result:
        if settings.ui:
            return await settings.form("/settings/snils", {"snils": value})
        return await settings.api("PUT", "/snils", {"snils": value})

    refused = {
        "": "Введите СНИЛС",
        "112-233-445 ab": "СНИЛС состоит только из цифр",
        "112-233-445": "СНИЛС состоит из 11 цифр",
        "112-233-445 " + ("00" if snils[-2:] != "00" else "01"): "не сходится контрольное число",
    }
    for value, words in refused.items():
        r = await put(value)
        assert r.status == 422 and r.field == "snils", (value, r)
        assert words in shown(r), (value, shown(r))
    async with services.db.read() as s:
        assert (await s.execute(select(Account.snils).where(Account.id == made.id))).scalar_one() is None

    formatted = f"{snils[:3]}-{snils[3:6]}-{snils[6:9]} {snils[9:]}"
    r = await put(formatted)
    assert r.ok, (r.status, shown(r))
    if settings.ui:
        page = (await surface.client.get("/settings?snils_saved=1")).text
        assert "СНИЛС сохранён." in page and formatted in page
    else:
        assert r.data["snils"] == snils
    assert len(await events(services, made.id, "snils_changed")) == 1

    other = surface_factory()
    signed = await other.login(method="snils", snils=formatted, password=PASSWORD)
    assert signed.ok, (signed.status, signed.message)
    wrong = await surface_factory().login(method="snils", snils=formatted, password="Wrong-Password-1")
    assert wrong.status == 401 and "СНИЛС" in wrong.message

    # Another account cannot take the same SNILS.
    second = await make_account(services, 912)
    taken_surface = surface_factory()
    await sign_in(taken_surface, second.phone)
    taken = SettingsClient(taken_surface)
    r = await (taken.form("/settings/snils", {"snils": snils}) if taken.ui else taken.api("PUT", "/snils", {"snils": snils}))
    assert r.status == 409 and r.field == "snils" and "уже указан в другой учётной записи" in shown(r)
    async with services.db.read() as s:
        assert (await s.execute(select(Account.snils).where(Account.id == second.id))).scalar_one() is None


# -- sber ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("settings_overrides", [SBER])
async def test_sber_unknown_card_gets_words_that_are_true_for_both(surface, services):
    r = await _start(surface, card=CARD)
    assert r.ok
    if surface.name == "ui":
        page = (await surface.client.get(f"/registration/code?flow={r.data['flow_id']}")).text
        assert "Если карта зарегистрирована в банке, код придёт на номер телефона, указанный в договоре." in page
        assert "Код отправлен" not in page
        assert "<h1>Введите код из СМС</h1>" in page and "Не пришёл СМС-код?" in page
    else:
        assert r.data["destination"] == ""


@pytest.mark.parametrize("settings_overrides", [SBER_EXPLICIT])
async def test_sber_explicit_mode_says_the_card_is_unknown(surface, services):
    from tests.flows.contracts_support import seed

    r = await _start(surface, card=CARD)
    assert r.status == 422 and r.field == "card"
    assert "Карты с таким номером нет в базе банка" in shown(r)
    async with services.db.read() as s:
        assert not (await s.execute(select(Account))).scalars().all()
    assert not [m for m in await outbox(surface.client) if m["kind"] == "registration_code"]

    await seed(services, {"number": CARD, "kind": "card", "phone": phone_e164(952), "secret": ""})
    known = await _start(surface, card=CARD)
    assert known.ok, (known.status, known.message)
    if surface.name == "ui":
        page = (await surface.client.get(f"/registration/code?flow={known.data['flow_id']}")).text
        assert "Код отправлен SMS на номер телефона, указанный в договоре." in page


@pytest.mark.parametrize("settings_overrides", [SBER])
async def test_sber_calls_them_cards(client, services):
    await make_account(services, 913, login="card-owner")
    signed = await UiSurface(client).login(method="login", login="card-owner", password=PASSWORD)
    assert signed.ok, (signed.status, signed.message)
    cabinet = (await client.get("/cabinet")).text
    assert '<a href="/contracts">Карты</a>' in cabinet and "Лицевые счета" not in cabinet
    listing = (await client.get("/contracts")).text
    assert "<h1>Карты</h1>" in listing and "Привязать карту" in listing and "лицевой" not in listing.lower()
    form = (await client.get("/contracts/link")).text
    assert "<h1>Привязать карту</h1>" in form and '<option value="card" selected>' in form


# -- rostelecom -----------------------------------------------------------------------------------

@pytest.mark.parametrize("settings_overrides", [ROSTELECOM])
async def test_rostelecom_registration_ends_signed_in_and_the_profile_offers_deletion(client, services):
    ui = UiSurface(client)
    phone = phone_e164(914)
    r = await _start(ui, family_name="Иванов", given_name="Иван", region="Москва", contact=phone)
    assert r.ok
    await _confirm(ui, r.data["flow_id"], await last_code(client, phone))
    done = await ui.post_form("/registration/password", {"flow": r.data["flow_id"], "password": PASSWORD,
                                                         "password_repeat": PASSWORD}, "/registration")
    assert done.status_code == 200 and "Регистрация прошла успешно" in done.text
    header = done.text.split("<main>")[0]
    assert '<a class="who" href="/settings">Иван Иванов</a>' in header
    assert 'action="/logout"' in header and 'href="/registration"' not in header

    profile = (await client.get("/settings")).text
    assert "<h1>Профиль пользователя</h1>" in profile
    end = profile.split("</main>")[0].split("</form>")[-1]  # after the last form of the page
    assert 'href="/settings/delete">Отключить учетную запись Единого личного кабинета от Ростелеком ID</a>' in end
    delete = await client.get("/settings/delete", follow_redirects=True)
    assert delete.status_code == 200
    assert "Отключить учетную запись Единого личного кабинета от Ростелеком ID" in delete.text
    assert 'name="confirm"' in delete.text or "Подтвердите пароль" in delete.text
