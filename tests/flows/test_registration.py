"""Registration (SPEC §4.1, kit preset) through the pages and the API."""

from __future__ import annotations

from sqlalchemy import func, select

from dostup.persistence.models import Account, Consent
from tests.flows.helpers import PASSWORD, phone_e164, register, registration_fields
from tests.support import last_code, outbox


async def test_registration_sends_code_then_confirming_it_signs_in(surface, services):
    phone = phone_e164(1)
    r = await surface.register(**await registration_fields(surface, phone))
    assert r.ok
    flow_id = r.data["flow_id"]
    assert (await surface.whoami()).status == 401  # not usable before the code
    msgs = [m for m in await outbox(surface.client) if m["to"] == phone]
    assert msgs and msgs[0]["channel"] == "sms" and msgs[0]["kind"] == "registration_code"
    assert msgs[0]["code"] in msgs[0]["text"]
    c = await surface.confirm(flow_id, await last_code(surface.client, phone))
    assert c.ok
    me = await surface.whoami()
    assert me.ok and me.data["account"]["phone"] == phone
    async with services.db.read() as s:
        consents = (await s.execute(select(Consent))).scalars().all()
    kinds = {(c.kind, c.granted) for c in consents}
    assert kinds == {("personal_data", True), ("marketing", False)}
    assert all(len(c.document_sha256) == 64 and c.ip and c.channel == surface.name for c in consents)


async def test_registered_account_can_sign_in_by_any_spelling_of_the_phone(surface, surface_factory):
    await register(surface, "+79123456789")
    for spelling in ("+7 912 345-67-89", "89123456789", "+79123456789"):
        other = surface_factory()
        r = await other.login(method="phone", phone=spelling, country="RU", password=PASSWORD)
        assert r.ok, (spelling, r.status, r.message)


async def test_wrong_code_is_refused_and_no_account_is_created(surface, services):
    phone = phone_e164(2)
    r = await surface.register(**await registration_fields(surface, phone))
    code = await last_code(surface.client, phone)
    wrong = "000000" if code != "000000" else "111111"
    c = await surface.confirm(r.data["flow_id"], wrong)
    assert c.status == 422 and c.field == "code"
    async with services.db.read() as s:
        assert (await s.execute(select(func.count()).select_from(Account))).scalar_one() == 0
