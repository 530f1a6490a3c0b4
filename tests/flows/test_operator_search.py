"""Operator search (SPEC §4.14: «search by phone, email, login, INN, SNILS, contract»; issue 13 §1's
operator search): an operator's bearer token finds a customer by what the customer tells support,
each search is written to the audit trail with who, when, why and what it showed, and everyone
else is refused.  JSON only (staff endpoints take no cookie), both backends."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import select

from dostup.accounts.contracts import number_key
from dostup.core.crypto import random_id
from dostup.identity.documents import snils_checksum
from dostup.persistence.models import Account
from dostup.persistence.models_admin import OperatorAction
from dostup.persistence.models_companies import Company
from dostup.persistence.models_contracts import ContractLink
from tests.factories import StaffHeaders, make_account, staff_bearer, staff_browser

URL = "/api/v1/admin/accounts/search"
SNILS = "112233445" + snils_checksum("112233445")
INN = "7707083893"  # a valid organisation INN (10 digits)
CONTRACT = "100200300400"
CARD = "4276380012345679"  # Luhn-valid
REASON = "Обращение №4521: клиент не помнит логин"


async def _staff(client: httpx.AsyncClient, services: Any, n: int, role: str) -> StaffHeaders:
    return await staff_bearer(client, services, n, role)


async def _customer(services: Any) -> str:
    """An account with every identifier an operator searches by."""
    made = await make_account(services, "+79161234567", "Anna.Petrova@Example.com", login="anna_p")
    now = services.clock.now()
    async with services.db.write() as s:
        account = await s.get(Account, made.id)
        assert account is not None
        account.snils, account.family_name, account.given_name = SNILS, "Петрова", "Анна"
        s.add(Company(id=random_id(), account_id=made.id, kind="legal", name="ООО «Ромашка»", inn=INN,
                      email="office@example.com", created_at=now, confirmed_at=now))
        for kind, number in (("contract", CONTRACT), ("card", CARD)):
            s.add(ContractLink(id=random_id(), account_id=made.id, registry_key=number_key(services.keyring, kind, number),
                               kind=kind, display=number if kind == "contract" else "4276 **** **** 5679", method="sms",
                               created_at=now))
    return made.id


async def _audit(services: Any) -> list[OperatorAction]:
    async with services.db.read() as s:
        return list((await s.execute(select(OperatorAction).order_by(OperatorAction.created_at))).scalars())


@pytest.mark.parametrize("role", ["operator", "admin"])
async def test_staff_find_a_customer_by_each_identifier_as_the_customer_types_it(client_factory, services, role):
    customer = await _customer(services)
    await make_account(services, "+79169990000")  # someone else
    client = client_factory()
    headers = await _staff(client, services, 501, role)
    typed = {"phone": "8 (916) 123-45-67", "email": "anna.petrova@EXAMPLE.com", "login": "Anna_P",
             "snils": f"{SNILS[:3]}-{SNILS[3:6]}-{SNILS[6:9]} {SNILS[9:]}", "inn": INN, "contract": CONTRACT,
             "card": "4276 3800 1234 5679"}
    for by, value in typed.items():
        r = await client.post(URL, json={"by": by, "value": value, "reason": REASON}, headers=headers)
        assert r.status_code == 200, (by, r.text)
        items = r.json()["items"]
        assert [i["id"] for i in items] == [customer], (by, items)
        assert items[0]["phone"] == "+79161234567" and items[0]["family_name"] == "Петрова"
        assert "snils" not in items[0]  # the card shows who it is, not their documents
    nobody = await client.post(URL, json={"by": "phone", "value": "+79160000001", "reason": REASON}, headers=headers)
    assert nobody.status_code == 200 and nobody.json()["items"] == []
    literal = await client.post(URL, json={"by": "contract", "value": "' OR 1=1; --", "reason": REASON}, headers=headers)
    assert literal.status_code == 200 and literal.json()["items"] == []  # looked up as typed, nothing more
    trail = await _audit(services)
    assert len(trail) == len(typed) + 2
    staff_id = trail[0].operator_id
    assert all(a.operator_id == staff_id and a.action == "search" and a.reason == REASON and a.ip for a in trail)
    assert [a.detail["by"] for a in trail] == [*typed, "phone", "contract"]
    assert [a.detail["found"] for a in trail] == [[customer]] * len(typed) + [[], []]
    shown = {a.detail["by"]: a.detail["value"] for a in trail[:len(typed)]}
    assert shown["phone"] == "+7 *** ***-45-67" and shown["email"] == "a***@example.com"
    assert SNILS not in str(shown) and CARD not in str(shown)  # the trail masks what it records


async def test_bad_input_gets_a_field_error_and_writes_nothing(client_factory, services):
    client = client_factory()
    headers = await _staff(client, services, 502, "operator")
    cases = [
        ({"by": "passport", "value": "4510 123456", "reason": REASON}, "by"),
        ({"value": "+79161234567", "reason": REASON}, "by"),
        ({"by": "phone", "value": "", "reason": REASON}, "value"),
        ({"by": "phone", "value": "12", "reason": REASON}, "value"),
        ({"by": "phone", "value": "+7916123456\r\n7", "reason": REASON}, "value"),
        ({"by": "email", "value": "not-an-email", "reason": REASON}, "value"),
        ({"by": "login", "value": "a" * 200, "reason": REASON}, "value"),
        ({"by": "snils", "value": "112-233-445 00", "reason": REASON}, "value"),
        ({"by": "inn", "value": "7707083890", "reason": REASON}, "value"),
        ({"by": "inn", "value": "123", "reason": REASON}, "value"),
        ({"by": "card", "value": "4276 3800 1234 5670", "reason": REASON}, "value"),
        ({"by": "contract", "value": "1" * 65, "reason": REASON}, "value"),
        ({"by": "contract", "value": "100\x00200", "reason": REASON}, "value"),
        ({"by": "phone", "value": "+79161234567"}, "reason"),
        ({"by": "phone", "value": "+79161234567", "reason": "  \t "}, "reason"),
        ({"by": "phone", "value": "+79161234567", "reason": "x" * 301}, "reason"),
        ({"by": "phone", "value": "+79161234567", "reason": "x" * 1001}, "reason"),
        ({"by": ["phone"], "value": "+79161234567", "reason": REASON}, "by"),
        ({"by": "phone", "value": {"$ne": 1}, "reason": REASON}, "value"),
    ]
    for body, field in cases:
        r = await client.post(URL, json=body, headers=headers)
        assert r.status_code == 422, (body, r.text)
        error = r.json()["error"]
        assert error["field"] == field, (body, error)
        assert error["message"] and "Field required" not in error["message"], (body, error)
    both = await client.post(URL, json={"by": "phone", "value": "12"}, headers=headers)
    assert both.status_code == 422 and both.json()["error"]["field"] in ("value", "reason")
    assert (await client.post(URL, content=b"{nope", headers={**headers, "Content-Type": "application/json"})
            ).status_code == 400
    assert (await client.post(URL, content=b"x" * 70_000, headers={**headers, "Content-Type": "application/json"})
            ).status_code == 413
    assert await _audit(services) == []


async def test_customers_cookies_and_strangers_are_refused_and_the_value_never_rides_in_a_url(
    client_factory, services
):
    await _customer(services)
    body = {"by": "snils", "value": SNILS, "reason": REASON}
    customer = client_factory()
    r = await customer.post(URL, json=body, headers=await _staff(customer, services, 503, "customer"))
    assert r.status_code == 403 and r.json()["error"]["code"] == "operator_only"
    assert (await client_factory().post(URL, json=body)).status_code == 401
    browser = await staff_browser(client_factory(), services, await _staff(client_factory(), services, 504, "operator"))
    r = await browser.client.post(URL, json=body)  # the operator's own cabinet cookie, of two factors
    assert r.status_code == 403 and r.json()["error"]["code"] == "bearer_required"
    staff = client_factory()
    headers = await _staff(staff, services, 505, "operator")
    assert (await staff.get(URL, params=body, headers=headers)).status_code == 405
    assert await _audit(services) == []
