"""TOTP (SPEC §4.9; SECURITY.md: second factors): enrol, second step, replay, step-up, turn off.

Codes are computed with pyotp at the injected clock's time.  Both surfaces for enrolment and the
second step, both backends.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from typing import Any

import pyotp
from sqlalchemy import func, select, update

from dostup.persistence.models import Account, Session
from tests.flows.settings_support import account, events, make_user
from tests.flows.test_second_factor import TwoStep
from tests.support import ApiSurface, Result, Surface, UiSurface, _api_result

_SECRET = re.compile(r'<code class="secret">([A-Z2-7]+)</code>')
_FLOW = re.compile(r'name="flow" value="([A-Za-z0-9_-]+)"')
_CODE = re.compile(r"<li><code>([a-z0-9-]+)</code></li>")


def code_at(secret: str, when: dt.datetime) -> str:
    return pyotp.TOTP(secret).at(when.replace(tzinfo=dt.UTC))


class Totp(TwoStep):
    async def enrol(self) -> tuple[str, str]:
        """Begin enrolment; returns (flow id, secret shown as text)."""
        if self.ui:
            assert isinstance(self.s, UiSurface)
            page = await self.s.post_form("/settings/totp", {}, "/settings/totp")
            assert page.status_code == 200, page.status_code
            assert "<svg" in page.text and "Код из приложения" in page.text
            return _FLOW.findall(page.text)[-1], _SECRET.search(page.text).group(1)  # type: ignore[union-attr]
        r = _api_result(await self.s.client.post("/api/v1/settings/totp", headers=self._auth()))
        assert r.ok, r
        assert r.data["qr_svg"].startswith("<svg")
        return r.data["flow_id"], r.data["secret"]

    async def confirm(self, flow_id: str, code: str) -> Result:
        if self.ui:
            assert isinstance(self.s, UiSurface)
            resp = await self.s.post_form("/settings/totp/confirm", {"flow": flow_id, "code": code}, "/settings/totp")
            codes = _CODE.findall(resp.text)
            return Result(resp.status_code, bool(codes), data={"codes": codes, "html": resp.text})
        return _api_result(await self.s.client.post("/api/v1/settings/totp/confirm", headers=self._auth(),
                                                    json={"flow_id": flow_id, "code": code}))


async def _with_totp(surface: Surface, services: Any, clock: Any, n: int) -> tuple[Totp, str, str]:
    phone = await make_user(services, n)
    me = Totp(surface)
    assert (await me.login(phone)).ok
    flow, secret = await me.enrol()
    done = await me.confirm(flow, code_at(secret, clock.now()))
    assert done.ok and len(done.data["codes"]) == 10, done
    await surface.logout()
    surface.token = None
    clock.advance(seconds=30)  # the enrolment code's step is spent
    return me, phone, secret


async def test_enrolment_shows_the_secret_and_a_qr_code_and_needs_a_right_first_code(surface, services, clock):
    phone = await make_user(services, 500)
    me = Totp(surface)
    assert (await me.login(phone)).ok
    flow, secret = await me.enrol()
    assert len(secret) == 32
    wrong = await me.confirm(flow, "000000" if code_at(secret, clock.now()) != "000000" else "111111")
    assert not wrong.ok and wrong.status == 422
    assert (await me.confirm(flow, code_at(secret, clock.now()))).ok


async def test_sign_in_with_totp_is_aal2_and_a_code_is_refused_again_in_its_step(surface, services, clock):
    me, phone, secret = await _with_totp(surface, services, clock, 501)
    first = await me.login(phone)
    if not me.ui:
        assert first.data["second_factor"]["methods"] == ["totp", "recovery_code"]
    code = code_at(secret, clock.now())
    assert (await me.second(first.data["flow_id"], code, "totp")).ok
    who = await surface.whoami()
    assert who.data["session"]["aal"] == 2 and set(who.data["session"]["amr"]) == {"pwd", "otp", "mfa"}
    await surface.logout()
    surface.token = None
    again = await me.login(phone)
    replay = await me.second(again.data["flow_id"], code, "totp")
    assert not replay.ok and replay.status == 401
    clock.advance(seconds=30)
    assert (await me.second(again.data["flow_id"], code_at(secret, clock.now()), "totp")).ok


async def test_a_two_step_sign_in_is_one_success_event_that_says_how_it_was_made(surface, services, clock):
    """The second step and the sign-in it finishes are one event (one row in the step's commit): the
    history shows the sign-in with its second factor and ``amr``; a wrong code is still an event."""
    me, phone, secret = await _with_totp(surface, services, clock, 503)
    acc = await account(services, phone)
    before = {e.id for e in await events(services, acc.id)}
    flow = (await me.login(phone)).data["flow_id"]
    wrong = "000000" if code_at(secret, clock.now()) != "000000" else "111111"
    assert not (await me.second(flow, wrong, "totp")).ok
    assert (await me.second(flow, code_at(secret, clock.now()), "totp")).ok
    new = [e for e in await events(services, acc.id) if e.id not in before]
    assert sorted((e.kind, e.outcome) for e in new) == [("login", "second_step"), ("login", "success"),
                                                        ("second_factor", "failure")], new
    done = next(e for e in new if e.outcome == "success")
    assert done.detail == {"method": "phone", "second_factor": "totp", "amr": ["pwd", "otp", "mfa"]}
    if me.ui:  # the security history says how this sign-in was made
        history = (await surface.client.get("/security")).text
        assert "вход: пароль, одноразовый код" in history, history[history.find("<main"):][:3000]


async def test_one_step_of_drift_is_accepted_two_are_not(client_factory, services, clock):
    me, phone, secret = await _with_totp(ApiSurface(client_factory()), services, clock, 502)
    clock.advance(seconds=30)  # one step back is then not the enrolment's (spent) step
    flow = (await me.login(phone)).data["flow_id"]
    assert not (await me.second(flow, code_at(secret, clock.now() - dt.timedelta(seconds=61)), "totp")).ok
    assert (await me.second(flow, code_at(secret, clock.now() - dt.timedelta(seconds=30)), "totp")).ok


async def test_ten_parallel_submissions_of_one_right_code_exactly_one_succeeds(client_factory, services, clock):
    me, phone, secret = await _with_totp(ApiSurface(client_factory()), services, clock, 503)
    others = [Totp(ApiSurface(client_factory(f"192.0.2.{i + 1}"))) for i in range(10)]
    flows = [(await o.login(phone)).data["flow_id"] for o in others]
    code = code_at(secret, clock.now())
    results = await asyncio.gather(*(o.second(f, code, "totp") for o, f in zip(others, flows, strict=True)))
    assert sum(r.ok for r in results) == 1


async def test_letters_and_seven_digits_are_no_code(client_factory, services, clock):
    me, phone, _ = await _with_totp(ApiSurface(client_factory()), services, clock, 504)
    flow = (await me.login(phone)).data["flow_id"]
    for bad in ("12a456", "1234567", "", "１２３４５６", "123 45"):
        r = await me.second(flow, bad, "totp")
        assert r.status in (401, 422) and not r.ok, (bad, r.status)


async def test_reauthentication_by_totp_raises_a_password_session_to_aal2(client_factory, services, clock):
    api = ApiSurface(client_factory())
    phone = await make_user(services, 505)
    me = Totp(api)
    assert (await me.login(phone)).ok  # before TOTP existed: aal1
    flow, secret = await me.enrol()
    assert (await me.confirm(flow, code_at(secret, clock.now()))).ok
    assert (await api.whoami()).data["session"]["aal"] == 1
    clock.advance(seconds=30)
    wrong = await api.client.post("/api/v1/reauth", headers=me._auth(), json={"method": "totp", "code": "12345x"})
    assert wrong.status_code == 401 and wrong.json()["error"]["field"] == "code"
    r = await api.client.post("/api/v1/reauth", headers=me._auth(),
                              json={"method": "totp", "code": code_at(secret, clock.now())})
    assert r.status_code == 200, r.text
    assert r.json()["aal"] == 2 and "otp" in r.json()["amr"]


async def test_turning_totp_off_needs_a_current_code(client_factory, services, clock):
    me, phone, secret = await _with_totp(ApiSurface(client_factory()), services, clock, 506)
    flow = (await me.login(phone)).data["flow_id"]
    assert (await me.second(flow, code_at(secret, clock.now()), "totp")).ok
    clock.advance(seconds=30)
    off = "/api/v1/settings/totp/disable"
    assert (await me.s.client.post(off, headers=me._auth(), json={"code": "000000"})).status_code == 422
    assert (await me.s.client.post(off, headers=me._auth(),
                                   json={"code": code_at(secret, clock.now())})).status_code == 204
    await me.s.logout()
    me.s.token = None
    plain = await me.login(phone)  # recovery codes remain a second factor
    assert plain.data["second_factor"]["methods"] == ["recovery_code"]


async def test_with_totp_sensitive_actions_need_an_aal2_session(client_factory, services, clock):
    """SECURITY.md: when the account has a second factor, sensitive actions need aal2 (step-up)."""
    api = ApiSurface(client_factory())
    phone = await make_user(services, 507)
    me = Totp(api)
    assert (await me.login(phone)).ok  # aal1, from before TOTP
    flow, secret = await me.enrol()
    assert (await me.confirm(flow, code_at(secret, clock.now()))).ok
    new = await api.client.post("/api/v1/settings/recovery-codes", headers=me._auth())
    assert new.status_code == 403 and new.json()["error"]["code"] == "second_factor_required"
    clock.advance(seconds=30)
    up = await api.client.post("/api/v1/reauth", headers=me._auth(),
                               json={"method": "totp", "code": code_at(secret, clock.now())})
    api.token = up.json()["token"]
    assert (await api.client.post("/api/v1/settings/recovery-codes", headers=me._auth())).status_code == 200


async def test_on_the_pages_reauthentication_offers_the_app_code_and_steps_up(client_factory, services, clock):
    ui = UiSurface(client_factory())
    phone = await make_user(services, 508)
    me = Totp(ui)
    assert (await me.login(phone)).ok
    flow, secret = await me.enrol()
    assert (await me.confirm(flow, code_at(secret, clock.now()))).ok
    page = await ui.client.get("/reauth")
    assert "Код из приложения" in page.text
    clock.advance(seconds=30)
    r = await ui.post_form("/reauth", {"method": "totp", "code": code_at(secret, clock.now()),
                                       "return_to": "/settings"}, "/reauth")
    assert r.status_code == 303 and r.headers["location"] == "/settings"
    assert (await ui.whoami()).data["session"]["aal"] == 2


async def test_the_security_page_and_the_sessions_api_say_how_each_session_was_signed_in(client_factory, services,
                                                                                          clock):
    ui = UiSurface(client_factory())
    me, phone, secret = await _with_totp(ui, services, clock, 509)
    first = await me.login(phone)
    assert (await me.second(first.data["flow_id"], code_at(secret, clock.now()), "totp")).ok
    page = await ui.client.get("/security")
    assert "Вход: пароль, одноразовый код" in page.text
    assert "вход: пароль, одноразовый код" in page.text  # the sign-in event's detail
    api = ApiSurface(client_factory())
    other = Totp(api)
    second = await other.login(phone)
    clock.advance(seconds=30)
    assert (await other.second(second.data["flow_id"], code_at(secret, clock.now()), "totp")).ok
    items = (await api.client.get("/api/v1/sessions", headers={"Authorization": f"Bearer {api.token}"})).json()["items"]
    assert {(i["aal"], tuple(i["amr"])) for i in items} == {(2, ("pwd", "otp", "mfa"))}


async def test_confirming_the_enrolment_draws_no_qr_code(client_factory, services, clock, monkeypatch):
    """The QR code is drawn where it is shown (the enrolment's start); the confirmation only needs
    the secret (drawing costs milliseconds of CPU)."""
    from dostup.credentials import totp

    drawn: list[str] = []
    real = totp.qr_svg

    def counted(uri: str) -> str:
        drawn.append(uri)
        return real(uri)

    monkeypatch.setattr(totp, "qr_svg", counted)
    phone = await make_user(services, 501)
    me = Totp(ApiSurface(client_factory()))
    assert (await me.login(phone)).ok
    flow, secret = await me.enrol()
    assert len(drawn) == 1
    assert (await me.confirm(flow, code_at(secret, clock.now()))).ok
    assert len(drawn) == 1


async def test_an_account_blocked_after_its_password_gets_no_session_from_the_second_step(surface, services, clock):
    """Only an active account signs in: a flow that waited for its second step while support
    blocked the account is refused with a right code, and nothing is written (no session, no
    success event, the code not spent)."""
    me, phone, secret = await _with_totp(surface, services, clock, 504)
    acc = await account(services, phone)
    flow = (await me.login(phone)).data["flow_id"]
    async with services.db.write() as s:
        await s.execute(update(Account).where(Account.id == acc.id).values(state="blocked"))
    refused = await me.second(flow, code_at(secret, clock.now()), "totp")
    assert not refused.ok and refused.status == 404, refused
    async with services.db.read() as s:
        sessions = (await s.execute(select(func.count()).select_from(Session)
                                    .where(Session.account_id == acc.id, Session.revoked_at.is_(None)))).scalar_one()
    assert sessions == 0
    assert [e for e in await events(services, acc.id, "login") if e.outcome == "success" and "second_factor" in e.detail] == []
