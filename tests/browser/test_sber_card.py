"""sber: registration and sign-in by card number in headless Chromium, by the Russian labels.

The operator seeds the card registry with ``dostup admin import-contracts`` before starting
``dostup serve`` with ``DOSTUP_PRESET=sber`` (the same working directory, so the same development
secret key).  The customer types «Номер карты», gets the code on the phone on file (the page does
not show the number), sets a password, lands in the cabinet, signs out and signs in again on the
«По номеру карты» tab.  The whole card number never shows in the cabinet's HTML.  The code page
speaks the seed («Не пришёл СМС-код?») and, enumeration-safe, only says what is true for any card;
cards are «Карты» («Привязать карту»).  Every link met on the way answers 200.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser import a11y
from tests.browser.conftest import Problems, Server, _free_port, run_cli, server_env, serving
from tests.browser.links import Links
from tests.browser.test_walk import _assert_page_was_quiet, _latest_code, _shots_dir, _solve_captcha

pytestmark = pytest.mark.browser

CARD = "4276380012345679"
CARD_TYPED = "4276 3800 1234 5679"
OWNER = "+79165550000"
PASSWORD = "Maple-Compass-3148"
REGISTRY = (
    "number,kind,phone,secret\n"
    f"{CARD},card,{OWNER},\n"
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, width: int) -> Iterator[Server]:
    """The sber cabinet with one card in the registry; stopped by its PID afterwards."""
    workdir = tmp_path_factory.mktemp("serve-sber")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = server_env(workdir, url, {"DOSTUP_PRESET": "sber"})
    (workdir / "registry.csv").write_text(REGISTRY, encoding="utf-8")
    imported = run_cli(workdir, env, "admin", "import-contracts", "registry.csv")
    assert imported.returncode == 0, imported
    assert "imported 1 (new 1, updated 0)" in imported.stdout, imported
    with serving(workdir, port, env) as srv:
        yield srv


def _expect_cabinet(page: Page, server: Server) -> None:
    expect(page).to_have_url(f"{server.url}/cabinet")
    expect(page.get_by_role("main").get_by_role("heading", name="Личный кабинет")).to_be_visible()
    html = page.content()
    assert CARD not in html, "the whole card number is in the cabinet's HTML"
    assert CARD_TYPED not in html, "the whole card number is in the cabinet's HTML"
    a11y.check(page)


def test_register_by_card_sign_out_and_sign_in(
    page: Page, server: Server, problems: Problems, tmp_path: Path
) -> None:
    shots = _shots_dir(tmp_path)

    # -- registration by card -------------------------------------------------------------------
    links = Links()
    page.goto("/")
    expect(page.get_by_role("main")).to_contain_text("с помощью логина или номера карты")
    links.check(page)
    a11y.check(page)
    page.goto("/registration")
    expect(page.get_by_role("heading", name="Регистрация по номеру карты")).to_be_visible()
    links.check(page)
    a11y.check(page)
    page.get_by_label("Номер карты").fill(CARD_TYPED)
    consent = page.get_by_role("checkbox", name=re.compile("согласие на обработку своих персональных данных"))
    consent.check()
    expect(consent).to_be_checked()
    _solve_captcha(page, problems)
    page.screenshot(path=str(shots / "dostup-sber-registration.png"), full_page=True)
    a11y.check(page)
    page.get_by_role("button", name="Продолжить").click()

    # -- the code goes to the phone on file, which the page does not show ----------------------
    expect(page).to_have_url(re.compile(r"/registration/code\?flow="))
    expect(page.get_by_role("heading", name="Введите код из СМС")).to_be_visible()
    expect(page.get_by_text("Если карта зарегистрирована в банке, код придёт на номер телефона, указанный в договоре."))\
        .to_be_visible()
    expect(page.get_by_role("button", name="Не пришёл СМС-код?")).to_be_visible()
    main = page.get_by_role("main")
    expect(main).not_to_contain_text("5550000")
    expect(main).not_to_contain_text("555-00-00")
    a11y.check(page)
    page.get_by_label("Код подтверждения").fill(_latest_code(page, OWNER, "registration_code"))
    page.get_by_role("button", name="Продолжить").click()

    # -- password -------------------------------------------------------------------------------
    expect(page.get_by_role("heading", name="Придумайте пароль")).to_be_visible()
    a11y.check(page)
    page.get_by_label("Пароль", exact=True).fill(PASSWORD)
    page.get_by_label("Повторите пароль").fill(PASSWORD)
    page.get_by_role("button", name="Продолжить").click()
    _expect_cabinet(page, server)
    page.screenshot(path=str(shots / "dostup-sber-cabinet.png"), full_page=True)
    links.check(page)
    a11y.open_menu(page)
    page.get_by_role("banner").get_by_role("link", name="Карты").click()
    expect(page.get_by_role("heading", name="Карты")).to_be_visible()
    expect(page.locator("#contracts")).to_contain_text("5679")
    a11y.check(page)
    page.get_by_role("link", name="Привязать карту").click()
    expect(page.get_by_label("Что привязать")).to_have_value("card")
    links.check(page)
    a11y.check(page)
    page.get_by_role("link", name="К картам").click()
    a11y.open_menu(page)
    page.get_by_role("banner").get_by_role("link", name="Личный кабинет").click()

    # -- sign out -------------------------------------------------------------------------------
    page.get_by_role("main").get_by_role("button", name="Выйти").click()
    expect(page).to_have_url(re.compile(rf"^{re.escape(server.url)}/login(\?.*)?$"))
    expect(page.get_by_role("heading", name="Вход")).to_be_visible()
    a11y.check(page)

    # -- sign in by card and password -----------------------------------------------------------
    page.get_by_role("link", name="По номеру карты").click()
    expect(page.get_by_role("link", name="По номеру карты")).to_have_attribute("aria-current", "page")
    a11y.check(page)
    page.get_by_label("Номер карты").fill(CARD_TYPED)
    page.get_by_label("Пароль", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Вход", exact=True).click()
    _expect_cabinet(page, server)

    _assert_page_was_quiet(problems)
