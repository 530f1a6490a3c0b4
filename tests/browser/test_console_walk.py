"""«Консоль оператора» in headless Chromium (kit preset), by the Russian labels an operator reads.

A member of staff (``dostup admin create-user --role admin``: an administrator does all an operator does)
turns on an authenticator app through the API, then signs in in the browser with the password and a
«Резервный код» on «Подтверждение входа», opens /operator, finds a customer «По номеру телефона» with a
reason, opens the card, blocks the account and unblocks it, each with its own reason, and reads what they
did in the audit trail — every page checked by axe (``a11y.check``) and quiet in the console.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import httpx
import pyotp
import pytest
from playwright.sync_api import Page, expect

from tests.browser import a11y
from tests.browser.conftest import Problems, Server, _free_port, run_cli, server_env, serving
from tests.browser.steps import sign_in_by_phone
from tests.browser.test_walk import _assert_page_was_quiet

pytestmark = pytest.mark.browser

OPERATOR = "+79165550188"
CUSTOMER = "+79165550189"
PASSWORD = "Quartz-Meadow-6025"
REASON = "Обращение 4521: клиент просит заблокировать кабинет"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, width: int) -> Iterator[Server]:
    workdir = tmp_path_factory.mktemp("serve-console")
    port = _free_port()
    env = server_env(workdir, f"http://127.0.0.1:{port}", {"DOSTUP_REQUIRE_COMPANY": "false"})
    for phone, role in ((OPERATOR, "admin"), (CUSTOMER, "customer")):
        made = run_cli(workdir, env, "admin", "create-user", "--phone", phone, "--password", PASSWORD, "--role", role)
        assert made.returncode == 0, made
    with serving(workdir, port, env) as srv:
        yield srv


def _recovery_code(server: Server) -> tuple[str, str]:
    """TOTP turned on for the staff member through the API: their account id, and one of the ten recovery
    codes it answers."""
    with httpx.Client(base_url=server.url, timeout=30) as api:
        first = api.post("/api/v1/login", json={"method": "phone", "phone": OPERATOR, "password": PASSWORD})
        auth = {"Authorization": f"Bearer {first.json()['session']['token']}"}
        started = api.post("/api/v1/settings/totp", headers=auth).json()
        code = pyotp.TOTP(started["secret"]).at(dt.datetime.now(dt.UTC))
        done = api.post("/api/v1/settings/totp/confirm", headers=auth, json={"flow_id": started["flow_id"], "code": code})
        assert done.status_code == 200, done.text
        return first.json()["account"]["id"], str(done.json()["codes"][0])


def _act(page: Page, button: str, reason: str) -> None:
    form = page.locator("form.console-action").filter(has=page.get_by_role("button", name=button, exact=True))
    form.get_by_label("Причина действия").fill(reason)
    form.get_by_role("button", name=button, exact=True).click()


def test_an_operator_signs_in_with_two_factors_finds_a_customer_and_blocks_then_unblocks(
        page: Page, server: Server, problems: Problems) -> None:
    staff_id, spare = _recovery_code(server)
    sign_in_by_phone(page, OPERATOR, PASSWORD, "/login?method=phone")
    expect(page.get_by_role("heading", name="Подтверждение входа")).to_be_visible()
    a11y.check(page)
    page.get_by_label("Резервный код").check()
    page.get_by_label("Код", exact=True).fill(spare)
    page.get_by_role("button", name="Подтвердить").click()
    expect(page.get_by_role("main").get_by_role("heading", name="Личный кабинет")).to_be_visible()
    a11y.check(page)

    page.goto("/operator")
    expect(page.get_by_role("heading", name="Консоль оператора")).to_be_visible()
    a11y.check(page)
    page.get_by_label("Причина", exact=True).first.fill("x")  # too short: the form says why, nothing is looked up
    page.get_by_label("Что искать").fill("8 916 555-01-89")
    page.get_by_role("button", name="Найти").click()
    expect(page.get_by_text("Укажите причину поиска")).to_be_visible()
    a11y.check(page)
    page.get_by_label("Искать по").select_option(label="Номер телефона")
    page.get_by_label("Причина", exact=True).first.fill(REASON)
    page.get_by_role("button", name="Найти").click()
    expect(page.get_by_role("heading", name="Найдено: 1")).to_be_visible()
    assert "555-01-89" not in page.url and "5550189" not in page.url
    a11y.check(page)

    page.get_by_role("button", name="Открыть карточку").click()
    expect(page.get_by_role("heading", name="Карточка клиента")).to_be_visible()
    expect(page.locator("dd.state")).to_have_text("Активна")
    a11y.check(page)
    _act(page, "Заблокировать", "Клиент просит по телефону")
    expect(page.get_by_role("main").get_by_role("status")).to_have_text("Учётная запись заблокирована, её сеансы завершены")
    expect(page.locator("dd.state")).to_have_text("Заблокирована")
    a11y.check(page)
    _act(page, "Разблокировать", "Клиент пришёл в офис с паспортом")
    expect(page.locator("dd.state")).to_have_text("Активна")
    a11y.check(page)
    page.goto(f"/operator/staff/{staff_id}/actions")  # an administrator's page: what this member of staff did
    expect(page.get_by_role("heading", name="Журнал действий оператора")).to_be_visible()
    expect(page.get_by_text("Что делал в консоли +7 *** ***-01-88 (администратор)")).to_be_visible()
    expect(page.locator("tr.trail-action")).to_have_count(6)  # the search, three card views, the block, the unblock
    expect(page.locator('tr[data-action="unblock"]')).to_contain_text("Клиент пришёл в офис с паспортом")
    a11y.check(page)
    # the one refused form on purpose (the short reason): Chromium logs its 422, nothing else may appear
    refused = [m for m in problems.console_errors if "status of 422" in m and m.endswith("/operator]")]
    assert len(refused) == 1, problems.console_errors
    problems.console_errors = [m for m in problems.console_errors if m not in refused]
    _assert_page_was_quiet(problems)
