"""«Код для входа» (issue 10 §4; the Sberbank seed): five digits on one bound device.

The passcode alone signs in nowhere; each try is counted on the binding and the fifth wrong one
revokes it; a passcode session is aal1; password change and «выйти на всех устройствах» revoke
every binding.  Both backends; the JSON API, and one walk over the pages.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest

from tests.flows.helpers import PASSWORD
from tests.flows.settings_support import make_user
from tests.support import ApiSurface, UiSurface

ON = {"DOSTUP_PASSCODE": "true"}
NEW = "Совсем-новый-пароль-42"


class Device:
    def __init__(self, api: ApiSurface) -> None:
        self.api = api
        self.credential: dict[str, str] = {}

    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api.token}"}

    async def bind(self, passcode: str = "12345", repeat: str | None = None) -> Any:
        r = await self.api.client.post("/api/v1/settings/passcode", headers=self.auth(),
                                       json={"passcode": passcode, "passcode_repeat": repeat or passcode})
        if r.status_code == 200:
            self.credential = r.json()
        return r

    async def login(self, passcode: str, secret: str | None = None) -> Any:
        body = {"device_id": self.credential["device_id"],
                "device_secret": secret or self.credential["device_secret"], "passcode": passcode}
        return await self.api.client.post("/api/v1/login/passcode", json=body)


async def _bound(client_factory: Any, services: Any, n: int) -> tuple[Device, str]:
    phone = await make_user(services, n)
    api = ApiSurface(client_factory())
    assert (await api.login(method="phone", phone=phone, password=PASSWORD)).ok
    device = Device(api)
    assert (await device.bind()).status_code == 200
    return device, phone


@pytest.mark.parametrize("settings_overrides", [ON])
async def test_the_device_and_its_passcode_sign_in_at_aal1(client_factory, services, settings_overrides):
    device, _ = await _bound(client_factory, services, 600)
    r = await device.login("12345")
    assert r.status_code == 200, r.text
    session = r.json()["session"]
    assert session["aal"] == 1 and session["amr"] == ["pin"]
    who = await device.api.client.get("/api/v1/whoami", headers={"Authorization": f"Bearer {session['token']}"})
    assert who.status_code == 200


@pytest.mark.parametrize("settings_overrides", [ON])
async def test_the_passcode_alone_signs_in_nowhere(client_factory, services, settings_overrides):
    device, _ = await _bound(client_factory, services, 601)
    r = await device.login("12345", secret="x" * 43)
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_credentials"


@pytest.mark.parametrize("settings_overrides", [ON])
async def test_five_wrong_passcodes_revoke_the_binding(client_factory, services, settings_overrides):
    device, _ = await _bound(client_factory, services, 602)
    codes = [(await device.login(f"0000{i}")).json()["error"]["code"] for i in range(5)]
    assert codes == ["invalid_credentials"] * 4 + ["passcode_revoked"]
    r = await device.login("12345")
    assert r.status_code == 401


@pytest.mark.parametrize("settings_overrides", [ON])
async def test_ten_parallel_guesses_are_all_counted(client_factory, services, settings_overrides):
    device, _ = await _bound(client_factory, services, 603)
    guessers = []
    for i in range(10):  # from ten addresses, so the per-IP sign-in limit is not what stops them
        guesser = Device(ApiSurface(client_factory(f"192.0.2.{i + 1}")))
        guesser.credential = device.credential
        guessers.append(guesser)
    results = await asyncio.gather(*(g.login(f"1111{i}") for i, g in enumerate(guessers)))
    assert all(r.status_code == 401 for r in results)
    assert (await device.login("12345")).status_code == 401  # revoked: the right one no longer works


@pytest.mark.parametrize("settings_overrides", [ON])
async def test_a_password_change_and_signing_out_everywhere_revoke_the_bindings(client_factory, services,
                                                                              settings_overrides):
    device, _ = await _bound(client_factory, services, 604)
    changed = await device.api.client.post("/api/v1/settings/password", headers=device.auth(), json={
        "old_password": PASSWORD, "new_password": NEW, "new_password_repeat": NEW})
    assert changed.status_code == 200
    assert (await device.login("12345")).status_code == 401
    device.api.token = changed.json()["token"]
    assert (await device.bind("54321")).status_code == 200
    assert (await device.api.client.post("/api/v1/sessions/end-others", headers=device.auth())).status_code == 200
    assert (await device.login("54321")).status_code == 401


@pytest.mark.parametrize("settings_overrides", [ON])
async def test_a_passcode_session_cannot_bind_another_device_and_bad_codes_are_refused(
        client_factory, services, settings_overrides):
    device, _ = await _bound(client_factory, services, 605)
    for bad, repeat in (("1234", None), ("123456", None), ("12a45", None), ("１２３４５", None), ("12345", "12346")):
        r = await device.bind(bad, repeat)
        assert r.status_code == 422, (bad, r.text)
    session = (await device.login("12345")).json()["session"]
    device.api.token = session["token"]
    assert (await device.bind("22222")).status_code == 403
    assert (await device.login("1234")).status_code == 422


async def test_the_passcode_is_off_in_kit_by_default(client_factory, services):
    phone = await make_user(services, 606)
    api = ApiSurface(client_factory())
    assert (await api.login(method="phone", phone=phone, password=PASSWORD)).ok
    r = await Device(api).bind()
    assert r.status_code == 404


@pytest.mark.parametrize("settings_overrides", [ON])
async def test_on_the_pages_the_browser_keeps_the_device_and_signs_in_with_five_digits(
        client_factory, services, settings_overrides):
    phone = await make_user(services, 607)
    ui = UiSurface(client_factory())
    assert (await ui.login(method="phone", phone=phone, password=PASSWORD)).ok
    page = await ui.client.get("/settings/passcode")
    assert page.status_code == 200 and "Код для входа" in page.text
    r = await ui.post_form("/settings/passcode", {"passcode": "13579", "passcode_repeat": "13579"},
                           "/settings/passcode")
    assert r.status_code == 303 and ui.client.cookies.get("dostup_device")
    assert "установлен" in (await ui.client.get("/settings/passcode?saved=1")).text
    await ui.logout()
    login = await ui.client.get("/login")
    assert 'href="/login/passcode"' in login.text
    wrong = await ui.post_form("/login/passcode", {"passcode": "00000"}, "/login/passcode")
    assert wrong.status_code == 401 and re.search("Неверный код для входа", wrong.text)
    done = await ui.post_form("/login/passcode", {"passcode": "13579"}, "/login/passcode")
    assert done.status_code == 303 and done.headers["location"] == "/cabinet"


@pytest.mark.parametrize("settings_overrides", [ON])
async def test_the_security_page_lists_the_bound_devices_and_a_passcode_session(client_factory, services,
                                                                               settings_overrides):
    device, phone = await _bound(client_factory, services, 609)
    ui = UiSurface(client_factory())
    assert (await ui.login(method="phone", phone=phone, password=PASSWORD)).ok
    page = await ui.client.get("/security")
    assert "Устройства с кодом для входа" in page.text and page.text.count('class="device"') == 1
    assert 'href="/settings/passcode"' in page.text
    assert (await device.login("12345")).status_code == 200
    items = (await device.api.client.get("/api/v1/sessions", headers=device.auth())).json()["items"]
    assert ["pin"] in [i["amr"] for i in items]
    assert "Вход: код для входа" in (await ui.client.get("/security")).text
