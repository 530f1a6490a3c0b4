"""Account deletion (SPEC §4.11): re-authentication, erasure, tombstone, identifiers released."""

from __future__ import annotations

from sqlalchemy import select

from dostup.persistence.models import Account, Consent, OutboxMessage, SecurityEvent
from tests.flows.helpers import PASSWORD, phone_e164, register
from tests.support import ApiSurface, Surface, UiSurface


async def _delete(s: Surface, confirm: bool = True) -> int:
    if isinstance(s, UiSurface):
        resp = await s.post_form("/settings/delete", {"confirm": confirm}, "/settings/delete")
        return resp.status_code if resp.status_code != 303 else 303
    resp = await s.client.request("DELETE", "/api/v1/account", json={"confirm": confirm},
                                  headers={"Authorization": f"Bearer {s.token}"})
    return resp.status_code


async def _reauth(s: Surface) -> None:
    if isinstance(s, UiSurface):
        resp = await s.post_form("/reauth", {"password": PASSWORD, "return_to": "/settings/delete"}, "/reauth")
        assert resp.status_code == 303
        s.token = s.client.cookies.get("dostup_session")
        return
    resp = await s.client.post("/api/v1/reauth", json={"password": PASSWORD},
                               headers={"Authorization": f"Bearer {s.token}"})
    assert resp.status_code == 200
    s.token = resp.json()["token"]


async def test_deletion_erases_data_keeps_tombstone_and_releases_the_phone(surface, surface_factory, services, clock):
    phone = await register(surface, phone_e164(600))
    other = surface_factory()
    assert (await other.login(method="phone", phone=phone, password=PASSWORD)).ok

    clock.advance(minutes=16)
    if surface.name == "api":
        assert await _delete(surface) == 403  # needs a fresh sign-in
    else:
        page = await surface.client.get("/settings/delete")
        assert page.status_code == 303 and page.headers["location"].startswith("/reauth")
    await _reauth(surface)
    assert await _delete(surface, confirm=False) == 422
    status = await _delete(surface)
    assert status in (200, 204)

    assert (await surface.whoami()).status == 401
    assert (await other.whoami()).status == 401
    assert (await surface_factory().login(method="phone", phone=phone, password=PASSWORD)).status == 401
    async with services.db.read() as s:
        tomb = (await s.execute(select(Account))).scalars().one()
        assert tomb.state == "deleted" and tomb.phone is None and tomb.password_hash is None
        assert len((await s.execute(select(Consent))).scalars().all()) == 2  # consent history kept
        kinds = {e.kind for e in (await s.execute(select(SecurityEvent))).scalars()}
        assert {"registration", "account_deleted"} <= kinds
        for m in (await s.execute(select(OutboxMessage).where(OutboxMessage.account_id == tomb.id))).scalars():
            assert m.to != phone and m.code is None

    clock.advance(minutes=2)
    await services.store.delete(f"send-cooldown:sms:{phone}")  # Redis windows follow real time
    again = surface_factory()
    await register(again, phone)  # the phone registers anew
    async with services.db.read() as s:
        states = sorted(a.state for a in (await s.execute(select(Account))).scalars())
    assert states == ["active", "deleted"]


async def test_limited_session_cannot_delete(client_factory, services):
    from dostup.admin.users import create_user

    phone = phone_e164(601)
    await create_user(services.settings, phone=phone, password=PASSWORD, login=None, email=None,
                      country="RU", role="customer", now=services.clock.now())
    api = ApiSurface(client_factory())
    from tests.support import captcha_token, last_code

    await api.client.post("/api/v1/recovery", json={"phone": phone, "captcha": await captcha_token(api.client, "recover")})
    temp = await last_code(api.client, phone, "recovery_password")
    assert (await api.login(method="phone", phone=phone, password=temp)).ok
    assert await _delete(api) == 403


async def test_deleting_an_account_unlinks_its_contracts_and_removes_its_companies(client_factory, services):
    from sqlalchemy import func

    from dostup.persistence.models_companies import Company
    from dostup.persistence.models_contracts import ContractLink
    from tests.flows.contracts_support import CONTRACT, ok, seed_default, signed_in

    await seed_default(services)
    first = await signed_in(ApiSurface(client_factory()), services, 610)
    ok(await first.link("contract", CONTRACT, "secret", "1520.40"))
    assert first.s.token
    headers = {"Authorization": f"Bearer {first.s.token}"}
    client = first.s.client
    added = await client.post("/api/v1/companies", headers=headers, json={
        "kind": "individual", "name": "Иванов Иван", "email": "ivan@example.com"})
    assert added.status_code in (200, 201), added.text
    resp = await client.request("DELETE", "/api/v1/account", json={"confirm": True}, headers=headers)
    assert resp.status_code == 204
    async with services.db.read() as s:
        assert (await s.execute(select(func.count()).select_from(ContractLink))).scalar_one() == 0
        assert (await s.execute(select(func.count()).select_from(Company))).scalar_one() == 0
    other = await signed_in(ApiSurface(client_factory()), services, 611)
    ok(await other.link("contract", CONTRACT, "secret", "1520.40"))
