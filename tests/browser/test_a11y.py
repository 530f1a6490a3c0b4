"""The cabinet on a 360 px phone, by keyboard alone and to a screen reader (headless Chromium, kit preset).

The walks (test_walk.py and the preset walks) check every page they visit with ``a11y.check``; this module
checks what a walk by mouse cannot see: the «Меню» button and the menu it folds (and the plain list without
JavaScript), the skip link, the focus order and its visible outline, a sign-in by keyboard alone, the phone
field's «+7 909 000-00-00» while typing, errors tied to their fields (``aria-invalid``,
``aria-describedby``), required fields, and the code page's timers speaking through a live region.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser import a11y
from tests.browser.conftest import Problems, Server, _free_port, run_cli, server_env, serving
from tests.browser.steps import sign_in_by_phone
from tests.browser.test_walk import _assert_page_was_quiet

pytestmark = pytest.mark.browser

PHONE_E164 = "+79165550177"
PHONE_SHOWN = "+7 916 555-01-77"
PASSWORD = "Quartz-Meadow-6025"
REFUSED = re.compile(r"status of 4\d\d")  # the refused forms on purpose; Chromium logs each such page


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, width: int) -> Iterator[Server]:
    """The kit cabinet (no company step) with one customer made by the operator."""
    workdir = tmp_path_factory.mktemp("serve-a11y")
    port = _free_port()
    env = server_env(workdir, f"http://127.0.0.1:{port}", {"DOSTUP_REQUIRE_COMPANY": "false"})
    made = run_cli(workdir, env, "admin", "create-user", "--phone", PHONE_E164, "--password", PASSWORD)
    assert made.returncode == 0, made
    with serving(workdir, port, env) as srv:
        yield srv


def _sign_in(page: Page) -> None:
    sign_in_by_phone(page, PHONE_E164, PASSWORD, "/login?method=phone")
    expect(page.get_by_role("main").get_by_role("heading", name="Личный кабинет")).to_be_visible()


def _focused(page: Page) -> dict[str, Any]:
    """What has the focus: its name, whether it shows an outline, where it is, and its place in the document."""
    found: dict[str, Any] = page.evaluate("""() => {
      const el = document.activeElement;
      const style = getComputedStyle(el);
      const box = el.getBoundingClientRect();
      const all = Array.from(document.querySelectorAll("*"));
      return {
        tag: el.tagName.toLowerCase(), id: el.id,
        name: (el.getAttribute("aria-label") || el.labels?.[0]?.textContent || el.textContent || "").trim(),
        outline: style.outlineStyle !== "none" && parseFloat(style.outlineWidth) >= 2,
        visible: box.width > 0 && box.height > 0 && box.bottom > 0 && box.right > 0
                 && box.left < innerWidth && box.top < innerHeight,
        index: all.indexOf(el),
      };
    }""")
    return found


def _tab_through(page: Page, limit: int = 40) -> list[dict[str, Any]]:
    """Tab from the top of the page until the focus leaves the document or ``limit`` stops; what was focused."""
    page.evaluate("() => { document.activeElement?.blur(); window.scrollTo(0, 0); }")
    seen: list[dict[str, Any]] = []
    for _ in range(limit):
        page.keyboard.press("Tab")
        current = _focused(page)
        if current["tag"] == "body" or (seen and current["index"] <= seen[-1]["index"]):
            break
        seen.append(current)
    return seen


def test_the_menu_folds_on_a_phone_and_opens_by_keyboard(page: Page, width: int, problems: Problems) -> None:
    _sign_in(page)
    a11y.check(page)
    banner = page.get_by_role("banner")
    toggle = banner.get_by_role("button", name="Меню")
    settings = banner.get_by_role("link", name="Личная информация")
    if width > 760:  # a desktop: the whole navigation in one row, no menu button
        expect(toggle).to_be_hidden()
        expect(settings).to_be_visible()
        rows = page.evaluate("""() => new Set(Array.from(document.querySelectorAll("header.top nav li"),
                                                         li => Math.round(li.getBoundingClientRect().top))).size""")
        assert rows == 1, f"the navigation takes {rows} rows at {width} px"
        return
    expect(toggle).to_have_attribute("aria-expanded", "false")
    expect(toggle).to_have_attribute("aria-controls", "site-nav")
    expect(settings).to_be_hidden()
    toggle.focus()
    page.keyboard.press("Enter")
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(settings).to_be_visible()
    a11y.check(page)  # unfolded, it still fits the phone
    page.keyboard.press("Tab")  # into the menu, first item
    expect(banner.get_by_role("link", name="Личный кабинет", exact=True)).to_be_focused()
    page.keyboard.press("Escape")  # folds it and gives the focus back to the button
    expect(toggle).to_have_attribute("aria-expanded", "false")
    expect(toggle).to_be_focused()
    expect(settings).to_be_hidden()
    page.keyboard.press(" ")
    expect(settings).to_be_visible()
    settings.click()
    expect(page.get_by_role("main").get_by_role("heading", name="Личная информация")).to_be_visible()
    expect(page.locator("#site-nav a[href='/settings']")).to_have_attribute("aria-current", "page")
    a11y.check(page)
    _assert_page_was_quiet(problems)


def test_without_javascript_the_navigation_is_a_plain_list(browser: Browser, server: Server, width: int) -> None:
    context = browser.new_context(base_url=server.url, locale="ru-RU", java_script_enabled=False,
                                  viewport={"width": width, "height": 900})
    try:
        page = context.new_page()
        page.goto("/login")
        banner = page.get_by_role("banner")
        expect(banner.get_by_role("button", name="Меню")).to_be_hidden()
        nav = banner.get_by_role("navigation", name="Основное меню")
        expect(nav.get_by_role("listitem")).to_have_count(2)
        for name in ("Вход", "Регистрация"):
            expect(nav.get_by_role("link", name=name, exact=True)).to_be_visible()
        box = nav.bounding_box()
        assert box is not None and box["x"] + box["width"] <= width, box
    finally:
        context.close()


def test_keyboard_alone_skip_link_focus_order_and_sign_in(page: Page, server: Server, width: int,
                                                           problems: Problems) -> None:
    page.goto("/login?method=phone")
    a11y.check(page)
    order = _tab_through(page)
    names = [f["name"] for f in order]
    assert names[0] == "Перейти к основному содержанию", names
    assert order[0]["visible"], "the skip link stays off screen when focused"
    invisible = [f["name"] or f["tag"] for f in order if not f["visible"]]
    unmarked = [f["name"] or f["tag"] for f in order if not f["outline"]]
    assert not invisible, f"focused but not on screen: {invisible}"
    assert not unmarked, f"focused without a visible outline: {unmarked}"
    # The order is the reading order: the skip link, the header, then the form top to bottom.
    expected = ["Перейти к основному содержанию", "Личный кабинет КИТ", "По номеру телефона", "По логину", "Страна",
                "Номер телефона", "Пароль", "Запомнить меня", "Вход", "Регистрация", "Восстановить доступ"]
    rest = iter(names)
    assert all(any(n.startswith(e) for n in rest) for e in expected), names

    # The skip link moves the focus to the page's main part.
    page.evaluate("() => document.activeElement?.blur()")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    assert page.evaluate("() => document.activeElement.id") == "main"

    # Sign in without the mouse: Tab to the phone, type, Tab to the password, type, Enter.
    page.get_by_label("Страна").focus()
    page.keyboard.press("Tab")
    expect(page.get_by_label("Номер телефона")).to_be_focused()
    page.keyboard.type("9165550177")
    expect(page.get_by_label("Номер телефона")).to_have_value(PHONE_SHOWN)
    page.keyboard.press("Tab")
    expect(page.get_by_label("Пароль", exact=True)).to_be_focused()
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{server.url}/cabinet")
    a11y.check(page)
    _assert_page_was_quiet(problems)


@pytest.mark.parametrize(("typed", "shown"), [
    ("89165550177", PHONE_SHOWN),             # the trunk 8
    ("9165550177", PHONE_SHOWN),              # the national number
    ("+7 (916) 555 01 77", PHONE_SHOWN),      # any spelling of +7
    ("7916555", "+7 916 555"),                # part of it, as far as it goes
    ("+375 29 123-45-67", "+375 29 123-45-67"),  # another country's code: left as typed
])
def test_the_phone_field_formats_while_typing(page: Page, typed: str, shown: str) -> None:
    page.goto("/recovery")
    a11y.check(page)
    phone = page.get_by_label("Номер телефона")
    phone.press_sequentially(typed)
    expect(phone).to_have_value(shown)


def test_the_formatted_phone_signs_in_and_other_countries_stay_as_typed(page: Page, server: Server) -> None:
    page.goto("/login?method=phone")
    a11y.check(page)
    phone = page.get_by_label("Номер телефона")
    page.get_by_label("Страна").select_option("BY")
    phone.press_sequentially("8029 123-45-67")
    expect(phone).to_have_value("8029 123-45-67")  # Belarus: no +7 format
    page.get_by_label("Страна").select_option("RU")
    phone.fill("")
    phone.press_sequentially("8 916 555 0177")
    expect(phone).to_have_value(PHONE_SHOWN)
    page.get_by_label("Пароль", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Вход", exact=True).click()
    expect(page).to_have_url(f"{server.url}/cabinet")  # the server reads the formatted number
    a11y.check(page)


def test_errors_are_tied_to_their_fields_and_required_fields_marked(page: Page, problems: Problems) -> None:
    page.goto("/registration")
    required = {"Номер телефона": True, "Электронная почта (необязательно)": False, "Пароль": True,
                "Повторите пароль": True}
    for label, is_required in required.items():
        field = page.get_by_label(label, exact=True)
        if is_required:
            expect(field).to_have_attribute("required", "")
        else:
            expect(field).not_to_have_attribute("required", "")
    consent = page.get_by_role("checkbox", name=re.compile("согласие на обработку своих персональных данных"))
    expect(consent).to_have_attribute("required", "")
    stars = page.evaluate("""() => Array.from(document.querySelectorAll(".field.required > label"),
                                 l => getComputedStyle(l, "::after").content)""")
    assert len(stars) == 4 and all("*" in s for s in stars), stars  # phone, two passwords, consent
    expect(page.get_by_text("Поля, отмеченные *, обязательны для заполнения")).to_be_visible()
    expect(page.get_by_label("Электронная почта (необязательно)")).to_have_accessible_description(
        re.compile("код подтверждения придёт на почту"))
    a11y.check(page)

    page.get_by_role("button", name="Регистрация", exact=True).click()  # everything empty
    for label in ("Номер телефона", "Пароль"):
        field = page.get_by_label(label, exact=True)
        expect(field).to_have_attribute("aria-invalid", "true")
        expect(field).to_have_accessible_description(re.compile(r"\S"))
        described = field.get_attribute("aria-describedby") or ""
        error = page.locator(f"#{described.split()[-1]}")
        expect(error).to_be_visible()
        expect(error).to_have_class("error")
    expect(page.get_by_label("Номер телефона")).to_have_accessible_description("Введите номер телефона")
    expect(consent).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Электронная почта (необязательно)")).not_to_have_attribute("aria-invalid", "true")
    a11y.check(page)
    problems.console_errors = [m for m in problems.console_errors if not REFUSED.search(m)]
    _assert_page_was_quiet(problems)


def test_code_timers_count_down_and_speak_through_a_live_region(page: Page, problems: Problems) -> None:
    page.clock.install()
    _sign_in(page)
    a11y.check(page)
    page.goto("/settings/contacts")
    a11y.check(page)
    page.get_by_label("Новый адрес электронной почты").fill("timer@example.org")
    page.get_by_role("button", name="Получить код").last.click()
    expect(page).to_have_url(re.compile(r"/settings/contacts/confirm\?flow="))
    a11y.check(page)

    live = page.locator(".code-live")
    expect(live).to_have_attribute("aria-live", "polite")
    expect(live).to_have_text("")
    timer = page.get_by_role("timer").filter(has_text="Запросить новый код")
    expect(timer).to_have_text(re.compile(r"^Запросить новый код можно через [1-6]?\d с\.$"))
    before = int(re.findall(r"\d+", timer.inner_text())[0])
    page.clock.run_for(10_000)
    after = int(re.findall(r"\d+", timer.inner_text())[0])
    assert before - 13 <= after <= before - 9, (before, after)  # ten seconds on, give or take the real ones
    expect(live).to_have_text("")  # the ticks are not announced
    page.clock.run_for(55_000)
    expect(page.locator(".code-timer")).to_have_text("Можно запросить новый код")
    expect(live).to_have_text("Можно запросить новый код")

    expiry = page.locator(".code-expiry")
    expect(expiry).to_have_attribute("role", "timer")
    expect(expiry).to_contain_text("Код действует до")
    page.clock.run_for(3_600_000)
    expect(expiry).to_have_text("Срок действия кода истёк. Запросите новый код")
    expect(live).to_have_text("Срок действия кода истёк. Запросите новый код")
    _assert_page_was_quiet(problems)
