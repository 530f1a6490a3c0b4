"""Social sign-in in headless Chromium against a real certified OpenID provider (panva's
oidc-provider, its development login and consent pages), by the Russian labels (issue 11 §4):

1. «Войти через Тестовый ID» → the provider → «Регистрация» prefilled, no password, consent, «Я не
   робот», SMS code → cabinet; «Выйти»; «Войти через Тестовый ID» again → cabinet;
2. an account with a password: «Настройки» → «Способы входа» → «Привязать Тестовый ID» → the
   provider → «Отвязать Тестовый ID».

Both pages' forms redirect to the provider: the site's CSP ``form-action`` lets them (a blocked
redirect would show as a console error).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser import a11y
from tests.browser.conftest import Problems, Server, _free_port, run_cli, server_env, serving
from tests.browser.test_walk import _assert_page_was_quiet, _latest_code, _solve_captcha
from tests.social.support import NodeProvider, node_provider

pytestmark = pytest.mark.browser

PASSWORD = "Maple-Compass-3148"


@pytest.fixture(scope="module")
def op_and_server(tmp_path_factory: pytest.TempPathFactory, width: int) -> Iterator[tuple[NodeProvider, Server]]:
    """A provider and a server of their own per width (as every walk's): each run signs up afresh."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    with node_provider(tmp_path_factory.mktemp("op"), [f"{url}/social/op/callback"]) as op:
        workdir = tmp_path_factory.mktemp("serve-social")
        env = server_env(
            workdir,
            url,
            {
                "DOSTUP_REQUIRE_COMPANY": "false",
                "DOSTUP_SOCIAL__PROVIDERS": json.dumps([op.setting("op", "Тестовый ID")]),
            },
        )
        with serving(workdir, port, env) as srv:
            yield op, srv


@pytest.fixture(scope="module")
def server(op_and_server: tuple[NodeProvider, Server]) -> Server:
    return op_and_server[1]


@pytest.fixture
def op(op_and_server: tuple[NodeProvider, Server]) -> NodeProvider:
    return op_and_server[0]


def _at_provider(page: Page, login: str) -> None:
    """oidc-provider's development pages: sign in with any login and password, then «Continue»."""
    expect(page.locator("input[name=login]")).to_be_visible()
    a11y.not_ours(page)
    page.locator("input[name=login]").fill(login)
    page.locator("input[name=password]").fill("any-password")
    page.locator("button[type=submit]").click()
    consent = page.locator("form input[name=prompt][value=consent]")
    expect(consent).to_have_count(1)
    a11y.not_ours(page)
    page.locator("button[type=submit]").click()


def _quiet(problems: Problems) -> None:
    """As every walk — but the provider's development pages ask Google Fonts, which this machine cannot
    resolve: those failures are the provider's, not ours (a CSP block of our forms would still show)."""
    problems.console_errors[:] = [m for m in problems.console_errors if "ERR_NAME_NOT_RESOLVED" not in m]
    _assert_page_was_quiet(problems)


def _whoami(page: Page) -> dict[str, object]:
    resp = page.request.get("/api/v1/whoami")
    assert resp.ok, resp.status
    return dict(resp.json())


def test_register_with_provider_sign_out_sign_in(
    page: Page, server: Server, op: NodeProvider, problems: Problems
) -> None:
    login = op.person(
        "walker",
        given_name="Вера",
        family_name="Орлова",
        email="vera@example.com",
        email_verified=True,
        phone_number="+79165551234",
        phone_number_verified=True,
    )
    page.goto("/login")
    a11y.check(page)
    page.get_by_role("button", name="Войти через Тестовый ID").click()
    _at_provider(page, login)

    # -- the preset's registration, prefilled by the provider, without a password ------------
    expect(page).to_have_url(re.compile(r"/registration/social\?flow="))
    expect(page.get_by_text("Регистрация через Тестовый ID")).to_be_visible()
    expect(page.get_by_label("Номер телефона")).to_have_value(re.compile(r"916"))
    expect(page.get_by_label("Пароль", exact=True)).to_have_count(0)
    a11y.check(page)
    page.get_by_role("checkbox", name=re.compile("согласие на обработку своих персональных данных")).check()
    _solve_captcha(page, problems)  # kit names a taken phone here, so «Я не робот» is asked as on the form
    page.get_by_role("button", name="Регистрация", exact=True).click()
    expect(page).to_have_url(re.compile(r"/registration/code\?flow="))
    a11y.check(page)
    page.get_by_label("Код подтверждения").fill(_latest_code(page, "+79165551234", "registration_code"))
    page.get_by_role("button", name="Продолжить").click()
    expect(page).to_have_url(f"{server.url}/cabinet")
    a11y.check(page)
    assert _whoami(page)["session"]["amr"] == ["fed"]  # type: ignore[index]

    page.get_by_role("main").get_by_role("button", name="Выйти").click()
    expect(page).to_have_url(re.compile(r"/login"))
    # -- sign in with the provider (its own session remembers the person and the consent) ------
    page.get_by_role("button", name="Войти через Тестовый ID").click()
    expect(page).to_have_url(f"{server.url}/cabinet")
    who = _whoami(page)
    assert who["account"]["phone"] == "+79165551234"  # type: ignore[index]
    _quiet(problems)


def test_link_in_settings_and_unlink(browser: Browser, server: Server, op: NodeProvider, problems: Problems) -> None:
    made = run_cli(
        server.workdir,
        server_env(server.workdir, server.url),
        "admin",
        "create-user",
        "--phone",
        "+79165550077",
        "--password",
        PASSWORD,
    )
    assert made.returncode == 0, made.stderr
    context = browser.new_context(base_url=server.url, locale="ru-RU")  # a fresh browser: no provider session
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.on("console", lambda m: problems.console_errors.append(m.text) if m.type == "error" else None)
    try:
        page.goto("/login")
        page.get_by_label("Номер телефона").fill("9165550077")
        page.get_by_label("Пароль", exact=True).fill(PASSWORD)
        page.get_by_role("button", name="Вход", exact=True).click()
        expect(page).to_have_url(f"{server.url}/cabinet")
        page.goto("/settings")
        page.get_by_role("link", name="Способы входа").click()
        expect(page.get_by_role("heading", name="Способы входа")).to_be_visible()
        page.get_by_role("button", name="Привязать Тестовый ID").click()
        _at_provider(page, op.person("linker", given_name="Лев"))
        expect(page).to_have_url(f"{server.url}/settings/social?done=linked")
        expect(page.get_by_text("Способ входа привязан.")).to_be_visible()
        page.get_by_role("button", name="Отвязать Тестовый ID").click()
        expect(page).to_have_url(f"{server.url}/settings/social?done=unlinked")
        expect(page.get_by_role("button", name="Привязать Тестовый ID")).to_be_visible()
        _quiet(problems)
    finally:
        context.close()
