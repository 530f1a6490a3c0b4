"""«Консоль оператора» in the browser (SPEC §4.14), on both backends: an operator signed in with two factors
finds a customer, opens the card, blocks and unblocks the account and resets its second factor; with levels on,
answers the review queue — every step a POST carrying a reason that goes to the audit trail, through the same
use-cases as the staff API.  Customers get 404, a signed-out browser the sign-in, a staff session of one factor
403; bad input is a clear 4xx on the form that writes nothing."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import select

from dostup.admin.users import create_user
from dostup.persistence.models import Account
from tests.factories import PASSWORD, make_account, sign_in, staff_bearer, staff_browser
from tests.flows.helpers import phone_e164
from tests.flows.levels_support import GOSUSLUGI, PERSON, submit
from tests.flows.test_operator_search import REASON, _audit
from tests.support import ApiSurface, UiSurface


async def _console(client_factory: Any, services: Any, n: int = 710, role: str = "operator") -> UiSurface:
    headers = await staff_bearer(client_factory(), services, n, role)
    return await staff_browser(client_factory(), services, headers)


async def _post(browser: UiSurface, path: str, data: dict[str, str]) -> Any:
    return await browser.post_form(path, data, page="/operator")


def _state(html: str) -> str:
    m = re.search(r'<dd class="state">([^<]*)</dd>', html)
    assert m, html
    return m.group(1)


async def test_an_operator_finds_a_customer_opens_the_card_blocks_and_unblocks_in_the_browser(client_factory, services):
    console = await _console(client_factory, services)
    made = await make_account(services, 711, "klient711@example.ru")
    home = await console.client.get("/operator")
    assert home.status_code == 200 and "Консоль оператора" in home.text
    assert 'href="/operator"' in (await console.client.get("/settings")).text  # the menu leads staff there

    found = await _post(console, "/operator", {"by": "phone", "value": "8 912 000-07-11", "reason": REASON})
    assert found.status_code == 200, found.text
    assert "Найдено: 1" in found.text and f'data-account="{made.id}"' in found.text
    assert "8 912" not in str(found.url) and "+7912" not in str(found.url)  # nothing the customer said in a URL

    card = await _post(console, f"/operator/accounts/{made.id}", {"reason": REASON})
    assert card.status_code == 200 and _state(card.text) == "Активна" and made.phone in card.text

    blocked = await _post(console, f"/operator/accounts/{made.id}/block", {"reason": "Мошенничество, обращение 77"})
    assert blocked.status_code == 200, blocked.text
    assert "Учётная запись заблокирована, её сеансы завершены" in blocked.text and _state(blocked.text) == "Заблокирована"
    refused = await ApiSurface(client_factory()).login(method="phone", phone=made.phone, password=PASSWORD)
    assert refused.status == 403
    again = await _post(console, f"/operator/accounts/{made.id}/block", {"reason": "Ещё раз"})
    assert again.status_code == 409 and "Учётная запись уже заблокирована" in again.text

    back = await _post(console, f"/operator/accounts/{made.id}/unblock", {"reason": "Клиент пришёл в офис"})
    assert back.status_code == 200 and _state(back.text) == "Активна"
    assert (await ApiSurface(client_factory()).login(method="phone", phone=made.phone, password=PASSWORD)).ok

    no_factor = await _post(console, f"/operator/accounts/{made.id}/second-factor-reset", {"reason": "Потерял телефон"})
    assert no_factor.status_code == 409 and _state(no_factor.text) == "Активна"  # the card, with why not

    actions = [(a.action, a.reason) for a in await _audit(services)]
    assert ("search", REASON) in actions and ("block", "Мошенничество, обращение 77") in actions
    assert ("unblock", "Клиент пришёл в офис") in actions
    assert sum(1 for a, _ in actions if a == "view") >= 4  # every page that showed the card was recorded


@pytest.mark.parametrize(("data", "field", "message"), [
    ({"by": "phone", "value": "8 912 000-07-11", "reason": ""}, "reason", "Укажите причину поиска"),
    ({"by": "phone", "value": "8 912 000-07-11", "reason": "ab"}, "reason", "Укажите причину поиска"),
    ({"by": "phone", "value": "8 912 000-07-11", "reason": "x" * 301}, "reason", "не длиннее 300"),
    ({"by": "phone", "value": "12abc", "reason": REASON}, "value", None),
    ({"by": "snils", "value": "123-456-789 00", "reason": REASON}, "value", None),
    ({"by": "passport", "value": "4510 123456", "reason": REASON}, "by", "Выберите, что искать"),
    ({"by": "", "value": "x", "reason": REASON}, "by", "Выберите, что искать"),
])
async def test_bad_searches_are_answered_on_the_form_and_record_nothing(client_factory, services, data, field, message):
    console = await _console(client_factory, services)
    r = await _post(console, "/operator", data)
    assert r.status_code == 422, r.text
    assert f'id="{field}-error"' in r.text and "Найдено" not in r.text
    if message:
        assert message in r.text
    assert [a for a in await _audit(services) if a.action == "search"] == []


async def test_bad_card_and_action_requests_are_clear_4xx_and_change_nothing(client_factory, services):
    console = await _console(client_factory, services)
    made = await make_account(services, 712)
    assert (await _post(console, f"/operator/accounts/{made.id}", {"reason": ""})).status_code == 422
    assert (await _post(console, "/operator/accounts/nobody", {"reason": REASON})).status_code == 404
    assert (await _post(console, f"/operator/accounts/{made.id}/delete", {"reason": REASON})).status_code == 404
    assert (await _post(console, f"/operator/accounts/{made.id}/block", {"reason": ""})).status_code == 422
    assert (await _post(console, f"/operator/accounts/{made.id}/block", {"reason": "x" * 301})).status_code == 422
    no_csrf = await console.client.post(f"/operator/accounts/{made.id}/block", data={"reason": REASON})
    assert no_csrf.status_code == 403
    async with services.db.read() as s:
        assert (await s.execute(select(Account.state).where(Account.id == made.id))).scalar_one() == "active"
    assert [a.action for a in await _audit(services) if a.action == "block"] == []


async def test_the_console_is_for_staff_signed_in_with_two_factors_only(client_factory, services):
    signed_out = await client_factory().get("/operator")
    assert signed_out.status_code in (302, 303) and signed_out.headers["location"].startswith("/login")
    customer = UiSurface(client_factory())
    made = await make_account(services, 713)
    await sign_in(customer, made.phone)
    assert (await customer.client.get("/operator")).status_code == 404
    assert 'href="/operator"' not in (await customer.client.get("/settings")).text
    assert (await customer.post_form("/operator", {"by": "phone", "value": made.phone, "reason": REASON},
                                     page="/cabinet")).status_code == 404
    one_factor = UiSurface(client_factory())
    phone = phone_e164(714)
    await create_user(services.settings, phone=phone, password=PASSWORD, login=None, email=None, country="RU",
                      role="operator", now=services.clock.now())
    await sign_in(one_factor, phone)
    refused = await one_factor.client.get("/operator")
    assert refused.status_code == 403 and "Сотрудникам нужен вход с двумя факторами" in refused.text
    assert await _audit(services) == []


@pytest.mark.parametrize("settings_overrides", [GOSUSLUGI])
async def test_the_review_queue_in_the_browser_approves_a_profile(client_factory, services):
    customer = UiSurface(client_factory())
    made = await make_account(services, 715, "c715@example.ru")
    await sign_in(customer, made.phone)
    assert (await submit(customer, **PERSON)).ok
    console = await _console(client_factory, services, 716)
    empty_reason = await _post(console, "/operator/verifications", {"reason": ""})
    assert empty_reason.status_code == 422
    queue = await _post(console, "/operator/verifications", {"reason": REASON})
    assert queue.status_code == 200, queue.text
    m = re.search(r'data-request="([^"]+)"', queue.text)
    assert m and PERSON["passport_division_code"] in queue.text
    unexplained = await _post(console, f"/operator/verifications/{m.group(1)}/reject", {"reason": ""})
    assert unexplained.status_code == 422
    done = await _post(console, f"/operator/verifications/{m.group(1)}/approve", {"reason": "Паспорт сверен"})
    assert done.status_code == 200 and "Данные подтверждены" in done.text
    assert "Заявок, ожидающих проверки, нет" in done.text
    again = await _post(console, f"/operator/verifications/{m.group(1)}/approve", {"reason": "Паспорт сверен"})
    assert again.status_code == 409
    card = await _post(console, f"/operator/accounts/{made.id}", {"reason": REASON})
    assert "Стандартная учётная запись" in card.text and "Подтвердить личность" in card.text


async def test_the_queue_is_404_where_levels_are_off(client_factory, services):
    """As the customers' side: where levels are off nobody's level is checked or confirmed, by page or API."""
    staff = client_factory()
    headers = await staff_bearer(staff, services, 717, "operator")
    console = await staff_browser(client_factory(), services, headers)
    made = await make_account(services, 718)
    assert (await _post(console, "/operator/verifications", {"reason": REASON})).status_code == 404
    assert (await _post(console, f"/operator/accounts/{made.id}/confirm-identity", {"reason": REASON})).status_code == 404
    for path in ("/api/v1/admin/verifications/pending", f"/api/v1/admin/accounts/{made.id}/confirm-identity",
                 "/api/v1/admin/verifications/x/approve"):
        assert (await staff.post(path, json={"reason": REASON}, headers=headers)).status_code == 404, path
    assert "Заявки на проверку данных" not in (await console.client.get("/operator")).text


@pytest.mark.parametrize("settings_overrides", [GOSUSLUGI])
async def test_the_print_queue_in_the_browser_shows_the_codes_and_marks_them_printed(client_factory, services):
    from tests.flows.test_levels_letter import ADDRESS, _customer, enter, letters, order

    customers: dict[str, UiSurface] = {}
    for n in range(3):
        customer = UiSurface(client_factory())
        customers[await _customer(services, customer, 720 + n)] = customer
        assert (await order(customer, **ADDRESS)).ok
    console = await _console(client_factory, services, 730)
    assert (await _post(console, "/operator/letters", {"reason": ""})).status_code == 422
    queue = await _post(console, "/operator/letters", {"reason": REASON})
    assert queue.status_code == 200, queue.text
    ids = re.findall(r'data-letter="([^"]+)"', queue.text)
    codes = re.findall(r"<code>(\d+)</code>", queue.text)
    assert len(ids) == len(codes) == 3 and "170100, Тверская область, г. Тверь" in queue.text
    one = await _post(console, "/operator/letters/printed", {"reason": REASON, "letters": ids[0]})
    assert one.status_code == 200 and "Отмечено напечатанными: 1" in one.text
    assert ids[0] not in one.text and len(re.findall(r'data-letter="', one.text)) == 2
    rest = await _post(console, "/operator/letters/printed", {"reason": REASON, "letters": " ".join(ids)})
    assert "Отмечено напечатанными: 2" in rest.text and "Писем, ожидающих печати, нет" in rest.text
    assert not any((r.data or {}).get("code_sealed") for r in await letters(services))  # printed: only the hash left
    unexplained = await _post(console, "/operator/letters/printed", {"reason": "", "letters": ids[0]})
    assert unexplained.status_code == 422
    first = next(r for r in await letters(services) if r.id == ids[0])
    assert (await enter(customers[first.account_id], codes[0])).ok  # the code the console showed is the letter's
    actions = [a.action for a in await _audit(services)]
    assert actions.count("letter_queue") >= 3 and actions.count("letters_printed") == 2, actions


async def test_the_print_queue_is_404_where_levels_are_off(client_factory, services):
    console = await _console(client_factory, services)
    assert (await _post(console, "/operator/letters", {"reason": REASON})).status_code == 404
    assert "Письма с кодом" not in (await console.client.get("/operator")).text


async def _account_id(services: Any, n: int) -> str:
    async with services.db.read() as s:
        return (await s.execute(select(Account.id).where(Account.phone == phone_e164(n)))).scalar_one()


async def test_an_administrator_reads_an_operators_trail_from_the_card(client_factory, services):
    operator = await _console(client_factory, services, 720)
    made = await make_account(services, 721)
    await _post(operator, "/operator", {"by": "phone", "value": "8 912 000-07-21", "reason": "Звонок клиента 5"})
    await _post(operator, f"/operator/accounts/{made.id}/block", {"reason": "Мошенничество, обращение 78"})
    operator_id = await _account_id(services, 720)

    admin = await _console(client_factory, services, 722, role="admin")
    card = await _post(admin, f"/operator/accounts/{operator_id}", {"reason": "Проверка работы оператора"})
    assert card.status_code == 200 and f'href="/operator/staff/{operator_id}/actions"' in card.text
    page = await admin.client.get(f"/operator/staff/{operator_id}/actions")
    assert page.status_code == 200, page.text
    assert "Журнал действий оператора" in page.text and "(оператор)" in page.text
    rows = re.findall(r'<tr class="trail-action" data-action="([a-z_]+)">', page.text)
    assert set(rows) == {"search", "view", "block"}  # the block's card shown again is a view
    assert "Мошенничество, обращение 78" in page.text and f"учётная запись {made.id}" in page.text
    assert "поиск по полю «Номер телефона»: " in page.text and "найдено: 1" in page.text
    assert "Блокировка" in page.text and "Поиск клиента" in page.text
    customer_card = await _post(admin, f"/operator/accounts/{made.id}", {"reason": "Проверка работы оператора"})
    assert "/actions" not in customer_card.text  # a customer has no trail to open

    nothing = await admin.client.get(f"/operator/staff/{await _account_id(services, 722)}/actions")
    assert nothing.status_code == 200 and "Действий в консоли пока нет" not in nothing.text  # the admin's own views
    assert (await admin.client.get("/operator/staff/nobody/actions")).status_code == 404
    bad = await admin.client.get(f"/operator/staff/{operator_id}/actions?before=not-a-cursor")
    assert bad.status_code == 422 and "<tr" not in bad.text
    assert (await operator.client.get(f"/operator/staff/{operator_id}/actions")).status_code == 403
    assert 'actions"' not in (await _post(operator, f"/operator/accounts/{made.id}", {"reason": REASON})).text


async def test_the_trail_pages_newest_first_fifty_at_a_time(client_factory, services):
    admin = await _console(client_factory, services, 723, role="admin")
    operator = await _console(client_factory, services, 724)
    made = await make_account(services, 725)
    for i in range(51):
        services.clock.advance(seconds=1)
        await _post(operator, f"/operator/accounts/{made.id}", {"reason": f"Обращение номер {i}"})
    url = f"/operator/staff/{await _account_id(services, 724)}/actions"
    first = await admin.client.get(url)
    assert first.text.count('class="trail-action"') == 50 and "Обращение номер 50" in first.text
    older = re.search(r'href="([^"]+before=[^"]+)"', first.text)
    assert older, first.text
    second = await admin.client.get(older.group(1).replace("&amp;", "&"))
    assert second.text.count('class="trail-action"') == 1 and "Обращение номер 0<" in second.text
    assert "Более ранние действия" not in second.text
