"""A person's walk through the cabinet in headless Chromium, by the Russian labels they read.

Registration (an empty form first: its errors; then phone, password, consent, the «Я не робот» ALTCHA
widget) → code from the dev outbox → cabinet → «Выйти» → a wrong password → sign-in by phone and password
→ cabinet again.  Also: the «По логину» tab of the kit preset always shows the captcha widget.  Every page
passes ``a11y.check`` at 360 px and at 1280 px.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser import a11y
from tests.browser.conftest import Problems, Server
from tests.browser.links import Links

pytestmark = pytest.mark.browser
# This walk is about registration and sign-in; kit's company step is walked in test_kit_company.py.
SERVER_ENV = {"DOSTUP_REQUIRE_COMPANY": "false"}

PHONE_TYPED = "912 345-67-89"
PHONE_E164 = "+79123456789"
PHONE_SHOWN = "+7 912 345-67-89"
PHONE_MASKED = "+7 *** ***-67-89"  # the header masks it (it is on every screenshot)
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
    a11y.check(page)


def test_register_sign_out_and_sign_in(page: Page, server: Server, problems: Problems, tmp_path: Path) -> None:
    shots = _shots_dir(tmp_path)
    page.goto("/")
    a11y.check(page)

    # -- registration form --------------------------------------------------------------------
    links = Links()
    page.goto("/")
    expect(page.get_by_role("main")).to_contain_text(
        "Войти в свой Личный кабинет с помощью логина или номера телефона")
    links.check(page)
    page.goto("/registration")
    expect(page.get_by_role("heading", name="Регистрация")).to_be_visible()
    footer = page.get_by_role("contentinfo")
    expect(footer.get_by_role("link", name="настоящего соглашения")).to_have_attribute("href", "/docs/agreement")
    expect(footer.get_by_role("link", name="Политикой конфиденциальности")).to_have_attribute("href", "/docs/policy")
    links.check(page)  # the consent's «Политикой по обработке персональных данных», «Правилами оказания услуг» too
    a11y.check(page)
    page.get_by_role("button", name="Регистрация", exact=True).click()  # sent empty, it comes back with its errors
    expect(page.get_by_label("Номер телефона")).to_have_attribute("aria-invalid", "true")
    a11y.check(page)
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
    a11y.check(page)  # the form filled in, the captcha solved
    page.get_by_role("button", name="Регистрация", exact=True).click()

    # -- confirmation code --------------------------------------------------------------------
    expect(page).to_have_url(re.compile(r"/registration/code\?flow="))
    expect(page.get_by_role("heading", name="Подтверждение номера")).to_be_visible()
    expect(page.get_by_text("Мы отправили SMS с кодом на номер")).to_be_visible()
    a11y.check(page)
    code = _latest_code(page, PHONE_E164, "registration_code")
    page.get_by_label("Код подтверждения").fill(code)
    page.get_by_role("button", name="Продолжить").click()

    # -- cabinet ------------------------------------------------------------------------------
    _expect_cabinet(page, server)
    page.screenshot(path=str(shots / "dostup-cabinet.png"), full_page=True)
    links.check(page)
    page.get_by_role("banner").get_by_role("link", name=PHONE_MASKED).click()  # no name given: the masked phone top right
    expect(page.get_by_role("heading", name="Личная информация", exact=True)).to_be_visible()
    links.check(page)
    a11y.check(page)
    a11y.open_menu(page)
    page.get_by_role("banner").get_by_role("link", name="Личный кабинет", exact=True).click()

    # -- sign out (a POST form) ---------------------------------------------------------------
    page.get_by_role("main").get_by_role("button", name="Выйти").click()
    expect(page).to_have_url(re.compile(rf"^{re.escape(server.url)}/login(\?.*)?$"))
    expect(page.get_by_role("heading", name="Вход")).to_be_visible()
    a11y.check(page)
    page.goto("/cabinet")  # the session is gone: back to the sign-in page
    expect(page).to_have_url(re.compile(rf"^{re.escape(server.url)}/login(\?.*)?$"))
    expect(page.get_by_role("main").get_by_text(PHONE_SHOWN)).to_have_count(0)
    a11y.check(page)

    # -- sign in by phone and password --------------------------------------------------------
    page.get_by_role("link", name="По номеру телефона").click()
    expect(page.get_by_role("link", name="По номеру телефона")).to_have_attribute("aria-current", "page")
    expect(page.locator("altcha-widget")).to_have_count(0)  # no captcha on the phone tab before failures
    a11y.check(page)
    page.get_by_label("Номер телефона").fill(PHONE_TYPED)
    page.get_by_label("Пароль", exact=True).fill(PASSWORD + "x")
    page.get_by_role("button", name="Вход", exact=True).click()
    expect(page.get_by_role("alert").first).to_be_visible()
    a11y.check(page)  # refused: the form again, with its message
    page.get_by_label("Номер телефона").fill(PHONE_TYPED)
    page.get_by_label("Пароль", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Вход", exact=True).click()
    _expect_cabinet(page, server)

    # The refused forms were answered 4xx on purpose; Chromium logs every such page.
    problems.console_errors = [m for m in problems.console_errors if not re.search(r"status of 4(22|01|00)", m)]
    _assert_page_was_quiet(problems)


def test_login_tab_shows_captcha(page: Page, problems: Problems) -> None:
    page.goto("/login")
    expect(page.locator("altcha-widget")).to_have_count(0)
    a11y.check(page)
    page.get_by_role("link", name="По логину").click()
    expect(page).to_have_url(re.compile(r"/login\?method=login$"))
    expect(page.get_by_label("Логин", exact=True)).to_be_visible()
    expect(page.get_by_role("checkbox", name="Я не робот")).to_be_visible()
    _solve_captcha(page, problems)  # and it works there too
    a11y.check(page)
    _assert_page_was_quiet(problems)


def test_times_follow_the_browsers_time_zone(browser: Browser, server: Server) -> None:
    """static/tz.js tells the server the browser's zone; the code page's time is then local, unlabelled."""
    context = browser.new_context(base_url=server.url, locale="ru-RU", timezone_id="Asia/Vladivostok")
    try:
        page = context.new_page()
        page.goto("/")
        assert "tz=Asia/Vladivostok" in page.evaluate("document.cookie")
        page.goto("/docs/agreement")
        expect(page.get_by_role("heading", name="Пользовательское соглашение")).to_be_visible()
    finally:
        context.close()
