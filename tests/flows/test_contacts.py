"""Contacts (SPEC §4.4; the Rostelecom seed): add, change, confirm and remove the phone and email.

«Удалить в ЕЛК привязанные лицевые счета, сменить или удалить телефон/мэйл. Хоть один контакт при
этом должен остаться.»  Each test runs through the pages and the JSON API, on both backends.
"""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select, update

from dostup.persistence.models import Account
from tests.flows.helpers import PASSWORD, register
from tests.flows.settings_support import SettingsClient, account, events, make_user, messages, shown, signed_in
from tests.support import ApiSurface, last_code

NEW_PHONE = "+79120000299"
LANDLINE = "+74951234567"  # Moscow fixed line: no SMS


async def _code(me: SettingsClient, to: str) -> str:
    return await last_code(me.s.client, to, kind="contact_code")


async def _change(me: SettingsClient, contact: str, value: str, to: str | None = None) -> str:
    """Start and confirm a change; returns the flow id."""
    r = await me.start(contact, value)
    assert r.ok, (r.status, r.code, r.field, r.message)
    flow_id = str(r.data["flow_id"])
    c = await me.confirm(flow_id, await _code(me, to or value))
    assert c.ok, (c.status, c.code, c.field, c.message)
    return flow_id


async def _by_login(services, login: str) -> Account:
    async with services.db.read() as s:
        return (await s.execute(select(Account).where(Account.login == login))).scalar_one()


def _no_raw_values(evs, *values: str) -> None:
    for e in evs:
        for v in values:
            assert v not in str(e.detail), (e.kind, e.detail)


# -- change and add --------------------------------------------------------------------------

async def test_changing_the_phone_needs_a_code_sent_to_the_new_number_and_tells_the_old_one(surface, services):
    me = await signed_in(surface, services, 200)
    old = "+79120000200"
    r = await me.start("phone", "8 (912) 000-02-99")
    assert r.ok, (r.status, r.field, r.message)
    acc = await account(services, old)
    assert acc.phone == old  # nothing changes before the code is confirmed
    code = await _code(me, NEW_PHONE)
    sms = (await messages(services, NEW_PHONE, "contact_code"))[-1]
    assert sms.channel == "sms" and sms.account_id == acc.id
    c = await me.confirm(str(r.data["flow_id"]), code)
    assert c.ok, (c.status, c.field, c.message)
    acc = await account(services, account_id=acc.id)
    assert acc.phone == NEW_PHONE and acc.phone_verified_at is not None
    notice = await messages(services, old, "contact_changed")
    assert len(notice) == 1 and notice[0].channel == "sms" and "изменён" in notice[0].body
    evs = await events(services, acc.id, "contact_changed")
    assert [e.outcome for e in evs] == ["success"]
    assert evs[0].detail == {"contact": "phone", "identifier": "+7 *** ***-02-99", "previous": "+7 *** ***-02-00"}
    _no_raw_values(await events(services, acc.id), old, NEW_PHONE)
    # The new number signs in; the old one does not.
    assert (await surface.login(method="phone", phone=NEW_PHONE, password=PASSWORD)).ok
    assert (await surface.login(method="phone", phone=old, password=PASSWORD)).status == 401


async def test_adding_an_email_confirms_it_by_a_code_sent_there(surface, services):
    me = await signed_in(surface, services, 201)
    await _change(me, "email", "Anna.Petrova@Example.COM", to="anna.petrova@example.com")
    acc = await account(services, "+79120000201")
    assert acc.email == "anna.petrova@example.com" and acc.email_verified_at is not None
    assert [e.detail for e in await events(services, acc.id, "contact_added")] == [
        {"contact": "email", "identifier": "a***@example.com"}]
    assert await messages(services, "+79120000201", "contact_changed") == []  # nothing was replaced
    page = (await me.page("/settings/contacts")).text
    assert "anna.petrova@example.com" in page and "подтверждён" in page


async def test_an_unconfirmed_email_from_registration_can_be_confirmed(surface, services):
    await register(surface, "+79120000202", email="late@example.com")
    me = SettingsClient(surface)
    acc = await account(services, "+79120000202")
    assert acc.email_verified_at is None
    await _change(me, "email", "late@example.com")
    acc = await account(services, account_id=acc.id)
    assert acc.email == "late@example.com" and acc.email_verified_at is not None
    r = await me.start("email", "late@example.com")  # now it is confirmed: nothing to do
    assert (r.status, r.field) == (422, "email")
    assert shown(r) == services.catalog.text("contacts.unchanged", "ru")


async def test_changing_the_email_tells_the_old_address(surface, services):
    me = await signed_in(surface, services, 203, email="old@example.com")
    await _change(me, "email", "new@example.com")
    notice = await messages(services, "old@example.com", "contact_changed")
    assert len(notice) == 1 and notice[0].channel == "email"
    assert "адрес электронной почты" in notice[0].body and "/recovery" in notice[0].body
    assert (await account(services, "+79120000203")).email == "new@example.com"


async def test_a_landline_gets_its_code_by_email_and_stays_unconfirmed(surface, services):
    me = await signed_in(surface, services, 204, email="owner@example.com")
    r = await me.start("phone", LANDLINE)
    assert r.ok, (r.status, r.field, r.message)
    assert await messages(services, LANDLINE) == []  # never an SMS to a landline
    flow = await me.flow(str(r.data["flow_id"]))
    if me.ui:
        assert services.catalog.text("contacts.code_via_email", "ru") in flow.data["html"]
    else:
        assert (flow.data["channel"], flow.data["destination"]) == ("email", "o***@example.com")
    assert (await me.confirm(str(r.data["flow_id"]), await _code(me, "owner@example.com"))).ok
    acc = await account(services, account_id=(await account(services, LANDLINE)).id)
    assert acc.phone == LANDLINE and acc.phone_verified_at is None and acc.email_verified_at is not None


async def test_a_landline_needs_a_confirmed_email_first(surface, services):
    me = await signed_in(surface, services, 205)
    r = await me.start("phone", LANDLINE)
    assert (r.status, r.field) == (422, "phone")
    assert r.code == "email_needed" or me.ui
    assert shown(r) == services.catalog.text("contacts.phone_needs_email", "ru")


# -- removing --------------------------------------------------------------------------------

async def test_removing_the_email_keeps_the_phone_and_tells_the_old_address(surface, services):
    me = await signed_in(surface, services, 210, email="gone@example.com")
    r = await me.remove("email")
    assert r.ok, (r.status, r.field, r.message)
    acc = await account(services, "+79120000210")
    assert acc.email is None and acc.email_verified_at is None and acc.phone_verified_at is not None
    notice = await messages(services, "gone@example.com", "contact_changed")
    assert len(notice) == 1 and "удалён" in notice[0].body
    assert [e.detail for e in await events(services, acc.id, "contact_removed")] == [
        {"contact": "email", "identifier": "g***@example.com"}]


async def test_the_last_confirmed_contact_cannot_be_removed(surface, services):
    me = await signed_in(surface, services, 211, login="only.phone")
    r = await me.remove("phone")
    assert r.status == 409 and (r.code == "last_confirmed_contact" or me.ui)
    assert shown(r) == services.catalog.text("contacts.last_confirmed", "ru")
    # An unconfirmed email does not count.
    async with services.db.write() as s:
        await s.execute(update(Account).where(Account.phone == "+79120000211").values(email="maybe@example.com"))
    r = await me.remove("phone")
    assert r.status == 409 and shown(r) == services.catalog.text("contacts.last_confirmed", "ru")
    acc = await account(services, "+79120000211")
    assert acc.phone == "+79120000211" and acc.phone_verified_at is not None
    assert await messages(services, "+79120000211", "contact_changed") == []
    r = await me.remove("email")  # the unconfirmed one can go: the phone remains
    assert r.ok


async def test_the_phone_cannot_be_removed_while_it_is_the_only_way_to_sign_in(surface, services):
    me = await signed_in(surface, services, 212, email="second@example.com")
    r = await me.remove("phone")
    assert r.status == 409 and shown(r) == services.catalog.text("contacts.last_signin", "ru")
    assert (await me.set_login("has.login")).ok
    assert (await me.remove("phone")).ok
    acc = await _by_login(services, "has.login")
    assert acc.phone is None and acc.email == "second@example.com"
    notice = await messages(services, "+79120000212", "contact_changed")
    assert len(notice) == 1 and notice[0].channel == "sms"


async def test_removing_a_contact_that_is_not_there_is_404(surface, services):
    me = await signed_in(surface, services, 213)
    r = await me.remove("email")
    assert r.status == 404 and shown(r) == services.catalog.text("contacts.not_set", "ru")


async def test_removing_phone_and_email_at_once_leaves_one_confirmed_contact(client_factory, services):
    phone = await make_user(services, 214, login="racer", email="racer@example.com")
    a, b = ApiSurface(client_factory()), ApiSurface(client_factory())
    for s in (a, b):
        assert (await s.login(method="phone", phone=phone, password=PASSWORD)).ok
    results = await asyncio.gather(SettingsClient(a).remove("phone"), SettingsClient(b).remove("email"))
    assert sorted(r.status for r in results) == [200, 409]
    row = await _by_login(services, "racer")
    assert (row.phone and row.phone_verified_at) or (row.email and row.email_verified_at)


# -- re-authentication -----------------------------------------------------------------------

async def test_changing_or_removing_a_contact_needs_a_recent_sign_in(surface, services, clock):
    me = await signed_in(surface, services, 220, email="kept@example.com", login="reauth.me")
    clock.advance(minutes=16)
    for attempt in (me.start("email", "new@example.com"), me.start("phone", NEW_PHONE), me.remove("email")):
        r = await attempt
        assert (r.status, r.code) == (403, "reauth_required")
        if me.ui:
            assert r.data["location"] == "/reauth?return_to=/settings/contacts"
        else:
            assert shown(r) == services.catalog.text("reauth.required", "ru")
    if me.ui:
        page = await me.page("/settings/contacts")
        assert page.status_code == 303 and page.headers["location"] == "/reauth?return_to=/settings/contacts"
    assert await messages(services, "new@example.com") == [] and await messages(services, NEW_PHONE) == []
    assert (await account(services, "+79120000220")).email == "kept@example.com"
    assert (await me.reauth("Wrong-password-1")).status == 401
    r = await me.reauth()
    assert r.ok
    if me.ui:
        assert r.data["location"] == "/settings/contacts"
    await _change(me, "email", "new@example.com")
    assert (await account(services, "+79120000220")).email == "new@example.com"


async def test_a_started_change_can_be_confirmed_after_the_window_closes(surface, services, clock):
    me = await signed_in(surface, services, 221, email="mail@example.com")
    clock.advance(minutes=14)  # a minute of the sign-in's window left
    r = await me.start("email", "later@example.com")
    assert r.ok
    clock.advance(minutes=2)  # the window closed; the code (10 min) still lives
    assert (await me.confirm(str(r.data["flow_id"]), await _code(me, "later@example.com"))).ok


# -- conflicts -------------------------------------------------------------------------------

async def test_a_phone_or_email_of_another_cabinet_is_refused_with_the_way_out(surface, services):
    await make_user(services, 230, email="taken@example.com")
    me = await signed_in(surface, services, 231)
    r = await me.start("phone", "+79120000230")
    assert (r.status, r.field) == (409, "phone")
    assert shown(r) == services.catalog.text("registration.phone_taken", "ru")
    assert "Восстановите доступ" in shown(r)
    r = await me.start("email", "TAKEN@example.com")
    assert (r.status, r.field) == (409, "email")
    assert shown(r) == services.catalog.text("registration.email_taken", "ru")
    assert await messages(services, "taken@example.com") == []
    assert len(await messages(services, "+79120000230")) == 0


async def test_when_two_cabinets_confirm_one_number_the_second_gets_409(surface, surface_factory, services):
    first = await signed_in(surface, services, 232, login="first")
    second = await signed_in(surface_factory(), services, 233)
    r1 = await first.start("phone", NEW_PHONE)
    code1 = await _code(first, NEW_PHONE)
    await services.store.delete(f"send-cooldown:sms:{NEW_PHONE}")  # skip the per-number cool-down
    services.clock.advance(seconds=1)  # so the newest message is the second code
    r2 = await second.start("phone", NEW_PHONE)
    assert r1.ok and r2.ok
    code2 = await _code(second, NEW_PHONE)
    assert (await first.confirm(str(r1.data["flow_id"]), code1)).ok
    late = await second.confirm(str(r2.data["flow_id"]), code2)
    assert late.status == 409 and (late.field == "phone" or second.ui)
    assert shown(late) == services.catalog.text("registration.phone_taken", "ru")
    assert (await _by_login(services, "first")).phone == NEW_PHONE
    second_acc = await account(services, "+79120000233")
    assert second_acc.phone == "+79120000233"


async def test_the_own_confirmed_number_is_not_a_change(surface, services):
    me = await signed_in(surface, services, 234)
    r = await me.start("phone", "+7 912 000-02-34")
    assert (r.status, r.field) == (422, "phone")
    assert shown(r) == services.catalog.text("contacts.unchanged", "ru")


# -- codes -----------------------------------------------------------------------------------

async def test_a_wrong_code_changes_nothing_and_five_kill_the_code(surface, services):
    me = await signed_in(surface, services, 240)
    r = await me.start("email", "code@example.com")
    flow_id = str(r.data["flow_id"])
    right = await _code(me, "code@example.com")
    wrong = "000000" if right != "000000" else "111111"
    for _ in range(5):
        bad = await me.confirm(flow_id, wrong)
        assert (bad.status, bad.field) == (422, "code")
    assert shown(bad) == services.catalog.text("code.invalid", "ru")
    last = await me.confirm(flow_id, right)
    assert (last.status, last.field) == (422, "code")
    assert shown(last) == services.catalog.text("code.exhausted", "ru")
    acc = await account(services, "+79120000240")
    assert acc.email is None
    assert len([e for e in await events(services, acc.id, "contact_added") if e.outcome == "failure"]) == 6


@pytest.mark.parametrize("code", ["", "12345", "1234567", "abcdef", "١٢٣٤٥٦", "12 34 56\r\n"])
async def test_malformed_codes_are_refused_without_spending_a_try(surface, services, code):
    me = await signed_in(surface, services, 241)
    r = await me.start("email", "form@example.com")
    flow_id = str(r.data["flow_id"])
    bad = await me.confirm(flow_id, code)
    assert (bad.status, bad.field) == (422, "code")
    assert (await me.confirm(flow_id, await _code(me, "form@example.com"))).ok


async def test_a_code_sent_for_one_contact_does_not_confirm_another(surface, services, clock):
    me = await signed_in(surface, services, 242)
    phone_flow = await me.start("phone", NEW_PHONE)
    email_flow = await me.start("email", "other@example.com")
    phone_code = await _code(me, NEW_PHONE)
    r = await me.confirm(str(email_flow.data["flow_id"]), phone_code)
    assert (r.status, r.field) == (422, "code")
    assert (await account(services, "+79120000242")).email is None
    assert (await me.confirm(str(phone_flow.data["flow_id"]), phone_code)).ok


async def test_a_new_request_supersedes_the_previous_code(surface, services, clock):
    me = await signed_in(surface, services, 243)
    first = await me.start("email", "first@example.com")
    first_code = await _code(me, "first@example.com")
    second = await me.start("email", "second@example.com")
    r = await me.confirm(str(first.data["flow_id"]), first_code)
    assert (r.status, r.field) == (422, "code")
    assert (await me.confirm(str(second.data["flow_id"]), await _code(me, "second@example.com"))).ok
    assert (await account(services, "+79120000243")).email == "second@example.com"


async def test_resend_has_a_cool_down_and_invalidates_the_old_code(surface, services):
    me = await signed_in(surface, services, 244)
    r = await me.start("email", "again@example.com")
    flow_id = str(r.data["flow_id"])
    old = await _code(me, "again@example.com")
    early = await me.resend(flow_id)
    assert early.status == 429
    await services.store.delete("send-cooldown:email:again@example.com")  # Redis keeps real time
    services.clock.advance(seconds=1)  # so the newest message is the new code
    assert (await me.resend(flow_id)).ok
    new = await _code(me, "again@example.com")
    if old != new:
        assert (await me.confirm(flow_id, old)).status == 422
    assert (await me.confirm(flow_id, new)).ok


async def test_another_users_change_is_404(surface, surface_factory, services):
    owner = await signed_in(surface, services, 250)
    r = await owner.start("email", "mine@example.com")
    flow_id = str(r.data["flow_id"])
    code = await _code(owner, "mine@example.com")
    stranger = await signed_in(surface_factory(), services, 251)
    for attempt in (stranger.flow(flow_id), stranger.confirm(flow_id, code), stranger.resend(flow_id)):
        got = await attempt
        assert got.status == 404
        assert shown(got) == services.catalog.text("contacts.flow_not_found", "ru") or stranger.ui
    assert (await account(services, "+79120000251")).email is None
    assert (await owner.confirm(flow_id, code)).ok  # the stranger's tries cost the owner nothing
    for made_up in ("nope", "x" * 65):
        assert (await stranger.flow(made_up)).status == 404


async def test_a_completed_change_cannot_be_confirmed_again(surface, services):
    me = await signed_in(surface, services, 252)
    flow_id = await _change(me, "email", "done@example.com")
    r = await me.confirm(flow_id, "123456")
    if me.ui:  # a second submit of the form lands back on the contacts page
        assert r.data["location"] == "/settings/contacts"
    else:
        assert (r.status, r.code) == (409, "step_not_allowed")
    assert (await account(services, "+79120000252")).email == "done@example.com"


# -- bad input -------------------------------------------------------------------------------

@pytest.mark.parametrize(("value", "message_id"), [
    ("", "phone.required"),
    ("abc", "phone.invalid"),
    ("+79120000301,+79120000302", "phone.invalid"),
    ("+79120000301\r\n+79120000302", "phone.invalid"),
    ("9" * 40, "phone.invalid"),
    ("+7912", "phone.invalid"),
])
async def test_bad_phones_are_refused_and_nothing_is_sent(surface, services, value, message_id):
    me = await signed_in(surface, services, 260)
    r = await me.start("phone", value)
    assert (r.status, r.field) == (422, "phone")
    assert shown(r) == services.catalog.text(message_id, "ru")
    assert await messages(services, "+79120000301") == []


@pytest.mark.parametrize(("value", "message_id"), [
    ("", "email.required"),
    ("not-an-email", "email.invalid"),
    ("a@example.com\r\nBcc: victim@example.com", "email.invalid"),
    ("a@example.com,b@example.com", "email.invalid"),
    ("x" * 250 + "@example.com", "email.invalid"),
    ("<script>@example.com", "email.invalid"),
])
async def test_bad_emails_are_refused_and_nothing_is_sent(surface, services, value, message_id):
    me = await signed_in(surface, services, 261)
    r = await me.start("email", value)
    assert (r.status, r.field) == (422, "email")
    assert shown(r) == services.catalog.text(message_id, "ru")
    assert len(await messages(services, "+79120000261")) == 0


async def test_contact_changes_per_account_are_limited(client_factory, services):
    me = await signed_in(ApiSurface(client_factory()), services, 262)
    statuses = []
    for i in range(11):
        r = await me.start("email", f"probe{i}@example.com")
        statuses.append(r.status)
    assert statuses[:10] == [201] * 10 and statuses[10] == 429


async def test_the_contacts_page_lists_a_change_waiting_for_its_code(surface, services):
    me = await signed_in(surface, services, 263)
    r = await me.start("email", "waiting@example.com")
    flow_id = str(r.data["flow_id"])
    if me.ui:
        page = (await me.page("/settings/contacts")).text
        assert f"/settings/contacts/confirm?flow={flow_id}" in page and "w***@example.com" in page
        assert page.count('name="csrf_token"') >= 5
    else:
        got = await me.api("GET", "/contacts")
        assert [p["flow_id"] for p in got.data["pending"]] == [flow_id]
        assert got.data["pending"][0]["value"] == "w***@example.com"


async def test_account_deletion_can_erase_changes_in_progress_and_choices(client_factory, services):
    from sqlalchemy import func

    from dostup.persistence.models import Flow, NotificationPreference
    from dostup.selfservice.settings.contacts import erase_settings

    me = await signed_in(ApiSurface(client_factory()), services, 270)
    assert (await me.start("email", "pending@example.com")).ok
    assert (await me.notifications({"service": {"sms": False}}, consent=False)).ok
    acc = await account(services, "+79120000270")
    async with services.db.write() as s:
        await erase_settings(s, acc.id, services.clock.now())
    async with services.db.read() as s:
        flows = (await s.execute(select(func.count()).select_from(Flow).where(Flow.account_id == acc.id))).scalar_one()
        prefs = (await s.execute(select(func.count()).select_from(NotificationPreference)
                                 .where(NotificationPreference.account_id == acc.id))).scalar_one()
    assert (flows, prefs) == (0, 0)
