"""Settings (SPEC §4.4): «Личная информация», login name, «Настройка уведомлений».

Each test runs through the pages and the JSON API, on SQLite and on PostgreSQL + Redis.
Contacts are in ``test_contacts.py``.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from dostup.accounts.consents import MARKETING
from dostup.core.crypto import sha256_hex
from dostup.persistence.models import Consent, Session
from tests.flows.helpers import PASSWORD, register
from tests.flows.settings_support import SettingsClient, account, enabled, events, make_user, shown, signed_in
from tests.support import captcha_token

# -- «Личная информация» ---------------------------------------------------------------------

NAMES = {"family_name": "Д'Артаньян-Иванов", "given_name": "Анна Мария", "middle_name": "Сергеевна"}


async def test_names_are_saved_and_shown_on_the_page_and_in_the_api(surface, services):
    me = await signed_in(surface, services, 100)
    r = await me.profile(**NAMES)
    assert r.ok, (r.status, r.field, r.message)
    acc = await account(services, "+79120000100")
    assert (acc.family_name, acc.given_name, acc.middle_name) == tuple(NAMES.values())
    page = await me.page("/settings")
    assert page.status_code == 200
    assert 'value="Д&#39;Артаньян-Иванов"' in page.text
    assert "Сергеевна" in page.text and "+7 912 000-01-00" in page.text
    assert 'href="/settings/contacts"' in page.text and 'href="/settings/login"' in page.text
    if not me.ui:
        got = await me.api("GET", "/profile")
        assert got.data["family_name"] == "Д'Артаньян-Иванов" and got.data["phone"] == "+79120000100"
        assert got.data["phone_confirmed"] is True and got.data["login"] is None


@pytest.mark.parametrize(("family", "given", "escaped"), [
    ("O'Brien'-- ", "Robert' OR 'a", ("O&#39;Brien&#39;--", "Robert&#39; OR &#39;a")),
    ("Robert'); DROP TABLE accounts;--", "<script>alert(1)</script>",
     ("Robert&#39;); DROP TABLE accounts;--", "&lt;script&gt;alert(1)&lt;/script&gt;")),
    ('<b>Иванов</b> & "Ко"', "Анна<img src=x onerror=alert(1)>",
     ("&lt;b&gt;Иванов&lt;/b&gt; &amp; &#34;Ко&#34;", "Анна&lt;img src=x onerror=alert(1)&gt;")),
])
async def test_sql_and_html_significant_characters_are_stored_literally_and_escaped(surface, services, family, given,
                                                                                     escaped):
    """SECURITY.md: names with SQL or HTML are stored literally and escaped on output."""
    me = await signed_in(surface, services, 101)
    r = await me.profile(family_name=family, given_name=given, middle_name="")
    assert r.ok, (r.status, r.field, r.message)
    acc = await account(services, "+79120000101")
    assert acc.family_name == family.strip(" ") and acc.given_name == given and acc.middle_name is None
    page = (await me.page("/settings")).text
    assert escaped[0] in page and escaped[1] in page
    assert given not in page and family.strip(" ") not in page
    got = await me.api("GET", "/profile")
    assert (got.data["family_name"], got.data["given_name"]) == (family.strip(" "), given)  # JSON: as stored


@pytest.mark.parametrize(("value", "message_id"), [
    ("Я" * 101, "settings.name_too_long"),
    ("Иван\r\nBcc: x@example.com", "settings.name_invalid"),
    ("Иван\tПетров", "settings.name_invalid"),
    ("Ива\x00н", "settings.name_invalid"),
    ("Иван\u202eвонаВ", "settings.name_invalid"),  # a bidi override: reads as someone else
    ("Иван\u2028Петров", "settings.name_invalid"),  # a line separator
    ("- '", "settings.name_invalid"),
    ("12345", "settings.name_invalid"),
    ("<>'--", "settings.name_invalid"),
])
async def test_bad_names_are_refused_and_nothing_changes(surface, services, value, message_id):
    me = await signed_in(surface, services, 102)
    assert (await me.profile(family_name="Петров", given_name="Пётр")).ok
    r = await me.profile(family_name="Сидоров", given_name=value)
    assert (r.status, r.field) == (422, "given_name")
    assert shown(r) == services.catalog.text(message_id, "ru", max=100)
    acc = await account(services, "+79120000102")
    assert (acc.family_name, acc.given_name) == ("Петров", "Пётр")  # no half-written record


async def test_a_hundred_characters_fit_and_an_empty_name_clears_it(surface, services):
    me = await signed_in(surface, services, 103)
    assert (await me.profile(family_name="Ж" * 100, given_name="Анна", middle_name="Ивановна")).ok
    assert (await account(services, "+79120000103")).family_name == "Ж" * 100
    assert (await me.profile(family_name="Ж" * 100, given_name="Анна", middle_name="   ")).ok
    assert (await account(services, "+79120000103")).middle_name is None


async def test_api_leaves_names_out_of_the_body_unchanged_and_refuses_wrong_types(client_factory, services):
    from tests.support import ApiSurface

    me = await signed_in(ApiSurface(client_factory()), services, 104)
    assert (await me.profile(**NAMES)).ok
    r = await me.profile(middle_name=None)
    assert r.ok and r.data["family_name"] == NAMES["family_name"] and r.data["middle_name"] is None
    r = await me.profile(given_name=["Анна"])
    assert (r.status, r.code, r.field) == (422, "bad_request", "given_name")


async def test_mass_assignment_in_the_profile_is_ignored(surface, services):
    me = await signed_in(surface, services, 105)
    before = await account(services, "+79120000105")
    r = await me.profile(family_name="Петров", role="admin", state="blocked", phone="+79990000000",
                         phone_verified_at=None, email="x@example.com", login="hacker", id="someone-else",
                         level="confirmed", is_admin=True)
    assert r.ok
    after = await account(services, "+79120000105")
    assert after.family_name == "Петров"
    assert (after.role, after.state, after.phone, after.phone_verified_at, after.email, after.login, after.id) == (
        before.role, before.state, before.phone, before.phone_verified_at, before.email, before.login, before.id)


async def test_settings_need_a_signed_in_full_session(surface, services, client_factory):
    anon = SettingsClient(surface)
    if anon.ui:
        for path in ("/settings", "/settings/contacts", "/settings/login", "/settings/notifications"):
            resp = await anon.page(path)
            assert resp.status_code == 303 and resp.headers["location"] == "/login?return_to=" + path
    else:
        assert (await anon.api("GET", "/profile")).status == 401
        assert (await anon.api("PUT", "/login", {"login": "ivan"})).status == 401
    me = await signed_in(surface, services, 106)
    async with services.db.write() as s:  # as after signing in with a temporary password
        await s.execute(update(Session).values(restrictions="password_change"))
    if me.ui:
        for path in ("/settings", "/settings/contacts", "/settings/login", "/settings/notifications"):
            resp = await me.page(path)
            assert resp.status_code == 303 and resp.headers["location"] == "/settings/password"
    else:
        for method, path in (("GET", "/profile"), ("PUT", "/profile"), ("GET", "/contacts"),
                             ("PUT", "/notifications"), ("DELETE", "/contacts/phone")):
            r = await me.api(method, path, {} if method != "GET" and method != "DELETE" else None)
            assert (r.status, r.code) == (403, "password_change_required"), (method, path)


async def test_settings_forms_need_the_csrf_token(client_factory, services):
    from tests.support import UiSurface

    me = await signed_in(UiSurface(client_factory()), services, 107)
    for path in ("/settings", "/settings/login", "/settings/notifications", "/settings/contacts/email",
                 "/settings/contacts/phone/remove", "/settings/contacts/confirm"):
        resp = await me.s.client.post(path, data={"family_name": "Петров", "login": "ivan"})
        assert resp.status_code == 403, path
    for path in ("/settings", "/settings/login", "/settings/notifications"):
        page = await me.page(path)
        assert page.text.count('name="csrf_token"') >= 2, path  # the form and sign-out


# -- login name ------------------------------------------------------------------------------

async def test_login_can_be_set_and_used_to_sign_in_case_insensitively(surface, surface_factory, services):
    me = await signed_in(surface, services, 110)
    r = await me.set_login("Ivan.Petrov")
    assert r.ok, (r.status, r.field, r.message)
    acc = await account(services, "+79120000110")
    assert acc.login == "ivan.petrov"
    assert [e.outcome for e in await events(services, acc.id, "login_changed")] == ["success"]
    other = surface_factory()
    signin = await other.login(method="login", login="IVAN.petrov", password=PASSWORD,
                               captcha=await captcha_token(other.client, "login"))
    assert signin.ok
    assert (await me.set_login("ivan-petrov")).ok
    assert (await account(services, "+79120000110")).login == "ivan-petrov"
    assert "ivan-petrov" in (await me.page("/settings/login")).text


async def test_a_taken_login_is_refused_whatever_its_case(surface, services):
    await make_user(services, 111, login="ivan.petrov")
    me = await signed_in(surface, services, 112)
    r = await me.set_login("Ivan.PETROV")
    assert (r.status, r.field) == (409, "login")
    assert shown(r) == "Этот логин уже занят"
    assert (await account(services, "+79120000112")).login is None


@pytest.mark.parametrize(("value", "message_id"), [
    ("", "login.required"),
    ("ab", "login.length"),
    ("a" * 65, "login.length"),
    ("ivan\r\npetrov", "login.alphabet"),
    ("ivan petrov", "login.alphabet"),
    ("<b>ivan</b>", "login.alphabet"),
    ("ivаn", "login.confusable"),  # Cyrillic «а»
    (".ivan", "login.alphabet"),
])
async def test_bad_logins_are_refused(surface, services, value, message_id):
    me = await signed_in(surface, services, 113, login="keep.me")
    r = await me.set_login(value)
    assert (r.status, r.field) == (422, "login")
    assert shown(r) == services.catalog.text(message_id, "ru")
    assert (await account(services, "+79120000113")).login == "keep.me"


# -- «Настройка уведомлений» -----------------------------------------------------------------

ALL_ON = {"service": {"sms": True, "email": True}, "marketing": {"sms": True, "email": True}}


async def _marketing_consents(services, account_id: str) -> list[Consent]:
    async with services.db.read() as s:
        rows = await s.execute(select(Consent).where(Consent.account_id == account_id, Consent.kind == MARKETING)
                               .order_by(Consent.created_at))
        return list(rows.scalars())


async def test_defaults_follow_the_registration_consent_and_security_is_mandatory(surface, services):
    await register(surface, "+79120000120", consent_marketing=True)
    me = SettingsClient(surface)
    state = await me.notification_state()
    assert state["marketing_consent"] is True
    assert all(i["enabled"] != (i["kind"] == "signin") for i in state["items"])  # sign-in messages: asked for
    assert all(i["mandatory"] == (i["kind"] == "security") for i in state["items"])
    assert {i["kind"] for i in state["items"]} == {"security", "signin", "service", "marketing"}
    page = (await me.page("/settings/notifications")).text
    assert 'name="security_sms" aria-label' in page and "checked disabled" in page
    assert "Настройка уведомлений" in page and "Изменить пароль" in page


async def test_marketing_consent_can_be_withdrawn_and_given_again_with_records(surface, services, clock):
    await register(surface, "+79120000121", consent_marketing=True)
    me = SettingsClient(surface)
    acc = await account(services, "+79120000121")
    r = await me.notifications(ALL_ON, consent=False)
    assert r.ok, (r.status, r.field, r.message)
    state = await me.notification_state()
    assert state["marketing_consent"] is False
    assert not enabled(state, "marketing", "sms") and not enabled(state, "marketing", "email")
    assert enabled(state, "service", "sms")  # only marketing depends on the consent
    page = (await me.page("/settings/notifications")).text
    assert services.catalog.text("notifications.marketing_off", "ru") in page
    assert [e.kind for e in await events(services, acc.id, "consent_withdrawn")] == ["consent_withdrawn"]

    assert (await me.notifications(ALL_ON, consent=True)).ok  # the same instant: still ordered
    state = await me.notification_state()
    assert state["marketing_consent"] is True and enabled(state, "marketing", "email")

    rows = await _marketing_consents(services, acc.id)
    assert [c.granted for c in rows] == [True, False, True]
    text = services.catalog.text("consent.marketing", "ru")
    for row in rows[1:]:
        assert row.document_sha256 == sha256_hex(text)
        assert row.document_version == services.preset.consent_version
        assert row.channel == surface.name and row.ip and row.created_at
    assert (await me.notifications(ALL_ON, consent=True)).ok  # no change, no new record
    assert len(await _marketing_consents(services, acc.id)) == 3


async def test_channel_choices_are_kept_and_security_cannot_be_turned_off(surface, services):
    me = await signed_in(surface, services, 122)
    choices = {"service": {"sms": False, "email": True}, "marketing": {"sms": True, "email": False}}
    assert (await me.notifications(choices, consent=True)).ok
    state = await me.notification_state()
    assert not enabled(state, "service", "sms") and enabled(state, "service", "email")
    assert enabled(state, "marketing", "sms") and not enabled(state, "marketing", "email")
    assert enabled(state, "security", "sms") and enabled(state, "security", "email")
    if me.ui:  # a forged unticked «security» box is simply not a choice the form has
        r = await me.form("/settings/notifications", {"security_sms": False, "service_email": True})
        assert r.ok
    else:
        r = await me.api("PUT", "/notifications", {"preferences": {"security": {"email": False}}})
        assert (r.status, r.code, r.field) == (422, "mandatory", "preferences")
        assert shown(r) == "Уведомления о безопасности отключить нельзя"
    state = await me.notification_state()
    assert enabled(state, "security", "email") and enabled(state, "security", "sms")


@pytest.mark.parametrize("body", [
    {"preferences": {"newsletter": {"sms": True}}},
    {"preferences": {"service": {"pigeon": True}}},
    {"preferences": {"service": {"sms": "yes"}}},
    {"preferences": ["service"]},
    {"marketing_consent": "no"},
])
async def test_api_refuses_unknown_kinds_channels_and_values(client_factory, services, body):
    from tests.support import ApiSurface

    me = await signed_in(ApiSurface(client_factory()), services, 123)
    r = await me.api("PUT", "/notifications", body)
    assert r.status == 422 and r.field in ("preferences", "marketing_consent"), (r.status, r.field)
    state = await me.notification_state()
    assert all(i["enabled"] for i in state["items"] if i["kind"] not in ("marketing", "signin"))


async def test_settings_speak_english_when_asked(surface, services):
    me = await signed_in(surface, services, 130)
    if me.ui:
        me.s.client.cookies.set("dostup_lang", "en")
        for path, title in (("/settings", "Personal information"), ("/settings/login", "Login"),
                            ("/settings/notifications", "Notification settings"),
                            ("/settings/contacts", "Phone and email")):
            page = await me.page(path)
            assert page.status_code == 200 and f"<h1>{title}</h1>" in page.text, path
        await make_user(services, 131, login="taken.name")
        r = await me.set_login("taken.name")
        assert shown(r) == "This login is already taken"
    else:
        await make_user(services, 131, login="taken.name")
        resp = await me.s.client.put("/api/v1/settings/login", json={"login": "taken.name"},
                                     headers={**me._headers(), "Accept-Language": "en"})
        assert resp.status_code == 409 and resp.json()["error"]["message"] == "This login is already taken"


async def test_two_accounts_racing_for_one_login_get_one_success_and_one_409(client_factory, services):
    import asyncio

    from tests.support import ApiSurface

    a = await signed_in(ApiSurface(client_factory()), services, 132)
    b = await signed_in(ApiSurface(client_factory()), services, 133)
    results = await asyncio.gather(*(c.set_login("contested") for c in (a, b) for _ in range(3)))
    assert sorted({r.status for r in results}) == [200, 409]
    owners = {(await account(services, p)).login for p in ("+79120000132", "+79120000133")}
    assert owners == {"contested", None}
