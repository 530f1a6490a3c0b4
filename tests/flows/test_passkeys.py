"""Passkeys (issue 10 §2, §5, §6; SECURITY.md: second factors and passkeys), without a browser.

A software authenticator (``passkey_support``) answers the options the server gives, so the
ceremonies run end to end over both surfaces (pages: the form the script would submit; JSON
API: what a mobile app sends) and both backends.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import func, select

from dostup.persistence.models import Credential, CredentialIdentifier, Session
from tests.flows.helpers import PASSWORD
from tests.flows.passkey_support import Authenticator
from tests.flows.settings_support import account, events, make_user, messages
from tests.support import ApiSurface, Result, Surface, UiSurface, _api_result


class Passkeys:
    """The passkey verbs over one surface: results look the same for both."""

    def __init__(self, surface: Surface) -> None:
        self.s = surface
        self.ui = isinstance(surface, UiSurface)

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.s.token}"} if self.s.token and not self.ui else {}

    async def _options(self, path: str, body: dict[str, Any] | None = None) -> Result:
        return _api_result(await self.s.client.post("/api/v1" + path, json=body or {}, headers=self._auth()))

    async def _form(self, path: str, data: dict[str, Any], page: str) -> Result:
        assert isinstance(self.s, UiSurface)
        r = self.s._result(await self.s.post_form(path, data, page))
        if r.ok and r.data["location"].startswith("/reauth"):
            return Result(403, False, code="reauth_required", data=r.data, headers=r.headers)
        return r

    async def add(self, auth: Authenticator, name: str | None = None, **knobs: Any) -> Result:
        started = await self._options("/settings/passkeys/options")
        if not started.ok:
            return started
        answer = auth.create(started.data["options"], **knobs)
        return await self.add_answer(started.data["flow_id"], answer, name)

    async def add_answer(self, flow_id: str, answer: Any, name: str | None = None) -> Result:
        if self.ui:
            return await self._form("/settings/passkeys", {"flow": flow_id, "credential": json.dumps(answer),
                                                           "name": name}, "/settings/passkeys")
        return _api_result(await self.s.client.post("/api/v1/settings/passkeys", headers=self._auth(),
                                                    json={"flow_id": flow_id, "credential": answer, "name": name}))

    async def options(self, parent: str | None = None) -> Result:
        return await self._options("/login/passkey/options", {"flow_id": parent} if parent else {})

    async def sign_in(self, auth: Authenticator, parent: str | None = None, **knobs: Any) -> Result:
        started = await self.options(parent)
        assert started.ok, started
        return await self.answer(started.data["flow_id"], auth.get(started.data["options"], **knobs), parent)

    async def answer(self, flow_id: str, answer: Any, parent: str | None = None) -> Result:
        if self.ui:
            sent = answer if isinstance(answer, str) else json.dumps(answer)
            r = await self._form("/login/passkey", {"flow": flow_id, "credential": sent, "parent": parent}, "/login")
            if r.ok:
                self.s.token = self.s.client.cookies.get("dostup_session")
            return r
        r = _api_result(await self.s.client.post("/api/v1/login/passkey",
                                                 json={"flow_id": flow_id, "credential": answer}))
        if r.ok:
            self.s.token = r.data["session"]["token"]
        return r

    async def reauth(self, auth: Authenticator) -> Result:
        started = await self._options("/reauth/passkey/options")
        if not started.ok:
            return started
        answer = auth.get(started.data["options"])
        if self.ui:
            r = await self._form("/reauth/passkey", {"flow": started.data["flow_id"], "credential": json.dumps(answer),
                                                     "return_to": "/settings/passkeys"}, "/cabinet")
            if r.ok:
                self.s.token = self.s.client.cookies.get("dostup_session")
            return r
        r = _api_result(await self.s.client.post("/api/v1/reauth/passkey", headers=self._auth(),
                                                 json={"flow_id": started.data["flow_id"], "credential": answer}))
        if r.ok:
            self.s.token = r.data["token"]
        return r

    async def listed(self) -> list[dict[str, Any]]:
        resp = await self.s.client.get("/api/v1/settings/passkeys", headers=self._auth())
        assert resp.status_code == 200, resp.text
        return list(resp.json()["items"])

    async def rename(self, passkey_id: str, name: str) -> Result:
        if self.ui:
            return await self._form(f"/settings/passkeys/{passkey_id}/rename", {"name": name}, "/settings/passkeys")
        return _api_result(await self.s.client.patch(f"/api/v1/settings/passkeys/{passkey_id}", json={"name": name},
                                                     headers=self._auth()))

    async def remove(self, passkey_id: str) -> Result:
        if self.ui:
            return await self._form(f"/settings/passkeys/{passkey_id}/remove", {}, "/settings/passkeys")
        return _api_result(await self.s.client.delete(f"/api/v1/settings/passkeys/{passkey_id}", headers=self._auth()))

    async def reauth_password(self) -> Result:
        if self.ui:
            return await self._form("/reauth", {"password": PASSWORD, "return_to": "/settings/passkeys"}, "/cabinet")
        r = _api_result(await self.s.client.post("/api/v1/reauth", json={"password": PASSWORD}, headers=self._auth()))
        if r.ok:
            self.s.token = r.data["token"]
        return r

    async def sign_out(self) -> None:
        await self.s.logout()
        self.s.token = None
        self.s.client.cookies.clear()


async def _with_passkey(surface: Surface, services: Any, n: int, **auth_kw: Any) -> tuple[Passkeys, Authenticator, str]:
    """An account that added a passkey in settings and signed out again."""
    phone = await make_user(services, n)
    assert (await surface.login(method="phone", phone=phone, password=PASSWORD)).ok
    me, auth = Passkeys(surface), Authenticator(**auth_kw)
    added = await me.add(auth, name="Мой телефон")
    assert added.ok, added
    await me.sign_out()
    return me, auth, phone


async def _sessions(services: Any) -> int:
    async with services.db.read() as s:
        return int((await s.execute(select(func.count()).select_from(Session))).scalar_one())


# -- sign-in -------------------------------------------------------------------------------------

async def test_a_passkey_added_in_settings_signs_in_without_a_password_at_aal2(surface, services):
    me, auth, phone = await _with_passkey(surface, services, 500)
    assert (await surface.whoami()).status == 401
    r = await me.sign_in(auth)
    assert r.ok, r
    if me.ui:
        assert r.data["location"] == "/cabinet"
    who = await surface.whoami()
    assert who.ok and who.data["session"]["aal"] == 2
    assert who.data["session"]["amr"] == ["hwk", "user", "mfa"]  # single-device key: hardware-secured
    items = await me.listed()
    assert len(items) == 1 and items[0]["name"] == "Мой телефон" and items[0]["last_used_at"] is not None
    assert items[0]["device_type"] == "single_device" and items[0]["attachment"] == "platform"
    acc = await account(services, phone)
    logins = [e for e in await events(services, acc.id, "login") if e.outcome == "success"]
    # both sign-ins happen at the frozen clock's one instant: find the passkey one, not the last row read
    by_passkey = [e for e in logins if e.detail["method"] == "passkey"]
    assert len(by_passkey) == 1 and by_passkey[0].detail["amr"] == ["hwk", "user", "mfa"]
    if me.ui:  # the security history says how this sign-in was made
        history = (await surface.client.get("/security")).text
        assert "по отпечатку (ключ входа)" in history, history[history.find("<main"):][:3000]


async def test_a_synced_passkey_is_a_software_key_in_amr(surface, services):
    me, auth, _ = await _with_passkey(surface, services, 501, synced=True, counting=False)
    assert (await me.sign_in(auth)).ok
    assert (await me.sign_in(auth)).ok  # a counter that stays 0 is no regression
    who = await surface.whoami()
    assert who.data["session"]["aal"] == 2 and who.data["session"]["amr"] == ["swk", "user", "mfa"]
    assert (await me.listed())[0]["device_type"] == "multi_device"


async def test_the_login_page_offers_the_passkey_button_only_to_scripts(services, client):
    page = await client.get("/login")
    assert "Войти по отпечатку" in page.text
    form = page.text.split('action="/login/passkey"')[1].split(">")[0]
    assert "hidden" in form and 'data-conditional' in form  # without JavaScript nothing to press
    assert 'autocomplete="tel webauthn"' in page.text
    assert '<form method="post" action="/login" novalidate>' in page.text  # the password form as before


# -- settings ------------------------------------------------------------------------------------

async def test_adding_a_passkey_needs_a_recent_reauthentication_and_tells_the_contacts(surface, services, clock):
    phone = await make_user(services, 510)
    assert (await surface.login(method="phone", phone=phone, password=PASSWORD)).ok
    me, auth = Passkeys(surface), Authenticator()
    clock.advance(minutes=16)
    if me.ui:
        page = await surface.client.get("/settings/passkeys")
        assert 'href="/reauth?return_to=/settings/passkeys"' in page.text and "Добавить ключ входа" in page.text
    refused = await me.add(auth)
    assert refused.status == 403 and refused.code == "reauth_required"
    assert (await me.reauth_password()).ok
    assert (await me.add(auth)).ok
    sent = await messages(services, phone, "passkey_added")
    assert len(sent) == 1 and "ключ входа" in sent[0].body
    acc = await account(services, phone)
    assert [e.outcome for e in await events(services, acc.id, "passkey_added")] == ["success"]


async def test_passkeys_are_listed_renamed_and_each_deleted_after_reauthentication(surface, services, clock):
    phone = await make_user(services, 511)
    assert (await surface.login(method="phone", phone=phone, password=PASSWORD)).ok
    me, phone_key, laptop_key = Passkeys(surface), Authenticator(), Authenticator()
    assert (await me.add(phone_key, name="Телефон")).ok
    clock.advance(seconds=1)
    assert (await me.add(laptop_key)).ok
    items = await me.listed()
    assert [i["name"] for i in items][0] == "Телефон" and items[1]["name"].startswith("Ключ входа от ")
    if me.ui:
        page = await surface.client.get("/settings/passkeys")
        assert page.text.count(">Удалить</button>") == 2 and "Вход по отпечатку" in page.text
    assert (await me.rename(items[1]["id"], "  Ноутбук  ")).ok
    bad = await me.rename(items[1]["id"], "")
    assert bad.status == 422 and bad.field == "name"
    assert (await me.listed())[1]["name"] == "Ноутбук"
    clock.advance(minutes=16)
    refused = await me.remove(items[0]["id"])
    assert refused.status == 403 and refused.code == "reauth_required"
    assert (await me.reauth(laptop_key)).ok  # a passkey re-authenticates too
    assert (await me.remove(items[0]["id"])).ok
    assert [i["name"] for i in await me.listed()] == ["Ноутбук"]
    missing = await me.remove(items[0]["id"])
    assert missing.status == 404
    await me.sign_out()
    gone = await me.sign_in(phone_key)
    assert gone.status == 401 and "не найден" in (gone.message or "")
    async with services.db.read() as s:
        assert (await s.execute(select(func.count()).select_from(CredentialIdentifier))).scalar_one() == 1


async def test_one_passkey_cannot_be_added_twice(services, client_factory):
    surface = ApiSurface(client_factory())
    phone = await make_user(services, 512)
    assert (await surface.login(method="phone", phone=phone, password=PASSWORD)).ok
    me, auth = Passkeys(surface), Authenticator()
    assert (await me.add(auth)).ok
    again = await me.add(auth, key=auth.keys[0])
    assert again.status == 409 and again.code == "passkey_taken"
    assert len(await me.listed()) == 1


async def test_a_registration_from_another_origin_or_without_user_verification_is_refused(surface, services):
    phone = await make_user(services, 513)
    assert (await surface.login(method="phone", phone=phone, password=PASSWORD)).ok
    me, auth = Passkeys(surface), Authenticator()
    for knobs in ({"origin": "https://evil.example"}, {"uv": False}, {"challenge": "AAAA"}):
        r = await me.add(auth, **knobs)
        assert r.status == 422 and "Не удалось проверить ключ входа" in (r.message or ""), (knobs, r)
    assert await me.listed() == []
    assert await messages(services, phone, "passkey_added") == []


# -- second step and re-authentication -----------------------------------------------------------

async def test_a_passkey_is_a_second_step_after_the_password(surface, services):
    phone = await make_user(services, 520)
    assert (await surface.login(method="phone", phone=phone, password=PASSWORD)).ok
    me, auth = Passkeys(surface), Authenticator()
    assert (await me.add(auth)).ok
    codes = _api_result(await surface.client.post("/api/v1/settings/recovery-codes", headers=me._auth()))
    assert codes.ok
    await me.sign_out()
    first = await surface.login(method="phone", phone=phone, password=PASSWORD)
    if me.ui:
        flow_id = first.data["location"].split("flow=")[1].split("&")[0]
        page = await surface.client.get(first.data["location"])
        assert "Подтвердить отпечатком" in page.text and "Резервный код" in page.text
    else:
        flow_id = first.data["second_factor"]["flow_id"]
        assert first.data["second_factor"]["methods"] == ["recovery_code", "passkey"]
    assert (await surface.whoami()).status == 401
    started = await me.options(flow_id)
    assert [c["id"] for c in started.data["options"]["allowCredentials"]] == await _ids(services, phone)
    r = await me.answer(started.data["flow_id"], auth.get(started.data["options"]), parent=flow_id)
    assert r.ok, r
    who = await surface.whoami()
    assert who.data["session"]["aal"] == 2 and set(who.data["session"]["amr"]) == {"pwd", "hwk", "user", "mfa"}
    # one success event for the sign-in, naming its second step (no separate second_factor row)
    acc = await account(services, phone)
    assert [e.detail["second_factor"] for e in await events(services, acc.id, "login") if e.outcome == "success"
            and "second_factor" in e.detail] == ["passkey"]
    assert [e.outcome for e in await events(services, acc.id, "second_factor")] == []


async def test_a_password_alone_still_signs_in_an_account_that_has_only_a_passkey(surface, services):
    _, _, phone = await _with_passkey(surface, services, 521)
    r = await surface.login(method="phone", phone=phone, password=PASSWORD)
    assert r.ok and (await surface.whoami()).data["session"]["amr"] == ["pwd"]


async def test_reauthentication_with_a_passkey_raises_aal(surface, services, clock):
    me, auth, phone = await _with_passkey(surface, services, 522)
    assert (await surface.login(method="phone", phone=phone, password=PASSWORD)).ok
    assert (await surface.whoami()).data["session"]["aal"] == 1
    clock.advance(minutes=16)
    if me.ui:
        page = await surface.client.get("/reauth?return_to=/settings/passkeys")
        assert "Подтвердить отпечатком" in page.text and "Пароль" in page.text
    r = await me.reauth(auth)
    assert r.ok, r
    who = await surface.whoami()
    assert who.data["session"]["aal"] == 2 and set(who.data["session"]["amr"]) == {"pwd", "hwk", "user", "mfa"}
    assert (await me.add(Authenticator())).ok  # recent again


async def test_a_reauthentication_challenge_belongs_to_its_session(services, client_factory):
    a, b = ApiSurface(client_factory()), ApiSurface(client_factory())
    me, auth, phone = await _with_passkey(a, services, 523)
    assert (await a.login(method="phone", phone=phone, password=PASSWORD)).ok
    assert (await b.login(method="phone", phone=phone, password=PASSWORD)).ok
    started = await Passkeys(a)._options("/reauth/passkey/options")
    answer = auth.get(started.data["options"])
    other = Passkeys(b)
    r = _api_result(await b.client.post("/api/v1/reauth/passkey", headers=other._auth(),
                                        json={"flow_id": started.data["flow_id"], "credential": answer}))
    assert r.status == 404


# -- bad input and abuse (§6) --------------------------------------------------------------------

MALFORMED: list[Any] = [
    "not json", "{}", "[]", "null", {"id": 5}, {"id": "!!"}, {"id": "AAAA"}, {"id": "A" * 400, "rawId": "A"},
    {"id": "AAAA", "rawId": "AAAA", "type": "public-key", "response": {"clientDataJSON": "%%%"}},
    {"id": "AAAA", "rawId": "AAAA", "type": "public-key",
     "response": {"clientDataJSON": "e30", "authenticatorData": "AA", "signature": "AA"}},
]


async def test_malformed_passkey_answers_are_a_clear_4xx_and_write_nothing(surface, services):
    me, auth, _ = await _with_passkey(surface, services, 530)
    before = await _sessions(services)
    valid = auth.get((await me.options()).data["options"])
    broken = [*MALFORMED, {**valid, "response": {**valid["response"], "signature": "AAAA"}},
              {**valid, "response": {**valid["response"], "clientDataJSON": valid["response"]["authenticatorData"]}},
              "x" * 20000]
    for bad in broken:
        started = await me.options()
        r = await me.answer(started.data["flow_id"], bad)
        assert r.status in (401, 422), (bad, r)
        assert r.message, bad  # localised, not a bare status
    assert await _sessions(services) == before
    assert (await me.sign_in(auth)).ok  # the passkey itself is fine


async def test_wrong_challenge_wrong_origin_and_no_user_verification_are_refused(surface, services):
    me, auth, _ = await _with_passkey(surface, services, 531)
    other = (await me.options()).data["options"]["challenge"]
    for knobs in ({"challenge": other}, {"origin": "https://evil.example"}, {"origin": "http://testserver:81"},
                  {"uv": False}):
        r = await me.sign_in(auth, **knobs)
        assert r.status == 422 and "Не удалось проверить ключ входа" in (r.message or ""), (knobs, r)
    assert (await surface.whoami()).status == 401


async def test_a_replayed_assertion_is_refused(surface, services):
    me, auth, _ = await _with_passkey(surface, services, 532)
    started = await me.options()
    answer = auth.get(started.data["options"])
    assert (await me.answer(started.data["flow_id"], answer)).ok
    await me.sign_out()
    again = await me.answer(started.data["flow_id"], answer)
    assert again.status == 409 and "уже использован" in (again.message or "")
    fresh = await me.options()
    replayed = await me.answer(fresh.data["flow_id"], answer)  # another challenge: the old answer does not fit
    assert replayed.status == 422
    assert (await surface.whoami()).status == 401


async def test_ten_parallel_answers_to_one_challenge_sign_in_once(services, client_factory):
    import asyncio

    me, auth, _ = await _with_passkey(ApiSurface(client_factory()), services, 533)
    started = await me.options()
    answer = auth.get(started.data["options"])
    callers = [Passkeys(ApiSurface(client_factory(f"192.0.2.{i + 1}"))) for i in range(10)]
    results = await asyncio.gather(*(c.answer(started.data["flow_id"], answer) for c in callers))
    assert sum(r.ok for r in results) == 1
    assert {r.status for r in results if not r.ok} == {409}


async def test_an_unknown_credential_is_refused_clearly(surface, services):
    me, _, _ = await _with_passkey(surface, services, 534)
    stranger = Authenticator()
    stranger.create({"rp": {"id": "testserver"}, "user": {"id": "AAAA"}, "challenge": "AAAA"})
    r = await me.sign_in(stranger)
    assert r.status == 401 and "не найден" in (r.message or "")


async def test_a_sign_count_regression_is_refused_and_recorded(surface, services):
    me, auth, phone = await _with_passkey(surface, services, 535)
    assert (await me.sign_in(auth, sign_count=7)).ok
    await me.sign_out()
    r = await me.sign_in(auth, sign_count=5)
    assert r.status == 401 and "копия" in (r.message or "")
    assert (await surface.whoami()).status == 401
    acc = await account(services, phone)
    recorded = await events(services, acc.id, "passkey_sign_count")
    assert len(recorded) == 1 and recorded[0].outcome == "refused"
    async with services.db.read() as s:
        row = (await s.execute(select(Credential).where(Credential.type == "passkey"))).scalar_one()
        assert row.config["sign_count"] == 7
    if isinstance(surface, UiSurface):
        assert (await surface.login(method="phone", phone=phone, password=PASSWORD)).ok
        history = await surface.client.get("/security")
        assert "Ключ входа отклонён: возможна копия" in history.text


async def test_an_expired_challenge_is_refused(surface, services, clock):
    me, auth, _ = await _with_passkey(surface, services, 536)
    started = await me.options()
    clock.advance(minutes=5, seconds=1)
    r = await me.answer(started.data["flow_id"], auth.get(started.data["options"]))
    assert r.status == 410


async def test_an_unknown_flow_is_404(surface, services):
    me, auth, _ = await _with_passkey(surface, services, 537)
    started = await me.options()
    r = await me.answer("no-such-flow", auth.get(started.data["options"]))
    assert r.status == 404


# -- helpers used above --------------------------------------------------------------------------

async def _ids(services: Any, phone: str) -> list[str]:
    acc = await account(services, phone)
    async with services.db.read() as s:
        return list((await s.execute(
            select(CredentialIdentifier.identifier).join(Credential, Credential.id == CredentialIdentifier.credential_id)
            .where(Credential.account_id == acc.id))).scalars())


async def test_the_sign_in_api_refuses_bodies_that_are_not_its_json(services, client):
    for path in ("/api/v1/login/passkey/options", "/api/v1/login/passkey"):
        for body in (b"not json", b"[]", b'{"flow_id": 5}', b'{"flow_id": "' + b"x" * 65 + b'"}'):
            r = await client.post(path, content=body, headers={"Content-Type": "application/json"})
            assert r.status_code == 422 and r.json()["error"]["message"], (path, body, r.text)
    r = await client.post("/api/v1/login/passkey", json={"flow_id": "abc", "credential": {}, "remember": "yes"})
    assert r.status_code == 422
    crossed = await client.post("/api/v1/login/passkey/options", json={}, headers={"Origin": "https://evil.example"})
    assert crossed.status_code == 403
    described = (await client.get("/api/openapi.json")).json()["paths"]
    assert {"/api/v1/login/passkey/options", "/api/v1/login/passkey", "/api/v1/reauth/passkey",
            "/api/v1/settings/passkeys", "/api/v1/settings/passkeys/{passkey_id}"} <= set(described)


async def test_deleting_the_account_erases_its_passkeys(services, client_factory):
    surface = ApiSurface(client_factory())
    me, auth, phone = await _with_passkey(surface, services, 540)
    assert (await surface.login(method="phone", phone=phone, password=PASSWORD)).ok
    gone = _api_result(await surface.client.request("DELETE", "/api/v1/account", json={"confirm": True},
                                                    headers=me._auth()))
    assert gone.status == 204, gone
    async with services.db.read() as s:
        assert (await s.execute(select(func.count()).select_from(CredentialIdentifier))).scalar_one() == 0
    r = await me.sign_in(auth)
    assert r.status == 401
