"""kit: registration continues with «Добавление компании для завершения регистрации» (headless Chromium).

Registration by phone → SMS code → the company step → a ЮЛ with valid INN / KPP / OGRN → the email
code from the dev outbox → the cabinet, then «Список компаний» shows the profile «Подтверждена».
Everything by the Russian labels a person reads; the server runs the default (kit) settings.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser import a11y
from tests.browser.conftest import Problems, Server
from tests.browser.links import Links
from tests.browser.test_walk import _assert_page_was_quiet, _shots_dir, _solve_captcha

pytestmark = pytest.mark.browser

PHONE_TYPED = "912 765-43-21"
PHONE_E164 = "+79127654321"
PASSWORD = "Birch-Compass-7314"
COMPANY = "ООО «Ромашка» <b>"
EMAIL = "office@romashka.example"


def _code(page: Page, to: str, kind: str, channel: str) -> str:
    """The newest code of ``kind`` sent to ``to``, read from the dev outbox (newest first)."""
    deadline = time.monotonic() + 10
    seen: list[Any] = []
    while time.monotonic() < deadline:
        resp = page.request.get("/dev/outbox.json")
        assert resp.ok, resp.status
        seen = resp.json()
        for item in seen:
            if item["to"] == to and item["kind"] == kind and item["code"]:
                assert item["channel"] == channel, item
                assert item["code"] in item["text"], item
                return str(item["code"])
        time.sleep(0.2)
    raise AssertionError(f"no {kind} code for {to} in the dev outbox: {seen}")


def test_kit_registration_adds_and_confirms_a_company_then_opens_the_cabinet(
    page: Page, server: Server, problems: Problems, tmp_path: Path
) -> None:
    shots = _shots_dir(tmp_path)
    # -- registration and the SMS code ------------------------------------------------------------
    page.goto("/registration")
    a11y.check(page)
    page.get_by_label("Номер телефона").fill(PHONE_TYPED)
    page.get_by_label("Пароль", exact=True).fill(PASSWORD)
    page.get_by_label("Повторите пароль").fill(PASSWORD)
    page.get_by_role("checkbox", name=re.compile("согласие на обработку своих персональных данных")).check()
    _solve_captcha(page, problems)
    page.get_by_role("button", name="Регистрация", exact=True).click()
    expect(page).to_have_url(re.compile(r"/registration/code\?flow="))
    a11y.check(page)
    page.get_by_label("Код подтверждения").fill(_code(page, PHONE_E164, "registration_code", "sms"))
    page.get_by_role("button", name="Продолжить").click()

    # -- «Добавление компании для завершения регистрации» ------------------------------------------
    expect(page).to_have_url(f"{server.url}/companies/new")
    expect(page.get_by_role("heading", name="Добавление компании для завершения регистрации")).to_be_visible()
    kinds = page.get_by_role("navigation", name="Тип профиля")
    for kind in ("Юридическое лицо", "ИП", "Физическое лицо"):
        expect(kinds.get_by_role("link", name=kind, exact=True)).to_be_visible()
    a11y.check(page)
    page.goto("/cabinet")  # the cabinet waits for a confirmed company
    expect(page).to_have_url(f"{server.url}/companies/new")
    a11y.check(page)

    kinds.get_by_role("link", name="Юридическое лицо", exact=True).click()
    expect(kinds.get_by_role("link", name="Юридическое лицо", exact=True)).to_have_attribute("aria-current", "page")
    a11y.check(page)
    page.get_by_label("Наименование организации").fill(COMPANY)
    page.get_by_label("ИНН", exact=True).fill("7707083894")  # one digit off: the check digit catches it
    page.get_by_label("КПП").fill("773601001")
    page.get_by_label("ОГРН", exact=True).fill("1027700132195")
    page.get_by_label("Юридический адрес").fill("г. Москва, ул. Вавилова, д. 19")
    page.get_by_label("Электронная почта").fill(EMAIL)
    page.screenshot(path=str(shots / "dostup-kit-company-step.png"), full_page=True)
    page.get_by_role("button", name="Добавить", exact=True).click()
    expect(page.get_by_text("Неверный ИНН: не сходится контрольное число")).to_be_visible()
    expect(page.get_by_label("Наименование организации")).to_have_value(COMPANY)  # the form keeps what was typed
    inn = page.get_by_label("ИНН", exact=True)
    expect(inn).to_have_attribute("aria-invalid", "true")
    expect(inn).to_have_accessible_description(re.compile("Неверный ИНН: не сходится контрольное число"))
    a11y.check(page)  # the form with its error
    page.get_by_label("ИНН", exact=True).fill("7707083893")
    page.get_by_role("button", name="Добавить", exact=True).click()

    # -- the email code ---------------------------------------------------------------------------
    expect(page).to_have_url(re.compile(r"/companies/[0-9a-f]{24}/confirm$"))
    expect(page.get_by_role("heading", name="Подтверждение компании")).to_be_visible()
    expect(page.get_by_text("Мы отправили письмо с кодом на адрес o***@romashka.example")).to_be_visible()
    expect(page.locator(".company-name")).to_contain_text(COMPANY)  # shown as text, not markup
    page.screenshot(path=str(shots / "dostup-kit-company-code.png"), full_page=True)
    a11y.check(page)
    page.get_by_label("Код подтверждения").fill(_code(page, EMAIL, "company_code", "email"))
    page.get_by_role("button", name="Подтвердить").click()

    # -- the cabinet ------------------------------------------------------------------------------
    expect(page).to_have_url(f"{server.url}/cabinet")
    expect(page.get_by_role("main").get_by_role("heading", name="Личный кабинет")).to_be_visible()
    a11y.check(page)
    a11y.open_menu(page)
    page.get_by_role("banner").get_by_role("link", name="Список компаний").click()
    expect(page).to_have_url(f"{server.url}/companies")
    row = page.locator("tr.company")
    expect(row).to_have_count(1)
    expect(row).to_contain_text(COMPANY)
    expect(row).to_contain_text("7707083893")
    expect(row.locator(".status")).to_have_text("Подтверждена")
    page.screenshot(path=str(shots / "dostup-kit-companies.png"), full_page=True)
    Links().check(page)  # every link of the signed-in kit cabinet: navigation, settings, documents
    a11y.check(page)

    # The refused form answered 422 on purpose; anything else in the console is a problem.
    problems.console_errors = [m for m in problems.console_errors
                               if not ("status of 422" in m and m.endswith("/companies/new]"))]
    _assert_page_was_quiet(problems)
