"""«Вход по отпечатку» in headless Chromium with its virtual authenticator, in the kit and sber presets.

Chromium's DevTools protocol gives the page a platform authenticator (``WebAuthn.enable``,
``WebAuthn.addVirtualAuthenticator``: CTAP2, internal transport, resident keys, user verification
that always succeeds), so the real ``navigator.credentials`` calls of ``static/passkeys.js`` run.
The server's public URL is ``http://localhost:PORT``: WebAuthn needs a domain, never an IP address.

The walk: sign in with the password → settings → «Вход по отпечатку» → «Добавить ключ входа» →
sign out → «Войти по отпечатку» → the cabinet, where the session is ``aal2`` with ``hwk``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser import a11y
from tests.browser.conftest import Problems, Server, _free_port, run_cli, server_env, serving, watch
from tests.browser.test_walk import _assert_page_was_quiet, _shots_dir

pytestmark = pytest.mark.browser

PASSWORD = "Maple-Compass-3148"
PRESETS = {
    # kit: a confirmed company completes registration; this account is an operator-made one, so the
    # company step is switched off to land in the cabinet itself.
    "kit": ({"DOSTUP_PRESET": "kit", "DOSTUP_REQUIRE_COMPANY": "false"}, "phone", "+79165550101"),
    "sber": ({"DOSTUP_PRESET": "sber"}, "login", "fingerprint.user"),
}


@pytest.fixture(scope="module", params=sorted(PRESETS))
def preset_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
                  width: int) -> Iterator[tuple[str, Server]]:
    name = request.param
    extra, kind, identifier = PRESETS[name]
    workdir = tmp_path_factory.mktemp(f"serve-passkeys-{name}")
    port = _free_port()
    env = server_env(workdir, f"http://localhost:{port}", extra)
    made = run_cli(workdir, env, "admin", "create-user", f"--{kind}", identifier, "--password", PASSWORD,
                   *(["--phone", "+79165550102"] if kind == "login" else []))
    assert made.returncode == 0, made
    with serving(workdir, port, env) as srv:
        yield name, srv


@pytest.fixture
def passkey_page(request: pytest.FixtureRequest, browser: Browser, preset_server: tuple[str, Server],
                 problems: Problems, width: int) -> Iterator[Page]:
    _, server = preset_server
    context = browser.new_context(base_url=server.url, locale="ru-RU", viewport={"width": width, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    made = cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
        "protocol": "ctap2", "transport": "internal", "hasResidentKey": True, "hasUserVerification": True,
        "isUserVerified": True, "automaticPresenceSimulation": True}})

    def presence(on: bool) -> None:
        cdp.send("WebAuthn.setAutomaticPresenceSimulation",
                 {"authenticatorId": made["authenticatorId"], "enabled": on})

    page.presence = presence  # type: ignore[attr-defined]
    try:
        yield from watch(request, page, problems)
    finally:
        context.close()


def test_add_a_passkey_sign_out_and_sign_in_by_fingerprint(
    passkey_page: Page, preset_server: tuple[str, Server], problems: Problems, tmp_path: Path
) -> None:
    name, server = preset_server
    _, kind, identifier = PRESETS[name]
    page, shots = passkey_page, _shots_dir(tmp_path)

    # -- the password first ----------------------------------------------------------------------
    page.goto(f"/login?method={kind}")
    a11y.check(page)
    page.get_by_label("Логин" if kind == "login" else "Телефон").fill(identifier)
    page.get_by_label("Пароль").fill(PASSWORD)
    page.get_by_role("button", name="Вход", exact=True).click()
    expect(page).to_have_url(f"{server.url}/cabinet")
    a11y.check(page)

    # -- settings → «Вход по отпечатку» → add ----------------------------------------------------
    a11y.open_menu(page)
    page.get_by_role("link", name="Личная информация").click()
    a11y.check(page)
    page.get_by_role("link", name="Вход по отпечатку").click()
    expect(page.get_by_role("heading", name="Вход по отпечатку")).to_be_visible()
    expect(page.get_by_text("Ключей входа пока нет.")).to_be_visible()
    a11y.check(page)
    page.get_by_label("Название").fill("Этот компьютер")
    page.get_by_role("button", name="Добавить ключ входа").click()
    expect(page.get_by_text("Ключ входа добавлен.")).to_be_visible()
    expect(page.get_by_role("heading", name="Этот компьютер")).to_be_visible()
    expect(page.get_by_role("button", name="Удалить")).to_have_count(1)
    page.screenshot(path=str(shots / f"dostup-{name}-passkeys.png"), full_page=True)
    a11y.check(page)

    # -- sign out, then «Войти по отпечатку» --------------------------------------------------------
    # The sign-in page starts a conditional (autofill) request at once; with nobody touching the
    # authenticator it stays pending, and the button must abort it before starting its own.
    page.presence(False)  # type: ignore[attr-defined]
    a11y.open_menu(page)
    page.get_by_role("banner").get_by_role("button", name="Выйти").click()
    expect(page).to_have_url(re.compile(r"/login"))
    button = page.get_by_role("button", name="Войти по отпечатку")
    expect(button).to_be_visible()
    a11y.check(page)
    page.wait_for_timeout(500)  # let the conditional request reach the authenticator
    page.presence(True)  # type: ignore[attr-defined]
    button.click()
    expect(page).to_have_url(f"{server.url}/cabinet")
    _assert_aal2(page)
    a11y.check(page)

    # -- and by autofill alone (conditional mediation), with the authenticator answering -------------
    a11y.open_menu(page)
    page.get_by_role("banner").get_by_role("button", name="Выйти").click()
    expect(page).to_have_url(f"{server.url}/cabinet")
    _assert_aal2(page)
    a11y.check(page)
    _assert_page_was_quiet(problems)


def _assert_aal2(page: Page) -> None:
    who = page.request.get("/api/v1/whoami")
    assert who.ok, who.status
    session = who.json()["session"]
    assert session["aal"] == 2 and session["amr"] == ["hwk", "user", "mfa"], session
