"""«Подтвердить личность онлайн через банк» in headless Chromium against a real certified OpenID provider
(panva's oidc-provider playing the bank), by the Russian labels, at a phone's and a desktop's width, axe on every
page of ours: a «Стандартная» customer of gosuslugi follows the cabinet's link, presses «Подтвердить личность через
Банк ID», signs in at the bank; its birth date differs — the page says so and the level stays; the bank's data
corrected, the second try makes the account «Подтверждённая»."""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.browser import a11y
from tests.browser.conftest import Problems, Server, _free_port, run_cli, server_env, serving
from tests.browser.steps import sign_in_by_phone
from tests.browser.test_social_walk import _at_provider, _quiet
from tests.flows.levels_support import SNILS
from tests.social.support import NodeProvider, node_provider

pytestmark = pytest.mark.browser

PASSWORD = "Maple-Compass-3148"
PHONE = "+79165550088"
BANK_PERSON = {"family_name": "Семенова", "given_name": "Анна", "middle_name": "Сергеевна", "birthdate": "1990-05-17"}


@pytest.fixture(scope="module")
def op_and_server(tmp_path_factory: pytest.TempPathFactory, width: int) -> Iterator[tuple[NodeProvider, Server]]:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    with node_provider(tmp_path_factory.mktemp("bank"), [f"{url}/settings/identity/bank/bank/callback"]) as op:
        workdir = tmp_path_factory.mktemp("serve-bank")
        env = server_env(workdir, url, {
            "DOSTUP_PRESET": "gosuslugi",
            "DOSTUP_SOCIAL__PROVIDERS": json.dumps([op.setting("bank", "Банк ID", confirms_identity=True)]),
        })
        with serving(workdir, port, env) as srv:
            made = run_cli(workdir, env, "admin", "create-user", "--phone", PHONE, "--password", PASSWORD)
            assert made.returncode == 0, made.stderr
            _standard(workdir / "d.db")
            yield op, srv


def _standard(db: object) -> None:
    """The customer's profile as a verifier left it: «Стандартная», names, birth date, SNILS, passport."""
    conn = sqlite3.connect(str(db))
    try:
        with conn:
            conn.execute("UPDATE accounts SET family_name = 'Семёнова', given_name = 'Анна', middle_name = 'Сергеевна', "
                         "snils = ? WHERE phone = ?", (SNILS, PHONE))
            (account_id,) = conn.execute("SELECT id FROM accounts WHERE phone = ?", (PHONE,)).fetchone()
            conn.execute("INSERT INTO identity_profiles (account_id, level, no_middle_name, birth_date, passport_series, "
                         "passport_number, updated_at) VALUES (?, 2, 0, '1990-05-17', '4508', '123456', "
                         "'2026-01-01 00:00:00.000000')", (account_id,))
    finally:
        conn.close()


@pytest.fixture(scope="module")
def server(op_and_server: tuple[NodeProvider, Server]) -> Server:
    return op_and_server[1]


@pytest.fixture
def op(op_and_server: tuple[NodeProvider, Server]) -> NodeProvider:
    return op_and_server[0]


def _to_bank_and_back(page: Page, server: Server, login: str) -> None:
    """Press the bank's button; at the bank sign in and agree where it asks (a second visit may remember both)."""
    before = page.url
    page.get_by_role("button", name="Подтвердить личность через Банк ID").click()
    page.wait_for_url(lambda url: url != before)
    if not page.url.startswith(server.url):
        if page.locator("input[name=login]").count():
            _at_provider(page, login)
        else:
            a11y.not_ours(page)
            page.locator("button[type=submit]").click()


def test_a_standard_customer_confirms_identity_through_the_bank(page: Page, server: Server, op: NodeProvider,
                                                                problems: Problems) -> None:
    login = op.person(f"walker-{page.viewport_size['width'] if page.viewport_size else 0}",
                      verified_claims={"verification": {"trust_framework": "ru_bank"},
                                       "claims": {**BANK_PERSON, "birthdate": "1990-05-18"}})
    sign_in_by_phone(page, PHONE[2:], PASSWORD)
    expect(page).to_have_url(f"{server.url}/cabinet")
    a11y.check(page)
    page.get_by_role("link", name="Подтвердить личность онлайн через банк").click()
    expect(page.get_by_role("heading", name="Подтверждение личности онлайн через банк")).to_be_visible()
    expect(page.get_by_text("После проверки данных вы сразу получите подтверждённую учётную запись")).to_be_visible()
    a11y.check(page)

    _to_bank_and_back(page, server, login)
    expect(page).to_have_url(re.compile(r"/settings/identity/bank/bank/callback\?"))
    expect(page.get_by_role("alert")).to_contain_text("не совпадают с данными вашей стандартной учётной записи")
    expect(page.get_by_text("Стандартная", exact=False).first).to_be_visible()
    a11y.check(page)

    op.person(login, verified_claims={"verification": {"trust_framework": "ru_bank"}, "claims": BANK_PERSON})
    _to_bank_and_back(page, server, login)
    expect(page).to_have_url(f"{server.url}/settings/identity/bank?confirmed=1")
    expect(page.get_by_text("Личность подтверждена. Статус учётной записи")).to_be_visible()
    expect(page.get_by_role("button", name="Подтвердить личность через Банк ID")).to_have_count(0)
    a11y.check(page)
    # the mismatch page answered 409: Chromium logs that status; nothing else may be logged
    problems.console_errors[:] = [m for m in problems.console_errors if "status of 409" not in m]
    _quiet(problems)
