"""«Подтвердить личность усиленной квалифицированной электронной подписью» in headless Chromium, by the Russian
labels, at a phone's and a desktop's width, axe on every page: a «Стандартная» customer of gosuslugi follows the
cabinet's link, asks for the statement, downloads it, and pastes a real detached CMS signature made with a test
CA's certificate (what CryptoPro would make; its CRLs served on 127.0.0.1 and read by the server): another
person's certificate is refused with its message and the level stays; the customer's own makes the account
«Подтверждённая»."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.browser import a11y
from tests.browser.conftest import Problems, Server, _free_port, run_cli, server_env, serving
from tests.browser.steps import sign_in_by_phone
from tests.browser.test_walk import _assert_page_was_quiet
from tests.flows.esign_support import CrlPoints
from tests.flows.levels_support import SNILS

pytestmark = pytest.mark.browser

PASSWORD = "Maple-Compass-3148"
PHONE = "+79165550089"


@pytest.fixture(scope="module")
def crls() -> Iterator[CrlPoints]:
    with CrlPoints() as points:  # the test CA; its certificates name distribution points on 127.0.0.1
        yield points


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, width: int, crls: CrlPoints) -> Iterator[Server]:
    port = _free_port()
    workdir = tmp_path_factory.mktemp("serve-esign")
    env = server_env(workdir, f"http://127.0.0.1:{port}", {
        "DOSTUP_PRESET": "gosuslugi", "DOSTUP_LEVELS__ESIGN_TRUSTED_ROOTS": json.dumps([crls.ca.write_root(workdir)])})
    with serving(workdir, port, env) as srv:
        made = run_cli(workdir, env, "admin", "create-user", "--phone", PHONE, "--password", PASSWORD)
        assert made.returncode == 0, made.stderr
        conn = sqlite3.connect(str(workdir / "d.db"))
        try:
            with conn:
                conn.execute("UPDATE accounts SET family_name = 'Семёнова', given_name = 'Анна', "
                             "middle_name = 'Сергеевна', snils = ? WHERE phone = ?", (SNILS, PHONE))
                (account_id,) = conn.execute("SELECT id FROM accounts WHERE phone = ?", (PHONE,)).fetchone()
                conn.execute("INSERT INTO identity_profiles (account_id, level, no_middle_name, updated_at) "
                             "VALUES (?, 2, 0, '2026-01-01 00:00:00.000000')", (account_id,))
        finally:
            conn.close()
        yield srv


def _statement(page: Page) -> bytes:
    """The statement as the page offers it to sign (the download link's exact bytes)."""
    href = page.get_by_role("link", name="Скачать заявление (файл для подписи)").get_attribute("href")
    assert href is not None
    resp = page.request.get(href)
    assert resp.status == 200
    return resp.body()


def test_a_standard_customer_confirms_identity_with_a_qualified_signature(page: Page, server: Server,
                                                                         problems: Problems, crls: CrlPoints) -> None:
    ca = crls.ca
    sign_in_by_phone(page, PHONE[2:], PASSWORD)
    expect(page).to_have_url(f"{server.url}/cabinet")
    a11y.check(page)
    page.get_by_role("link", name="Подтвердить личность усиленной квалифицированной электронной подписью").click()
    expect(page.get_by_role("heading", name="Подтверждение личности электронной подписью")).to_be_visible()
    expect(page.get_by_text("«КриптоПро» — программа для считывания электронной подписи")).to_be_visible()
    a11y.check(page)

    page.get_by_role("button", name="Получить заявление на подпись").click()
    expect(page.locator("#statement")).to_contain_text("Я, Семёнова Анна Сергеевна, СНИЛС 112-233-445 95")
    a11y.check(page)
    content = _statement(page)
    stranger = ca.person(snils="11223344600", surname="Иванова")
    page.get_by_label("Электронная подпись заявления (Base64)").fill(ca.sign_b64(stranger, content))
    page.get_by_role("button", name="Подписать и отправить").click()
    expect(page.locator("#signature-error")).to_contain_text("Подпись принадлежит другому человеку")
    expect(page.get_by_text("Стандартная учётная запись").first).to_be_visible()
    a11y.check(page)

    own = ca.person(snils=SNILS, surname="Семенова", given="Анна Сергеевна")
    page.get_by_label("Электронная подпись заявления (Base64)").fill(ca.sign_b64(own, content))
    page.get_by_role("button", name="Подписать и отправить").click()
    expect(page).to_have_url(f"{server.url}/settings/identity/signature?confirmed=1")
    expect(page.get_by_text("Личность подтверждена электронной подписью")).to_be_visible()
    expect(page.get_by_role("button", name="Получить заявление на подпись")).to_have_count(0)
    a11y.check(page)
    assert ca.intermediate is not None and crls.fetches(ca.intermediate) >= 1  # the server read the signer's CRL
    # the refused signature's page answered 422: Chromium logs that status; nothing else may be logged
    problems.console_errors[:] = [m for m in problems.console_errors if "status of 422" not in m]
    _assert_page_was_quiet(problems)
