"""gosuslugi: the simplified registration in headless Chromium, by the Russian labels a person reads.

«Фамилия», «Имя», «Номер мобильного телефона», «Электронная почта», consent, «Я не робот» →
«Зарегистрироваться» → the SMS code from the dev outbox («Код действует до», «Получить код повторно»)
→ «Придумайте пароль» → «Готово» → cabinet; then the email-confirmation link from the dev outbox →
«Подтвердить почту» → «Адрес электронной почты подтверждён».
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import Problems, Server
from tests.browser.test_walk import _assert_page_was_quiet, _latest_code, _shots_dir, _solve_captcha

pytestmark = pytest.mark.browser
SERVER_ENV = {"DOSTUP_PRESET": "gosuslugi"}

FAMILY_NAME = "Иванова"
GIVEN_NAME = "Мария"
PHONE_TYPED = "926 111-22-33"
PHONE_E164 = "+79261112233"
EMAIL = "maria.ivanova@example.org"
PASSWORD = "Birch-Lantern-5273"


def _email_link(page: Page, to: str) -> str:
    """The path of the newest email-confirmation link sent to ``to`` according to the dev outbox."""
    deadline = time.monotonic() + 10
    seen: list[Any] = []
    while time.monotonic() < deadline:
        resp = page.request.get("/dev/outbox.json")
        assert resp.ok, resp.status
        seen = resp.json()
        for item in seen:
            if item["to"] == to and item["kind"] == "email_link":
                assert item["channel"] == "email", item
                found = re.search(r"https?://\S+/verify-email\?token=[^\s\"'<>]+", item["text"])
                assert found, item
                parts = urlsplit(found.group(0))
                return f"{parts.path}?{parts.query}"
        time.sleep(0.2)
    raise AssertionError(f"no email_link for {to} in the dev outbox: {seen}")


def test_simplified_registration_then_email_link(
    page: Page, server: Server, problems: Problems, tmp_path: Path
) -> None:
    shots = _shots_dir(tmp_path)

    # -- registration form --------------------------------------------------------------------
    page.goto("/registration")
    expect(page.get_by_role("heading", name="Регистрация")).to_be_visible()
    page.get_by_label("Фамилия").fill(FAMILY_NAME)
    page.get_by_label("Имя", exact=True).fill(GIVEN_NAME)
    expect(page.get_by_label("Страна")).to_have_value("RU")  # Россия is the default
    page.get_by_label("Номер мобильного телефона").fill(PHONE_TYPED)
    page.get_by_label("Электронная почта").fill(EMAIL)
    consent = page.get_by_role("checkbox", name=re.compile("согласие на обработку своих персональных данных"))
    consent.check()
    expect(consent).to_be_checked()
    _solve_captcha(page, problems)
    page.screenshot(path=str(shots / "dostup-gosuslugi-registration.png"), full_page=True)
    page.get_by_role("button", name="Зарегистрироваться").click()

    # -- confirmation code --------------------------------------------------------------------
    expect(page).to_have_url(re.compile(r"/registration/code\?flow="))
    expect(page.get_by_role("heading", name="Подтверждение номера")).to_be_visible()
    expect(page.get_by_text("Код действует до")).to_be_visible()
    expect(page.get_by_role("button", name="Получить код повторно")).to_be_visible()
    page.get_by_label("Код подтверждения").fill(_latest_code(page, PHONE_E164, "registration_code"))
    page.get_by_role("button", name="Продолжить").click()

    # -- password -----------------------------------------------------------------------------
    expect(page.get_by_role("heading", name="Придумайте пароль")).to_be_visible()
    page.get_by_label("Пароль", exact=True).fill(PASSWORD)
    page.get_by_label("Повторите пароль").fill(PASSWORD)
    page.get_by_role("button", name="Готово").click()

    # -- cabinet ------------------------------------------------------------------------------
    expect(page).to_have_url(f"{server.url}/cabinet")
    expect(page.get_by_role("main").get_by_role("heading", name="Личный кабинет")).to_be_visible()
    page.screenshot(path=str(shots / "dostup-gosuslugi-cabinet.png"), full_page=True)

    # -- the email-confirmation link ------------------------------------------------------------
    page.goto(_email_link(page, EMAIL))
    expect(page.get_by_role("heading", name="Подтверждение электронной почты")).to_be_visible()
    page.get_by_role("button", name="Подтвердить почту").click()
    expect(page.get_by_role("main").get_by_role("status")).to_contain_text("Адрес электронной почты подтверждён")

    _assert_page_was_quiet(problems)
