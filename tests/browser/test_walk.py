"""A person's walk through the cabinet in headless Chromium, by the Russian labels they read.

Registration (phone, password, consent, the «Я не робот» ALTCHA widget) → code from the dev outbox →
cabinet → «Выйти» → sign-in by phone and password → cabinet again.  Also: the «По логину» tab of the
kit preset always shows the captcha widget.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import Problems, Server

pytestmark = pytest.mark.browser
# This walk is about registration and sign-in; kit's company step is walked in test_kit_company.py.
SERVER_ENV = {"DOSTUP_REQUIRE_COMPANY": "false"}

PHONE_TYPED = "912 345-67-89"
PHONE_E164 = "+79123456789"
PHONE_SHOWN = "+7 912 345-67-89"
PASSWORD = "Tundra-Kettle-4817"
CAPTCHA_TIMEOUT = 30  # seconds; DOSTUP_CAPTCHA__MAX_NUMBER=20000 solves in well under a second


def _shots_dir(tmp_path: Path) -> Path:
    """Screenshots go to $DOSTUP_BROWSER_SHOTS when set (for a human to look at), else the test's tmp dir."""
    target = Path(os.environ.get("DOSTUP_BROWSER_SHOTS") or tmp_path)
    target.mkdir(parents=True, exist_ok=True)
    return target


def _assert_page_was_quiet(problems: Problems) -> None:
    """No uncaught script errors and no console errors (a CSP block shows up here) except the favicon."""
    console = [m for m in problems.console_errors if not m.endswith("/favicon.ico]")]
    assert problems.page_errors == [], problems.page_errors
    assert console == [], console


def _solve_captcha(page: Page, problems: Problems) -> None:
    """Tick «Я не робот» and wait until the widget says «Проверено» and has filled in its field.

    Fails fast, with the browser's words, when the widget reports an error or the page logs a
    Content-Security-Policy violation (a blocked worker leaves the widget «Проверяем…» for ever).
    """
    widget = page.locator("altcha-widget")
    expect(widget).to_be_visible()
    page.get_by_role("checkbox", name="Я не робот").click()
    state = widget.locator(".altcha[data-state]")
    deadline = time.monotonic() + CAPTCHA_TIMEOUT
    while (current := state.get_attribute("data-state")) != "verified":
        blocked = [m for m in problems.console_errors if "Content Security Policy" in m]
        assert not blocked, f"the captcha widget was blocked by the CSP: {blocked}"
        assert current != "error", f"the captcha widget failed: {widget.inner_text()!r} {problems}"
        assert time.monotonic() < deadline, f"the captcha widget is still {current!r} after {CAPTCHA_TIMEOUT}s"
        page.wait_for_timeout(100)
    expect(widget.get_by_text("Проверено")).to_be_visible()
    expect(widget.get_by_role("checkbox")).to_be_checked()
    expect(widget.locator("input[type=hidden][name=captcha]")).to_have_value(re.compile(r"^\S{40,}$"))


def _latest_code(page: Page, to: str, kind: str) -> str:
    """The newest code sent to ``to`` according to the dev outbox (newest first)."""
    deadline = time.monotonic() + 10
    seen: list[Any] = []
    while time.monotonic() < deadline:
        resp = page.request.get("/dev/outbox.json")
        assert resp.ok, resp.status
        seen = resp.json()
        for item in seen:
            if item["to"] == to and item["kind"] == kind and item["code"]:
                assert item["channel"] == "sms", item
                assert item["code"] in item["text"], item
                return str(item["code"])
        time.sleep(0.2)
    raise AssertionError(f"no {kind} code for {to} in the dev outbox: {seen}")


def _expect_cabinet(page: Page, server: Server) -> None:
    expect(page).to_have_url(f"{server.url}/cabinet")
    main = page.get_by_role("main")
    expect(main.get_by_role("heading", name="Личный кабинет")).to_be_visible()
    expect(main.get_by_text("Вы вошли в Личный кабинет.")).to_be_visible()
    expect(main.locator("dl.facts")).to_contain_text("Номер телефона")
    expect(main.locator("dl.facts")).to_contain_text(PHONE_SHOWN)


def test_register_sign_out_and_sign_in(page: Page, server: Server, problems: Problems, tmp_path: Path) -> None:
    shots = _shots_dir(tmp_path)

    # -- registration form --------------------------------------------------------------------
    page.goto("/registration")
    expect(page.get_by_role("heading", name="Регистрация")).to_be_visible()
    country = page.get_by_label("Страна")
    expect(country).to_have_value("RU")  # Россия is the default
    country.select_option(label="Россия +7")
    page.get_by_label("Номер телефона").fill(PHONE_TYPED)
    page.get_by_label("Пароль", exact=True).fill(PASSWORD)
    page.get_by_label("Повторите пароль").fill(PASSWORD)
    consent = page.get_by_role("checkbox", name=re.compile("согласие на обработку своих персональных данных"))
    consent.check()
    expect(consent).to_be_checked()
    _solve_captcha(page, problems)
    page.screenshot(path=str(shots / "dostup-registration.png"), full_page=True)
    page.get_by_role("button", name="Регистрация", exact=True).click()

    # -- confirmation code --------------------------------------------------------------------
    expect(page).to_have_url(re.compile(r"/registration/code\?flow="))
    expect(page.get_by_role("heading", name="Подтверждение номера")).to_be_visible()
    expect(page.get_by_text("Мы отправили SMS с кодом на номер")).to_be_visible()
    code = _latest_code(page, PHONE_E164, "registration_code")
    page.get_by_label("Код подтверждения").fill(code)
    page.get_by_role("button", name="Продолжить").click()

    # -- cabinet ------------------------------------------------------------------------------
    _expect_cabinet(page, server)
    page.screenshot(path=str(shots / "dostup-cabinet.png"), full_page=True)

    # -- sign out (a POST form) ---------------------------------------------------------------
    page.get_by_role("main").get_by_role("button", name="Выйти").click()
    expect(page).to_have_url(re.compile(rf"^{re.escape(server.url)}/login(\?.*)?$"))
    expect(page.get_by_role("heading", name="Вход")).to_be_visible()
    page.goto("/cabinet")  # the session is gone: back to the sign-in page
    expect(page).to_have_url(re.compile(rf"^{re.escape(server.url)}/login(\?.*)?$"))
    expect(page.get_by_role("main").get_by_text(PHONE_SHOWN)).to_have_count(0)

    # -- sign in by phone and password --------------------------------------------------------
    page.get_by_role("link", name="По номеру телефона").click()
    expect(page.get_by_role("link", name="По номеру телефона")).to_have_attribute("aria-current", "page")
    expect(page.locator("altcha-widget")).to_have_count(0)  # no captcha on the phone tab before failures
    page.get_by_label("Номер телефона").fill(PHONE_TYPED)
    page.get_by_label("Пароль", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Вход", exact=True).click()
    _expect_cabinet(page, server)

    _assert_page_was_quiet(problems)


def test_login_tab_shows_captcha(page: Page, problems: Problems) -> None:
    page.goto("/login")
    expect(page.locator("altcha-widget")).to_have_count(0)
    page.get_by_role("link", name="По логину").click()
    expect(page).to_have_url(re.compile(r"/login\?method=login$"))
    expect(page.get_by_label("Логин", exact=True)).to_be_visible()
    expect(page.get_by_role("checkbox", name="Я не робот")).to_be_visible()
    _solve_captcha(page, problems)  # and it works there too
    _assert_page_was_quiet(problems)
