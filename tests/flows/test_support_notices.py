"""Support requests (SPEC §4.14): the customer hears when support answers or closes their request — an SMS (or
email) written to the outbox in the operator's unit of work, on the staff API and on the console page alike —
and these notices, being of the optional ``service`` kind, follow the customer's «Настройка уведомлений»."""

from __future__ import annotations

from typing import Any

import pytest

from dostup.core.context import Context
from tests.factories import staff_bearer, staff_browser
from tests.flows.helpers import phone_e164
from tests.flows.test_support import QUEUE, REASON, _customer, close, create
from tests.support import ApiSurface, outbox


async def _notices(client_factory: Any, kind: str) -> list[dict[str, Any]]:
    return [m for m in await outbox(client_factory()) if m["kind"] == kind]


async def _request(client_factory: Any, services: Any, n: int) -> tuple[ApiSurface, str, str]:
    api = ApiSurface(client_factory())
    account_id = await _customer(services, api, n)
    made = await create(api, topic="access", text="Не приходит SMS с кодом")
    assert made.ok, made
    return api, account_id, made.data["id"]


async def test_closing_by_the_staff_api_tells_the_customer_by_sms_once(client_factory, services):
    _api, _account, rid = await _request(client_factory, services, 740)
    staff = client_factory()
    headers = await staff_bearer(staff, services, 791, "operator")
    assert await _notices(client_factory, "support_closed") == []
    r = await staff.post(f"{QUEUE}/{rid}/close", json={"reason": REASON}, headers=headers)
    assert r.status_code == 204, r.text
    [notice] = await _notices(client_factory, "support_closed")
    assert notice["channel"] == "sms" and notice["to"] == phone_e164(740)
    assert "закрыла ваше обращение" in notice["text"] and "/support" in notice["text"]
    again = await staff.post(f"{QUEUE}/{rid}/close", json={"reason": REASON}, headers=headers)
    assert again.status_code == 409  # refused: its unit of work wrote nothing, no second notice
    assert len(await _notices(client_factory, "support_closed")) == 1


async def test_closing_on_the_console_page_tells_the_customer_too(client_factory, services):
    _api, _account, rid = await _request(client_factory, services, 741)
    browser = await staff_browser(client_factory(), services, await staff_bearer(client_factory(), services, 792,
                                                                                 "operator"))
    closed = await browser.post_form(f"/operator/support/{rid}/close", {"reason": REASON}, "/operator/support")
    assert closed.status_code == 303, closed.text
    [notice] = await _notices(client_factory, "support_closed")
    assert notice["channel"] == "sms" and notice["to"] == phone_e164(741)


async def test_answering_on_the_console_page_tells_the_customer(client_factory, services):
    _api, _account, rid = await _request(client_factory, services, 742)
    browser = await staff_browser(client_factory(), services, await staff_bearer(client_factory(), services, 793,
                                                                                 "operator"))
    done = await browser.post_form(f"/operator/support/{rid}/answer", {"reason": REASON, "text": "Проверьте номер"},
                                   "/operator/support")
    assert done.status_code == 200, done.text
    [notice] = await _notices(client_factory, "support_answered")
    assert notice["channel"] == "sms" and notice["to"] == phone_e164(742) and "Проверьте номер" not in notice["text"]


async def test_the_customer_closing_their_own_request_is_not_told_about_it(client_factory, services):
    api, _account, rid = await _request(client_factory, services, 743)
    assert (await close(api, rid)).ok
    assert await _notices(client_factory, "support_closed") == []


async def test_with_service_sms_off_the_notices_go_by_email_and_with_both_off_nowhere(client_factory, services):
    """«Настройка уведомлений»: the notices are of the optional ``service`` kind.  SMS off → the confirmed email;
    both off → no message (the answer still waits in the cabinet)."""
    _api, account_id, rid = await _request(client_factory, services, 744)
    await services.notification_settings.update(account_id, choices={"service": {"sms": False}},
                                                marketing_consent=None, ctx=Context())
    staff = client_factory()
    headers = await staff_bearer(staff, services, 794, "operator")
    r = await staff.post(f"{QUEUE}/{rid}/answer", json={"reason": REASON, "text": "Проверьте номер"}, headers=headers)
    assert r.status_code == 200, r.text
    [answered] = await _notices(client_factory, "support_answered")
    assert (answered["channel"], answered["to"]) == ("email", "c744@example.ru")
    await services.notification_settings.update(account_id, choices={"service": {"email": False}},
                                                marketing_consent=None, ctx=Context())
    assert (await staff.post(f"{QUEUE}/{rid}/close", json={"reason": REASON}, headers=headers)).status_code == 204
    assert await _notices(client_factory, "support_closed") == []
    assert len(await _notices(client_factory, "support_answered")) == 1


@pytest.mark.parametrize("settings_overrides", [{"DOSTUP_PRESET": "rostelecom"}])
async def test_a_customer_with_only_an_email_hears_of_the_closing_by_email(client_factory, services):
    from tests.factories import make_account
    from tests.flows.helpers import PASSWORD

    await make_account(services, None, "only.mail@example.ru")
    api = ApiSurface(client_factory())
    assert (await api.login(method="email", email="only.mail@example.ru", password=PASSWORD)).ok
    rid = (await create(api, topic="notifications", text="Письма не приходят")).data["id"]
    staff = client_factory()
    headers = await staff_bearer(staff, services, 795, "admin")
    assert (await staff.post(f"{QUEUE}/{rid}/close", json={"reason": REASON}, headers=headers)).status_code == 204
    [notice] = await _notices(client_factory, "support_closed")
    assert (notice["channel"], notice["to"]) == ("email", "only.mail@example.ru")
    assert "закрыла ваше обращение" in notice["text"]
