"""The operator console's account card, block and unblock (SPEC §4.14), over the API with staff
bearer tokens, on both backends: a blocked customer cannot sign in by any surface and their
sessions die at once; unblocking gives the account back; every call is audited with its reason;
who may act on whom; bad input is a clear 4xx that changes nothing."""

from __future__ import annotations

from sqlalchemy import select

from dostup.persistence.models import Account, SecurityEvent
from tests.factories import PASSWORD, make_account
from tests.flows.test_operator_search import REASON, _audit, _staff
from tests.support import ApiSurface, UiSurface

BASE = "/api/v1/admin/accounts"


async def _state(services, account_id: str) -> str:
    async with services.db.read() as s:
        return (await s.execute(select(Account.state).where(Account.id == account_id))).scalar_one()


async def test_a_blocked_customer_is_shut_out_at_once_and_unblocking_gives_the_account_back(client_factory, services):
    staff = client_factory()
    headers = await _staff(staff, services, 350, "operator")
    made = await make_account(services, 351, "klient@example.ru")
    api, page = ApiSurface(client_factory()), UiSurface(client_factory())
    assert (await api.login(method="phone", phone=made.phone, password=PASSWORD)).ok
    assert (await page.login(method="phone", phone=made.phone, password=PASSWORD)).ok
    bearer = {"Authorization": f"Bearer {api.token}"}
    assert (await api.client.get("/api/v1/whoami", headers=bearer)).status_code == 200

    card = await staff.post(f"{BASE}/{made.id}/card", json={"reason": REASON}, headers=headers)
    assert card.status_code == 200, card.text
    body = card.json()
    assert (body["state"], body["phone"], body["phone_confirmed"], body["live_sessions"]) == ("active", made.phone, True, 2)
    assert body["events"][0]["kind"] == "login" and body["events"][0]["outcome"] == "success"
    assert (body["companies"], body["contracts"]) == ([], [])

    r = await staff.post(f"{BASE}/{made.id}/block", json={"reason": REASON}, headers=headers)
    assert r.status_code == 204, r.text
    assert await _state(services, made.id) == "blocked"
    assert (await api.client.get("/api/v1/whoami", headers=bearer)).status_code == 401  # the session is dead now
    assert (await page.client.get("/cabinet")).status_code in (302, 303)
    for surface in (ApiSurface(client_factory()), UiSurface(client_factory())):
        wrong = await surface.login(method="phone", phone=made.phone, password="Wrong-Password-1")
        assert not wrong.ok and "заблокирована" not in wrong.message  # no oracle without the password
        right = await surface.login(method="phone", phone=made.phone, password=PASSWORD)
        assert not right.ok and right.message == "Учётная запись заблокирована. Обратитесь в службу поддержки"
        assert right.status == 403, right.status
    again = await staff.post(f"{BASE}/{made.id}/block", json={"reason": REASON}, headers=headers)
    assert again.status_code == 409 and again.json()["error"]["message"] == "Учётная запись уже заблокирована"
    blocked_card = (await staff.post(f"{BASE}/{made.id}/card", json={"reason": REASON}, headers=headers)).json()
    assert (blocked_card["state"], blocked_card["live_sessions"]) == ("blocked", 0)

    r = await staff.post(f"{BASE}/{made.id}/unblock", json={"reason": "Клиент подтвердил личность в офисе"},
                         headers=headers)
    assert r.status_code == 204
    assert (await api.client.get("/api/v1/whoami", headers=bearer)).status_code == 401  # ended sessions stay ended
    assert (await ApiSurface(client_factory()).login(method="phone", phone=made.phone, password=PASSWORD)).ok
    assert (await staff.post(f"{BASE}/{made.id}/unblock", json={"reason": REASON}, headers=headers)).status_code == 409

    trail = [(a.action, a.detail.get("account")) for a in await _audit(services)]
    assert trail == [("view", made.id), ("block", made.id), ("view", made.id), ("unblock", made.id)]
    async with services.db.read() as s:
        kinds = list((await s.execute(select(SecurityEvent.kind).where(SecurityEvent.account_id == made.id)
                                      .order_by(SecurityEvent.created_at))).scalars())
    assert "account_blocked" in kinds and "account_unblocked" in kinds


async def test_who_may_act_on_whom(client_factory, services):
    operator, admin = client_factory(), client_factory()
    op_headers = await _staff(operator, services, 360, "operator")
    admin_headers = await _staff(admin, services, 361, "admin")
    await _staff(client_factory(), services, 362, "operator")
    async with services.db.read() as s:
        ids = {a.phone: a.id for a in (await s.execute(select(Account))).scalars()}
    op_id, admin_id = ids["+79120000360"], ids["+79120000361"]
    second_op = ids["+79120000362"]
    for headers, target in ((op_headers, second_op), (op_headers, op_id), (op_headers, admin_id),
                            (admin_headers, admin_id)):
        r = await (operator if headers is op_headers else admin).post(f"{BASE}/{target}/block", json={"reason": REASON},
                                                                     headers=headers)
        assert r.status_code == 403 and r.json()["error"]["code"] == "not_allowed", (target, r.text)
    r = await admin.post(f"{BASE}/{second_op}/block", json={"reason": REASON}, headers=admin_headers)
    assert r.status_code == 204
    assert await _state(services, second_op) == "blocked" and await _state(services, op_id) == "active"


async def test_bad_input_and_strangers_get_4xx_and_change_nothing(client_factory, services):
    staff = client_factory()
    headers = await _staff(staff, services, 370, "operator")
    made = await make_account(services, 371)
    for body in ({}, {"reason": ""}, {"reason": "  x "}, {"reason": "я" * 301}):
        r = await staff.post(f"{BASE}/{made.id}/block", json=body, headers=headers)
        assert r.status_code == 422 and r.json()["error"]["field"] == "reason", (body, r.text)
    r = await staff.post(f"{BASE}/{made.id}/block", json={"reason": "я" * 1001}, headers=headers)
    assert r.status_code == 422
    r = await staff.post(f"{BASE}/{made.id}/block", content=b"{nope", headers={**headers, "Content-Type": "application/json"})
    assert r.status_code in (400, 422)
    r = await staff.post(f"{BASE}/nobody/block", json={"reason": REASON}, headers=headers)
    assert r.status_code == 404 and r.json()["error"]["message"] == "Учётная запись не найдена"
    assert (await staff.post(f"{BASE}/nobody/card", json={"reason": REASON}, headers=headers)).status_code == 404
    customer = ApiSurface(client_factory())
    assert (await customer.login(method="phone", phone=made.phone, password=PASSWORD)).ok
    r = await customer.client.post(f"{BASE}/{made.id}/block", json={"reason": REASON},
                                   headers={"Authorization": f"Bearer {customer.token}"})
    assert r.status_code == 403
    assert (await client_factory().post(f"{BASE}/{made.id}/block", json={"reason": REASON})).status_code == 401
    assert await _state(services, made.id) == "active"
    assert await _audit(services) == []


async def test_staff_signed_in_with_a_password_alone_are_refused(client_factory, services):
    from dostup.admin.users import create_user
    from tests.flows.helpers import phone_e164

    made = await make_account(services, 381)
    calls = {"operator": [("post", f"{BASE}/{made.id}/block", {"reason": REASON}),
                          ("post", f"{BASE}/search", {"by": "phone", "value": made.phone, "reason": REASON})],
             "admin": [("post", f"{BASE}/{made.id}/card", {"reason": REASON}), ("get", "/api/v1/admin/oidc/clients", None),
                       ("post", "/api/v1/admin/users/import", {"csv": "phone\n+79120003899\n"})]}
    for n, role in ((380, "operator"), (382, "admin")):
        await create_user(services.settings, phone=phone_e164(n), password=PASSWORD, login=None, email=None,
                          country="RU", role=role, now=services.clock.now())
        staff = ApiSurface(client_factory())
        assert (await staff.login(method="phone", phone=phone_e164(n), password=PASSWORD)).ok  # no second factor yet
        bearer = {"Authorization": f"Bearer {staff.token}"}
        for method, url, body in calls[role]:
            r = await staff.client.request(method, url, json=body, headers=bearer)
            assert r.status_code == 403 and r.json()["error"]["code"] == "second_factor_required", (role, url, r.text)
    assert await _state(services, made.id) == "active"
    assert await _audit(services) == []


async def test_support_removes_a_lost_second_factor_and_the_customer_is_told(client_factory, services):
    from dostup.persistence.models import Credential, OutboxMessage
    from tests.factories import staff_bearer
    from tests.flows.helpers import phone_e164

    staff = client_factory()
    headers = await _staff(staff, services, 391, "operator")
    customer = client_factory()
    bearer = await staff_bearer(customer, services, 392, "customer")  # a customer with TOTP, signed in with it
    async with services.db.read() as s:
        account_id = (await s.execute(select(Account.id).where(Account.phone == phone_e164(392)))).scalar_one()
    url = f"{BASE}/{account_id}/second-factor/reset"
    assert (await staff.post(url, json={"reason": ""}, headers=headers)).status_code == 422
    r = await staff.post(url, json={"reason": "Обращение 9001: утерян телефон, личность проверена в офисе"},
                         headers=headers)
    assert r.status_code == 204, r.text
    assert (await customer.get("/api/v1/whoami", headers=bearer)).status_code == 401  # every session ended
    async with services.db.read() as s:
        kinds = set((await s.execute(select(Credential.type).where(Credential.account_id == account_id))).scalars())
        notice = (await s.execute(select(OutboxMessage).where(OutboxMessage.kind == "second_factor_reset"))).scalar_one()
    assert not kinds & {"totp", "recovery_code", "passkey"}
    assert notice.to == phone_e164(392) and "служба поддержки" in notice.body
    signed = await customer.post("/api/v1/login", json={"method": "phone", "phone": phone_e164(392), "password": PASSWORD})
    assert signed.status_code == 200 and signed.json()["session"]["aal"] == 1  # the password alone, as before TOTP
    again = await staff.post(url, json={"reason": REASON}, headers=headers)
    assert again.status_code == 409 and again.json()["error"]["message"] == "У этой учётной записи нет второго фактора"
    assert [a.action for a in await _audit(services)] == ["reset_second_factor"]
    async with services.db.read() as s:
        events = set((await s.execute(select(SecurityEvent.kind).where(SecurityEvent.account_id == account_id))).scalars())
    assert "second_factor_reset" in events


async def test_the_card_lists_the_companies_and_contracts_cards_masked(client_factory, services):
    from tests.flows.test_operator_search import CARD, CONTRACT, INN, _customer

    staff = client_factory()
    headers = await _staff(staff, services, 395, "operator")
    account_id = await _customer(services)
    card = (await staff.post(f"{BASE}/{account_id}/card", json={"reason": REASON}, headers=headers)).json()
    assert card["companies"] == [{"kind": "legal", "name": "ООО «Ромашка»", "inn": INN, "confirmed": True}]
    assert sorted((c["kind"], c["number"]) for c in card["contracts"]) == [("card", "4276 **** **** 5679"),
                                                                          ("contract", CONTRACT)]
    assert CARD not in str(card)


async def test_an_administrator_reads_an_operators_trail_newest_first_by_pages(client_factory, services):
    import datetime as dt

    from dostup.core.crypto import random_id
    from dostup.persistence.models_admin import OperatorAction
    from tests.flows.helpers import phone_e164

    operator, admin = client_factory(), client_factory()
    op_headers = await _staff(operator, services, 396, "operator")
    admin_headers = await _staff(admin, services, 397, "admin")
    made = await make_account(services, 398)
    assert (await operator.post(f"{BASE}/{made.id}/block", json={"reason": REASON}, headers=op_headers)).status_code == 204
    async with services.db.read() as s:
        op_id = (await s.execute(select(Account.id).where(Account.phone == phone_e164(396)))).scalar_one()
    start = services.clock.now() - dt.timedelta(days=1)
    async with services.db.write() as s:
        s.add_all(OperatorAction(id=random_id(), operator_id=op_id, action="search", reason=f"Обращение {i}", ip="10.0.0.1",
                                 detail={"by": "phone"}, created_at=start + dt.timedelta(minutes=i)) for i in range(55))
    url = "/api/v1/admin/operator-actions"
    first = await admin.get(url, params={"operator_id": op_id}, headers=admin_headers)
    assert first.status_code == 200, first.text
    page = first.json()
    assert len(page["items"]) == 50 and page["items"][0]["action"] == "block" and page["items"][0]["reason"] == REASON
    assert page["items"][1]["reason"] == "Обращение 54"
    rest = (await admin.get(url, params={"operator_id": op_id, "before": page["next"]}, headers=admin_headers)).json()
    assert [i["reason"] for i in rest["items"]] == [f"Обращение {i}" for i in range(5, -1, -1)] and rest["next"] is None
    for params in ({}, {"operator_id": "../x"}, {"operator_id": op_id, "before": "garbage!"}):
        r = await admin.get(url, params=params, headers=admin_headers)
        assert r.status_code == 422, (params, r.text)
    assert (await operator.get(url, params={"operator_id": op_id}, headers=op_headers)).status_code == 403
