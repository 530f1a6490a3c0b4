"""gosuslugi: the simplified registration in headless Chromium, by the Russian labels a person reads.

«Фамилия», «Имя», «Номер мобильного телефона», «Электронная почта», consent, «Я не робот» →
«Зарегистрироваться» → the SMS code from the dev outbox («Код действует до», «Получить код повторно»)
→ «Придумайте пароль» → «Готово» → cabinet, which says the letter went out and the simplified account
is not complete («Откройте почтовый ящик и перейдите по ссылке»); then the email-confirmation link from
the dev outbox → «Подтвердить почту» → «Адрес электронной почты подтверждён» → the cabinet's status
(«Упрощённая учётная запись», what the standard level unlocks) → «Заполнить профиль» (the full profile's
form, posted empty: every field's error) → SNILS in «Мои данные» → «Выйти» → «По СНИЛС» → the cabinet.  Every link met on the way answers 200.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, expect

from tests.browser import a11y
from tests.browser.conftest import Problems, Server
from tests.browser.links import Links
from tests.browser.test_walk import _assert_page_was_quiet, _latest_code, _shots_dir, _solve_captcha

pytestmark = pytest.mark.browser
SERVER_ENV = {"DOSTUP_PRESET": "gosuslugi"}

FAMILY_NAME = "Иванова"
GIVEN_NAME = "Мария"
PHONE_TYPED = "926 111-22-33"
PHONE_E164 = "+79261112233"
EMAIL = "maria.ivanova@example.org"
PASSWORD = "Birch-Lantern-5273"
SNILS = "112-233-445 95"


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
    links = Links()
    page.goto("/")
    expect(page.get_by_role("main")).to_contain_text("с помощью номера телефона, электронной почты или СНИЛС")
    links.check(page)
    a11y.check(page)
    page.get_by_role("link", name="Зарегистрироваться в Личном кабинете").click()
    expect(page.get_by_role("heading", name="Регистрация")).to_be_visible()
    links.check(page)
    a11y.check(page)
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
    a11y.check(page)
    page.get_by_role("button", name="Зарегистрироваться").click()

    # -- confirmation code --------------------------------------------------------------------
    expect(page).to_have_url(re.compile(r"/registration/code\?flow="))
    expect(page.get_by_role("heading", name="Подтверждение номера")).to_be_visible()
    expect(page.get_by_text("Код действует до")).to_be_visible()
    expect(page.get_by_role("button", name="Получить код повторно")).to_be_visible()
    a11y.check(page)
    page.get_by_label("Код подтверждения").fill(_latest_code(page, PHONE_E164, "registration_code"))
    page.get_by_role("button", name="Продолжить").click()

    # -- password -----------------------------------------------------------------------------
    expect(page.get_by_role("heading", name="Придумайте пароль")).to_be_visible()
    a11y.check(page)
    page.get_by_label("Пароль", exact=True).fill(PASSWORD)
    page.get_by_label("Повторите пароль").fill(PASSWORD)
    page.get_by_role("button", name="Готово").click()

    # -- cabinet: the letter is sent, the account is not complete yet ---------------------------
    expect(page).to_have_url(f"{server.url}/cabinet")
    main = page.get_by_role("main")
    expect(main.get_by_role("heading", name="Личный кабинет")).to_be_visible()
    status = main.locator("section.account-status")
    expect(status.get_by_role("heading", name="Статус учётной записи")).to_be_visible()
    expect(status).to_contain_text("Упрощённая учётная запись — регистрация не завершена")
    expect(status.get_by_role("status")).to_contain_text(f"Мы отправили письмо на {EMAIL}")
    expect(status.get_by_role("status")).to_contain_text("Откройте почтовый ящик и перейдите по ссылке")
    page.screenshot(path=str(shots / "dostup-gosuslugi-cabinet.png"), full_page=True)
    links.check(page)
    a11y.check(page)

    # -- the email-confirmation link ------------------------------------------------------------
    page.goto(_email_link(page, EMAIL))
    expect(page.get_by_role("heading", name="Подтверждение электронной почты")).to_be_visible()
    a11y.check(page)
    page.get_by_role("button", name="Подтвердить почту").click()
    expect(page.get_by_role("main").get_by_role("status")).to_contain_text("Адрес электронной почты подтверждён")
    a11y.check(page)

    # -- the cabinet's status and the next step -------------------------------------------------
    a11y.open_menu(page)
    page.get_by_role("banner").get_by_role("link", name="Личный кабинет").click()
    expect(status).not_to_contain_text("не завершена")
    expect(status).to_contain_text("Стандартная учётная запись")
    expect(status).to_contain_text("запись к врачу")
    expect(status).to_contain_text("Добавьте отчество, пол, дату и место рождения, гражданство.")
    status.get_by_role("link", name="Заполнить профиль").click()
    expect(page.get_by_role("heading", name="Стандартная учётная запись", exact=True)).to_be_visible()
    expect(page.get_by_label("Нет отчества")).to_be_visible()
    links.check(page)
    a11y.check(page)
    page.get_by_role("button", name="Сохранить").click()  # empty: every field says what it needs
    expect(page.locator("#passport_series-error")).to_contain_text("Введите серию паспорта")
    a11y.check(page)
    page.goto(f"{server.url}/settings")
    expect(page.get_by_role("heading", name="Мои данные", exact=True)).to_be_visible()
    links.check(page)
    a11y.check(page)
    page.get_by_label("СНИЛС", exact=True).fill("112-233-445 00")
    page.get_by_role("button", name="Сохранить").nth(1).click()
    expect(page.locator("#snils-error")).to_contain_text("не сходится контрольное число")
    a11y.check(page)
    page.get_by_label("СНИЛС", exact=True).fill(SNILS)
    page.get_by_role("button", name="Сохранить").nth(1).click()
    expect(page.get_by_role("main").get_by_role("status")).to_have_text("СНИЛС сохранён.")
    a11y.check(page)

    # -- sign out, sign in by SNILS ---------------------------------------------------------------
    a11y.open_menu(page)
    page.get_by_role("banner").get_by_role("button", name="Выйти").click()
    a11y.check(page)
    page.get_by_role("link", name="По СНИЛС").click()
    a11y.check(page)
    page.get_by_label("СНИЛС", exact=True).fill(SNILS)
    page.get_by_label("Пароль", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Вход", exact=True).click()
    expect(page).to_have_url(f"{server.url}/cabinet")
    expect(page.get_by_role("banner").get_by_role("link", name=f"{GIVEN_NAME} {FAMILY_NAME}")).to_be_visible()
    links.check(page)
    # The refused SNILS was answered 422 on purpose (a form error); Chromium logs every 4xx page.
    problems.console_errors = [m for m in problems.console_errors
                               if not ("status of 422" in m and m.endswith(("/settings/snils]", "/settings/identity]")))]

    _assert_page_was_quiet(problems)
