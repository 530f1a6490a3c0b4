"""Company profiles («Список компаний», SPEC §4.6; the kit seed) through the pages and the JSON API.

«На выбор предоставляется три типа профилей: юридическое лицо, ИП и Физическое лицо», each
confirmed by a code sent to its email; several per account; «Удалить» and add again — the FAQ's
way out when the code went to a mistyped address.  Each test runs on both surfaces and backends.
"""

from __future__ import annotations

import html
from typing import Any

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError

from dostup.persistence.models import OneTimeCode, OutboxMessage
from dostup.persistence.models_companies import Company
from dostup.presets import PRESETS
from tests.factories import make_user, signed_in
from tests.flows.helpers import phone_e164, register
from tests.flows.settings_support import account, events, shown
from tests.support import Result, Surface, UiSurface, _api_result, last_code

# Valid numbers (check digits verified by python-stdnum).
INN_10 = "7707083893"
KPP = "773601001"
OGRN = "1027700132195"
INN_12 = "500100732259"
OGRNIP = "304500116000157"

LEGAL = {"kind": "legal", "name": "ООО «Ромашка»", "inn": INN_10, "kpp": KPP, "ogrn": OGRN,
         "address": "г. Москва, ул. Ленина, д. 1", "email": "office@romashka.example"}
ENTREPRENEUR = {"kind": "entrepreneur", "name": "Иванов Иван Иванович", "inn": INN_12, "ogrnip": OGRNIP,
                "email": "ivanov@ip.example"}
INDIVIDUAL = {"kind": "individual", "name": "Петрова Анна Сергеевна", "inn": INN_12, "email": "anna@person.example"}


class Companies:
    """The company verbs over one surface; results look the same for both."""

    def __init__(self, surface: Surface) -> None:
        self.s = surface

    @property
    def ui(self) -> bool:
        return isinstance(self.s, UiSurface)

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.s.token}"} if self.s.token and not self.ui else {}

    async def _api(self, method: str, path: str, body: dict[str, Any] | None = None) -> Result:
        resp = await self.s.client.request(method, "/api/v1/companies" + path, json=body, headers=self._headers())
        return _api_result(resp)

    async def _form(self, path: str, data: dict[str, Any]) -> Result:
        assert isinstance(self.s, UiSurface)
        return self.s._result(await self.s.post_form(path, data, "/companies"))

    async def add(self, **fields: Any) -> Result:
        """``data["id"]`` names the new profile on success."""
        if self.ui:
            r = await self._form("/companies/new", fields)
            if r.ok:
                r.data["id"] = r.data["location"].split("/")[2]
            return r
        return await self._api("POST", "", fields)

    async def confirm(self, company_id: str, code: str) -> Result:
        if self.ui:
            return await self._form(f"/companies/{company_id}/confirm", {"code": code})
        return await self._api("POST", f"/{company_id}/confirm", {"code": code})

    async def resend(self, company_id: str) -> Result:
        if self.ui:
            return await self._form(f"/companies/{company_id}/resend", {})
        return await self._api("POST", f"/{company_id}/resend")

    async def delete(self, company_id: str) -> Result:
        if self.ui:
            return await self._form(f"/companies/{company_id}/delete", {})
        return await self._api("DELETE", f"/{company_id}")

    async def page(self, path: str) -> Any:
        return await self.s.client.get(path, headers=self._headers())

    async def listing(self) -> dict[str, Any]:
        """What the API reports (read with this surface's cookie or token)."""
        resp = await self.s.client.get("/api/v1/companies", headers=self._headers())
        assert resp.status_code == 200, resp.text
        return dict(resp.json())

    async def status(self, company_id: str) -> str:
        return next(c["status"] for c in (await self.listing())["companies"] if c["id"] == company_id)


async def _signed_in(surface: Surface, services: Any, n: int) -> Companies:
    return Companies(await signed_in(surface, services, n))


async def _added(me: Companies, fields: dict[str, Any]) -> tuple[str, str]:
    """Add a profile; returns its id and the code mailed to its address."""
    r = await me.add(**fields)
    assert r.ok, (r.status, r.field, r.message)
    return str(r.data["id"]), await last_code(me.s.client, fields["email"], kind="company_code")


async def _rows(services: Any) -> list[Company]:
    async with services.db.read() as s:
        return list((await s.execute(select(Company).order_by(Company.created_at))).scalars())


async def _keep_alive(me: Companies, clock: Any, minutes: int) -> None:
    """Let time pass without the 30-minute idle timeout ending the session."""
    while minutes > 0:
        step = min(20, minutes)
        clock.advance(minutes=step)
        minutes -= step
        assert (await me.s.whoami()).ok


async def _forget_cooldown(services: Any, backend: dict[str, str], email: str) -> None:
    if "DOSTUP_REDIS_URL" in backend:
        await services.store.delete(f"send-cooldown:email:{email}")  # Redis windows follow real time


def _wrong(code: str) -> str:
    return "000000" if code != "000000" else "111111"


# -- adding and confirming -------------------------------------------------------------------

@pytest.mark.parametrize("fields", [LEGAL, ENTREPRENEUR, INDIVIDUAL, {**INDIVIDUAL, "inn": ""}],
                         ids=["legal", "entrepreneur", "individual", "individual-without-inn"])
async def test_each_kind_is_added_unconfirmed_then_confirmed_by_the_code_sent_to_its_email(surface, services, fields):
    me = await _signed_in(surface, services, 1)
    r = await me.add(**fields)
    assert r.ok, (r.status, r.field, r.message)
    company_id = str(r.data["id"])
    assert await me.status(company_id) == "unconfirmed"

    page = await me.page("/companies")
    assert page.status_code == 200
    assert "Список компаний" in page.text and "Не подтверждена" in page.text and "Удалить" in page.text
    assert html.escape(fields["name"], quote=False) in page.text

    async with services.db.read() as s:
        mails = list((await s.execute(select(OutboxMessage).where(OutboxMessage.to == fields["email"]))).scalars())
    acc = await account(services, phone_e164(1))
    assert [(m.channel, m.kind, m.account_id) for m in mails] == [("email", "company_code", acc.id)]
    assert mails[0].code and mails[0].code in mails[0].body

    c = await me.confirm(company_id, mails[0].code)
    assert c.ok, (c.status, c.field, c.message)
    assert await me.status(company_id) == "confirmed"
    page = await me.page("/companies")
    assert "Подтверждена" in page.text and "Не подтверждена" not in page.text

    (row,) = await _rows(services)
    assert row.kind == fields["kind"] and row.name == fields["name"] and row.email == fields["email"]
    assert row.inn == (fields["inn"] or None) and row.confirmed_at is not None
    assert row.ogrn == fields.get("ogrn", fields.get("ogrnip"))
    kinds = {(e.kind, e.outcome) for e in await events(services, acc.id)}
    assert {("company_added", "success"), ("company_confirmed", "success")} <= kinds
    for e in await events(services, acc.id):  # masked email only, never the INN
        assert fields["email"] not in str(e.detail) and INN_12 not in str(e.detail) and INN_10 not in str(e.detail)
    added = (await events(services, acc.id, "company_added"))[0]
    assert added.detail["destination"] == fields["email"][0] + "***@" + fields["email"].split("@")[1]


async def test_several_profiles_per_account_each_with_its_own_code(surface, services):
    me = await _signed_in(surface, services, 2)
    legal_id, legal_code = await _added(me, LEGAL)
    services.clock.advance(seconds=1)  # listed in the order they were added
    ip_id, ip_code = await _added(me, ENTREPRENEUR)
    services.clock.advance(seconds=1)
    person_id, _ = await _added(me, INDIVIDUAL)
    # A code confirms its own profile only.
    if ip_code != legal_code:
        assert (await me.confirm(legal_id, ip_code)).status == 422
    assert (await me.confirm(ip_id, ip_code)).ok
    listing = await me.listing()
    assert [c["id"] for c in listing["companies"]] == [legal_id, ip_id, person_id]
    assert [c["status"] for c in listing["companies"]] == ["unconfirmed", "confirmed", "unconfirmed"]
    legal = listing["companies"][0]
    assert (legal["inn"], legal["kpp"], legal["ogrn"], legal["ogrnip"]) == (INN_10, KPP, OGRN, None)
    assert listing["companies"][1]["ogrnip"] == OGRNIP and listing["companies"][1]["kpp"] is None


# -- bad input -------------------------------------------------------------------------------

BAD: list[tuple[dict[str, Any], str, str]] = [
    ({"kind": "corporation"}, "kind", "company.kind_invalid"),
    ({"kind": ""}, "kind", "company.kind_invalid"),
    ({"name": ""}, "name", "company.name_required"),
    ({"name": "   "}, "name", "company.name_required"),
    ({"name": "О" * 301}, "name", "company.too_long"),
    ({"name": "ООО Ромашка\r\nBcc: victim@example.com"}, "name", "company.text_invalid"),
    ({"name": "\u202eакшамоР"}, "name", "company.text_invalid"),
    ({"name": "«—»"}, "name", "company.text_invalid"),
    ({"inn": ""}, "inn", "inn.required"),
    ({"inn": "7707083894"}, "inn", "inn.checksum"),
    ({"inn": INN_12}, "inn", "inn.length_10"),
    ({"inn": "77070838a3"}, "inn", "inn.format"),
    ({"kpp": ""}, "kpp", "kpp.required"),
    ({"kpp": "77360100"}, "kpp", "kpp.format"),
    ({"kpp": "7736-01-001x"}, "kpp", "kpp.format"),
    ({"ogrn": ""}, "ogrn", "ogrn.required"),
    ({"ogrn": "1027700132196"}, "ogrn", "ogrn.checksum"),
    ({"ogrn": "102770013219"}, "ogrn", "ogrn.length"),
    ({"ogrn": OGRNIP}, "ogrn", "ogrn.length"),
    ({"address": ""}, "address", "company.address_required"),
    ({"address": "а" * 301}, "address", "company.too_long"),
    ({"address": "ул. Ленина\n1"}, "address", "company.text_invalid"),
    ({"email": ""}, "email", "email.required"),
    ({"email": "office@romashka.example\r\nBcc: victim@example.com"}, "email", "email.invalid"),
    ({"email": "office@romashka.example\nBcc: victim@example.com"}, "email", "email.invalid"),
    ({"email": "not-an-email"}, "email", "email.invalid"),
    ({"email": "a@b.example, c@d.example"}, "email", "email.invalid"),
    ({"kind": "entrepreneur", "name": "", "inn": INN_12, "ogrnip": OGRNIP}, "name", "company.full_name_required"),
    ({"kind": "entrepreneur", "inn": INN_10, "ogrnip": OGRNIP}, "inn", "inn.length_12"),
    ({"kind": "entrepreneur", "inn": "", "ogrnip": OGRNIP}, "inn", "inn.required"),
    ({"kind": "entrepreneur", "inn": INN_12, "ogrnip": ""}, "ogrnip", "ogrnip.required"),
    ({"kind": "entrepreneur", "inn": INN_12, "ogrnip": "304500116000158"}, "ogrnip", "ogrnip.checksum"),
    ({"kind": "entrepreneur", "inn": INN_12, "ogrnip": OGRN}, "ogrnip", "ogrnip.length"),
    ({"kind": "entrepreneur", "inn": INN_12, "ogrnip": "30450011600015x"}, "ogrnip", "ogrnip.format"),
    ({"kind": "individual", "inn": "500100732258"}, "inn", "inn.checksum"),
    ({"kind": "individual", "inn": INN_10}, "inn", "inn.length_12"),
    ({"kind": "individual", "name": "И" * 301, "inn": ""}, "name", "company.too_long"),
]


async def test_every_field_refuses_bad_input_with_its_own_message_and_writes_nothing(surface, services):
    me = await _signed_in(surface, services, 3)
    for over, field, message_id in BAD:
        fields = {**LEGAL, **over}
        r = await me.add(**fields)
        assert r.status == 422, (over, r.status, r.message)
        assert r.field == field, (over, r.field, r.message)
        assert shown(r) == services.catalog.text(message_id, "ru", max=300), (over, shown(r))
    assert await _rows(services) == []
    async with services.db.read() as s:
        assert (await s.execute(select(func.count()).select_from(OutboxMessage))).scalar_one() == 0
        assert (await s.execute(select(func.count()).select_from(OneTimeCode))).scalar_one() == 0


async def test_several_bad_fields_are_reported_at_once(surface, services):
    me = await _signed_in(surface, services, 4)
    r = await me.add(**{**LEGAL, "inn": "1", "kpp": "", "email": "x"})
    assert r.status == 422
    fields = {f["field"] for f in r.data["error"]["fields"]} if not me.ui else set(r.data["fields"])
    assert fields == {"inn", "kpp", "email"}


async def test_valid_numbers_may_be_typed_with_spaces_and_dashes_and_kpp_with_letters(surface, services):
    me = await _signed_in(surface, services, 5)
    r = await me.add(**{**LEGAL, "inn": " 7707 083 893 ", "kpp": "7736AB001", "ogrn": "1-02-770-013-2195",
                        "email": "Office@Romashka.Example"})
    assert r.ok, (r.field, r.message)
    (row,) = await _rows(services)
    assert (row.inn, row.kpp, row.ogrn, row.email) == (INN_10, "7736AB001", OGRN, "office@romashka.example")


async def test_names_and_addresses_with_sql_or_html_are_stored_as_typed_and_escaped_on_output(surface, services):
    me = await _signed_in(surface, services, 6)
    name = 'ООО "Ромашка" <script>alert(1)</script>'
    address = "'; DROP TABLE companies; -- <b>ул. Ленина</b> & Co"
    long_name = "Я" * 300  # the limit itself is accepted
    legal_id, _ = await _added(me, {**LEGAL, "name": name, "address": address})
    services.clock.advance(seconds=1)
    await _added(me, {**INDIVIDUAL, "name": long_name, "email": "long@person.example"})
    rows = await _rows(services)
    assert [(r.name, r.address) for r in rows] == [(name, address), (long_name, None)]
    for path in ("/companies", f"/companies/{legal_id}/confirm"):
        page = await me.page(path)
        assert page.status_code == 200
        assert "<script>alert(1)</script>" not in page.text and "<b>ул. Ленина</b>" not in page.text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    page = await me.page("/companies")
    assert "&#39;; DROP TABLE companies; -- &lt;b&gt;ул. Ленина&lt;/b&gt; &amp; Co" in page.text
    api = (await me.listing())["companies"][0]
    assert (api["name"], api["address"]) == (name, address)


# -- the code --------------------------------------------------------------------------------

async def test_a_wrong_code_is_refused_and_the_company_stays_unconfirmed(surface, services):
    me = await _signed_in(surface, services, 10)
    company_id, code = await _added(me, LEGAL)
    r = await me.confirm(company_id, _wrong(code))
    assert r.status == 422 and r.field == "code" and shown(r) == "Неверный код"
    for bad in ("", "12345", "12345a", "1234567"):
        r = await me.confirm(company_id, bad)
        assert r.status == 422 and r.field == "code", bad
    assert await me.status(company_id) == "unconfirmed"
    acc = await account(services, phone_e164(10))
    failures = [e for e in await events(services, acc.id, "company_confirmed") if e.outcome == "failure"]
    assert failures and failures[0].detail["reason"] == "code_invalid"
    assert (await me.confirm(company_id, code)).ok


async def test_five_wrong_tries_kill_the_code_even_if_the_sixth_is_right(surface, services):
    me = await _signed_in(surface, services, 11)
    company_id, code = await _added(me, LEGAL)
    for _ in range(5):
        assert (await me.confirm(company_id, _wrong(code))).status == 422
    r = await me.confirm(company_id, code)
    assert r.status == 422 and shown(r) == "Слишком много неверных попыток. Запросите новый код"
    assert await me.status(company_id) == "unconfirmed"


async def test_the_email_code_lives_sixty_minutes_then_a_new_one_can_be_requested(surface, services, clock, backend):
    me = await _signed_in(surface, services, 12)
    company_id, code = await _added(me, LEGAL)
    await _keep_alive(me, clock, 59)
    confirm_page = await me.page(f"/companies/{company_id}/confirm")
    assert "Код действует до" in confirm_page.text
    clock.advance(minutes=1, seconds=1)
    r = await me.confirm(company_id, code)
    assert r.status == 422 and shown(r) == "Срок действия кода истёк. Запросите новый код"
    await _forget_cooldown(services, backend, LEGAL["email"])
    assert (await me.resend(company_id)).ok
    fresh = await last_code(me.s.client, LEGAL["email"], kind="company_code")
    assert (await me.confirm(company_id, fresh)).ok


async def test_resend_waits_for_the_cool_down_then_kills_the_previous_code(surface, services, clock, backend):
    me = await _signed_in(surface, services, 13)
    company_id, first = await _added(me, LEGAL)
    early = await me.resend(company_id)
    assert early.status == 429 and "Retry-After" in {k.title() for k in early.headers}
    assert shown(early).startswith("Новый код можно запросить через")
    await _forget_cooldown(services, backend, LEGAL["email"])
    clock.advance(seconds=61)
    again = await me.resend(company_id)
    assert again.ok, (again.status, again.message)
    if me.ui:
        assert again.data["location"].endswith("/confirm?sent=1")
    second = await last_code(me.s.client, LEGAL["email"], kind="company_code")
    if first != second:
        assert (await me.confirm(company_id, first)).status == 422  # the resend killed it
    assert (await me.confirm(company_id, second)).ok
    done = await me.resend(company_id)  # nothing to resend once confirmed
    assert done.data["location"] == "/companies" if me.ui else done.status == 409


async def test_confirmation_is_a_flow_that_a_resend_reopens_when_it_is_gone(surface, services, clock, backend):
    """A profile whose confirmation flow is gone (added before flows, or long expired) is not stuck:
    its old code no longer confirms, and «Получить код повторно» opens a new flow."""
    from sqlalchemy import delete

    from dostup.persistence.models import Flow

    me = await _signed_in(surface, services, 14)
    company_id, code = await _added(me, LEGAL)
    async with services.db.read() as s:
        flow = await s.get(Flow, company_id)
        assert flow is not None and flow.kind == "company_confirmation" and flow.state == "code_sent"
    async with services.db.write() as s:
        await s.execute(delete(Flow).where(Flow.id == company_id))
    assert (await me.confirm(company_id, code)).status == 422
    await _forget_cooldown(services, backend, LEGAL["email"])
    clock.advance(seconds=61)
    assert (await me.resend(company_id)).ok
    fresh = await last_code(me.s.client, LEGAL["email"], kind="company_code")
    assert (await me.confirm(company_id, fresh)).ok
    async with services.db.read() as s:
        assert (await s.get(Flow, company_id)).state == "completed"
    assert (await me.delete(company_id)).ok
    async with services.db.read() as s:
        assert await s.get(Flow, company_id) is None


# -- one confirmed INN per account -----------------------------------------------------------

async def test_the_same_inn_cannot_be_confirmed_twice_in_one_account(surface, services, surface_factory):
    me = await _signed_in(surface, services, 20)
    # Two unconfirmed profiles with one INN are allowed (the seed's "add again").
    first_id, first_code = await _added(me, LEGAL)
    second_id, second_code = await _added(me, {**LEGAL, "email": "second@romashka.example"})
    assert (await me.confirm(first_id, first_code)).ok
    r = await me.confirm(second_id, second_code)
    assert r.status == 409
    assert shown(r).startswith("Компания с этим ИНН уже подтверждена в вашем личном кабинете")
    assert await me.status(second_id) == "unconfirmed"
    # Adding it once more is refused up front, on the INN field.
    r = await me.add(**{**LEGAL, "email": "third@romashka.example"})
    assert r.status == 409 and r.field == "inn"
    assert len(await _rows(services)) == 2
    # After «Удалить» on the confirmed one, the other can be confirmed (its code was not spent).
    assert (await me.delete(first_id)).ok
    assert (await me.confirm(second_id, second_code)).ok

    # Another account may confirm the same company.
    other = await _signed_in(surface_factory(), services, 21)
    other_id, other_code = await _added(other, {**LEGAL, "email": "other@romashka.example"})
    assert (await other.confirm(other_id, other_code)).ok


async def test_the_database_refuses_a_second_confirmed_row_for_one_inn(services):
    acc_phone = await make_user(services, 22)
    acc = await account(services, acc_phone)
    now = services.clock.now()
    row = {"account_id": acc.id, "kind": "legal", "name": "X", "inn": INN_10, "email": "x@x.example",
           "created_at": now}
    async with services.db.write() as s:
        await s.execute(insert(Company), [
            {**row, "id": "a" * 24, "confirmed_at": now},
            {**row, "id": "b" * 24, "confirmed_at": None},
            {**row, "id": "c" * 24, "confirmed_at": None, "inn": None},
            {**row, "id": "d" * 24, "confirmed_at": now, "inn": None},
            {**row, "id": "e" * 24, "confirmed_at": now, "inn": None},
        ])
    with pytest.raises(IntegrityError):
        async with services.db.write() as s:
            await s.execute(insert(Company), [{**row, "id": "f" * 24, "confirmed_at": now}])


# -- the FAQ: «Удалить», «Добавить компанию» again with a corrected email, a new code ----------

async def test_faq_delete_then_add_again_with_a_corrected_email_gets_a_new_code(surface, services):
    me = await _signed_in(surface, services, 30)
    typo = {**LEGAL, "email": "office@romashka.exmaple"}
    old_id, old_code = await _added(me, typo)
    # 1. «Список компаний»  2. «Удалить» next to the profile
    page = await me.page("/companies")
    assert "office@romashka.exmaple" in page.text and "Удалить" in page.text
    d = await me.delete(old_id)
    assert d.ok
    if me.ui:
        assert d.data["location"] == "/companies?done=deleted"
        assert "Компания удалена." in (await me.page(d.data["location"])).text
    assert (await me.listing())["companies"] == []
    # The old profile and its code are gone.
    assert (await me.confirm(old_id, old_code)).status == 404
    # 3-5. «Добавить компанию», ЮЛ, the right email, «Добавить» → a new code to that address
    form = await me.page("/companies/new?kind=legal")
    assert "Юридическое лицо" in form.text and ">Добавить<" in form.text
    new_id, new_code = await _added(me, LEGAL)
    assert new_id != old_id
    # 6. the code on the site
    assert (await me.confirm(new_id, new_code)).ok
    listing = (await me.listing())["companies"]
    assert [(c["email"], c["status"]) for c in listing] == [(LEGAL["email"], "confirmed")]
    acc = await account(services, phone_e164(30))
    deleted = await events(services, acc.id, "company_deleted")
    assert len(deleted) == 1 and deleted[0].detail["destination"] == "o***@romashka.exmaple"


async def test_a_confirmed_company_can_be_deleted_and_added_again(surface, services, backend):
    me = await _signed_in(surface, services, 31)
    company_id, code = await _added(me, ENTREPRENEUR)
    assert (await me.confirm(company_id, code)).ok
    assert (await me.delete(company_id)).ok
    await _forget_cooldown(services, backend, ENTREPRENEUR["email"])
    services.clock.advance(seconds=61)
    again_id, again_code = await _added(me, ENTREPRENEUR)
    assert (await me.confirm(again_id, again_code)).ok


# -- other accounts --------------------------------------------------------------------------

async def test_another_accounts_company_is_not_found_on_every_verb(surface, services, surface_factory):
    owner = await _signed_in(surface, services, 40)
    company_id, code = await _added(owner, LEGAL)
    stranger = await _signed_in(surface_factory(), services, 41)
    for attempt in (stranger.confirm(company_id, code), stranger.resend(company_id), stranger.delete(company_id)):
        r = await attempt
        assert r.status == 404, r
        assert shown(r) == "Компания не найдена"
    assert (await stranger.page(f"/companies/{company_id}/confirm")).status_code == 404
    assert (await stranger.s.client.get(f"/api/v1/companies/{company_id}", headers=stranger._headers())).status_code == 404
    assert (await stranger.listing())["companies"] == []
    for made_up in ("0" * 24, "nope", "%00", "a" * 200):
        assert (await stranger.confirm(made_up, code)).status == 404
    # The owner's profile is untouched and its code still works.
    assert (await owner.confirm(company_id, code)).ok


async def test_company_pages_and_api_need_a_session(client):
    for path in ("/companies", "/companies/new"):
        resp = await client.get(path)
        assert resp.status_code == 303 and resp.headers["location"].startswith("/login")
    assert (await client.get("/api/v1/companies")).status_code == 401
    assert (await client.post("/api/v1/companies", json=LEGAL)).status_code == 401


async def test_a_refused_send_leaves_nothing_half_written(surface, services):
    me = await _signed_in(surface, services, 42)
    await _added(me, LEGAL)
    # The same address again within the cool-down: refused before anything is written.
    r = await me.add(**{**LEGAL, "name": "ООО «Лютик»"})
    assert r.status == 429
    assert [row.name for row in await _rows(services)] == [LEGAL["name"]]
    async with services.db.read() as s:
        assert (await s.execute(select(func.count()).select_from(OutboxMessage))).scalar_one() == 1
        assert (await s.execute(select(func.count()).select_from(OneTimeCode))).scalar_one() == 1
    acc = await account(services, phone_e164(42))
    assert len(await events(services, acc.id, "company_added")) == 1


async def test_mass_assignment_in_the_api_body_is_ignored(client_factory, services):
    from tests.support import ApiSurface

    me = await _signed_in(ApiSurface(client_factory()), services, 43)
    r = await me.add(**LEGAL, status="confirmed", confirmed_at="2020-01-01T00:00:00", account_id="x", id="f" * 24)
    assert r.status == 201 and r.data["status"] == "unconfirmed" and r.data["id"] != "f" * 24


# -- kit: «Добавление компании для завершения регистрации» --------------------------------------

async def test_kit_registration_continues_with_the_company_step_until_one_is_confirmed(surface, services):
    phone = phone_e164(50)
    me = Companies(surface)
    if me.ui:
        from tests.flows.helpers import registration_fields

        r = await surface.register(**await registration_fields(surface, phone))
        c = await surface.confirm(r.data["flow_id"], await last_code(surface.client, phone))
        assert c.ok and c.data["location"] == "/companies/new"
    else:
        await register(surface, phone)
    assert (await surface.whoami()).data["onboarding"] == "company_required"
    assert (await me.listing())["onboarding"] == "company_required"

    step = await me.page("/companies/new")
    assert step.status_code == 200
    assert "Добавление компании для завершения регистрации" in step.text
    for kind in ("Юридическое лицо", "ИП", "Физическое лицо"):
        assert kind in step.text
    cabinet = await me.page("/cabinet")
    assert cabinet.status_code == 303 and cabinet.headers["location"] == "/companies/new"
    for path in ("/settings", "/notifications", "/security", "/companies"):  # the rest stays reachable
        assert (await me.page(path)).status_code == 200, path

    company_id, code = await _added(me, LEGAL)
    cabinet = await me.page("/cabinet")
    assert cabinet.status_code == 303 and cabinet.headers["location"] == "/companies"
    assert "Регистрация будет завершена" in (await me.page("/companies")).text
    assert (await surface.whoami()).data["onboarding"] == "company_required"

    c = await me.confirm(company_id, code)
    assert c.ok
    if me.ui:
        assert c.data["location"] == "/cabinet"
    else:
        assert c.data["onboarding"] is None and c.data["company"]["status"] == "confirmed"
    assert (await surface.whoami()).data["onboarding"] is None
    cabinet = await me.page("/cabinet")
    assert cabinet.status_code == 200 and "Список компаний" in cabinet.text
    new = await me.page("/companies/new")
    assert "Добавить компанию" in new.text and "для завершения регистрации" not in new.text


async def test_later_confirmations_return_to_the_list(surface, services):
    me = await _signed_in(surface, services, 51)
    first_id, first_code = await _added(me, LEGAL)
    assert (await me.confirm(first_id, first_code)).ok
    second_id, second_code = await _added(me, ENTREPRENEUR)
    c = await me.confirm(second_id, second_code)
    assert c.ok
    if me.ui:
        assert c.data["location"] == "/companies?done=confirmed"
        assert "Компания подтверждена." in (await me.page(c.data["location"])).text


@pytest.mark.parametrize("settings_overrides", [{"DOSTUP_REQUIRE_COMPANY": "false"}])
async def test_without_the_requirement_registration_ends_in_the_cabinet(surface, services):
    phone = phone_e164(52)
    me = Companies(surface)
    if me.ui:
        from tests.flows.helpers import registration_fields

        r = await surface.register(**await registration_fields(surface, phone))
        c = await surface.confirm(r.data["flow_id"], await last_code(surface.client, phone))
        assert c.ok and c.data["location"] == "/cabinet"
    else:
        await register(surface, phone)
    assert (await surface.whoami()).data["onboarding"] is None
    assert (await me.page("/cabinet")).status_code == 200
    # Companies still work; the nav link follows the preset (kit has companies).
    company_id, code = await _added(me, INDIVIDUAL)
    assert (await me.confirm(company_id, code)).ok


def test_only_kit_requires_a_company_by_default():
    assert PRESETS["kit"].require_company and PRESETS["kit"].companies
    assert not any(p.require_company for name, p in PRESETS.items() if name != "kit")
