"""The second sign-in step with recovery codes (SPEC §4.9; SECURITY.md: second factors).

Recovery codes are the first second-factor method, added as the proof that a method plugs into
the login flow without the flow knowing it (issue 8 §5).  Both surfaces, both backends.
"""

from __future__ import annotations

import asyncio
import html
import re
from typing import Any

from sqlalchemy import select

from dostup.persistence.models import Credential, Flow
from tests.flows.helpers import PASSWORD
from tests.flows.settings_support import account, events, make_user
from tests.support import ApiSurface, Result, Surface, UiSurface, _api_result, last_code

_CODE = re.compile(r"<li><code>([a-z0-9-]+)</code></li>")
_FLOW = re.compile(r"flow=([A-Za-z0-9_-]+)")


class TwoStep:
    """Sign-in with a second step, and recovery codes in settings, the same over both surfaces."""

    def __init__(self, surface: Surface) -> None:
        self.s = surface
        self.ui = isinstance(surface, UiSurface)

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.s.token}"} if self.s.token and not self.ui else {}

    async def new_codes(self) -> Result:
        if self.ui:
            assert isinstance(self.s, UiSurface)
            resp = await self.s.post_form("/settings/recovery-codes", {}, "/settings/recovery-codes")
            if resp.status_code != 200:
                return Result(resp.status_code, False, data={"location": resp.headers.get("location", "")})
            return Result(200, True, data={"codes": _CODE.findall(resp.text)})
        return _api_result(await self.s.client.post("/api/v1/settings/recovery-codes", headers=self._auth()))

    async def login(self, phone: str, password: str = PASSWORD) -> Result:
        r = await self.s.login(method="phone", phone=phone, password=password)
        if not r.ok:
            return r
        if self.ui:
            found = _FLOW.search(r.data["location"])
            r.data["flow_id"] = found.group(1) if found else None
        else:
            r.data["flow_id"] = r.data.get("second_factor", {}).get("flow_id")
        return r

    async def second(self, flow_id: str, code: str, method: str = "recovery_code") -> Result:
        if self.ui:
            assert isinstance(self.s, UiSurface)
            r = self.s._result(await self.s.post_form(
                "/login/second-factor", {"flow": flow_id, "code": code, "method": method}))
            if r.ok:
                self.s.token = self.s.client.cookies.get("dostup_session")
            return r
        r = _api_result(await self.s.client.post(f"/api/v1/login/{flow_id}/second-factor",
                                                 json={"method": method, "code": code}))
        if r.ok:
            self.s.token = r.data["session"]["token"]
        return r


async def _enrolled(surface: Surface, services: Any, n: int) -> tuple[TwoStep, str, list[str]]:
    phone = await make_user(services, n)
    me = TwoStep(surface)
    assert (await me.login(phone)).ok
    made = await me.new_codes()
    assert made.ok, made
    codes = made.data["codes"]
    assert len(codes) == 10 and len(set(codes)) == 10
    await surface.logout()
    surface.token = None
    return me, phone, codes


async def test_an_account_with_recovery_codes_gets_no_session_before_the_second_step(surface, services):
    me, phone, codes = await _enrolled(surface, services, 400)
    first = await me.login(phone)
    assert first.ok and first.data["flow_id"]
    if me.ui:
        assert first.data["location"].startswith("/login/second-factor?flow=")
        page = await surface.client.get(first.data["location"])
        assert "Подтверждение входа" in page.text and "Резервный код" in page.text
    else:
        assert "session" not in first.data and first.data["second_factor"]["methods"] == ["recovery_code"]
    assert (await surface.whoami()).status == 401
    done = await me.second(first.data["flow_id"], codes[3].upper().replace("-", " "))  # typing is forgiving
    assert done.ok, done
    who = await surface.whoami()
    assert who.ok and who.data["session"]["aal"] == 2
    assert set(who.data["session"]["amr"]) == {"pwd", "otp", "mfa"}


async def test_a_recovery_code_works_once(surface, services):
    me, phone, codes = await _enrolled(surface, services, 401)
    flow = (await me.login(phone)).data["flow_id"]
    assert (await me.second(flow, codes[0])).ok
    await surface.logout()
    surface.token = None
    again = (await me.login(phone)).data["flow_id"]
    r = await me.second(again, codes[0])
    assert not r.ok and r.status == 401
    assert "Неверный код" in html.unescape(r.message or r.data.get("html", ""))
    assert (await me.second(again, codes[1])).ok


async def test_five_wrong_codes_end_the_flow_even_if_the_sixth_is_right(surface, services):
    me, phone, codes = await _enrolled(surface, services, 402)
    flow = (await me.login(phone)).data["flow_id"]
    statuses = [(await me.second(flow, f"aaaaa-aaaa{i}")).status for i in range(5)]
    assert statuses[:4] == [401] * 4 and statuses[4] == 409
    r = await me.second(flow, codes[0])
    assert not r.ok and r.status in (404, 409)
    assert (await surface.whoami()).status == 401
    async with services.db.read() as s:
        assert (await s.get(Flow, flow)).state == "failed"


async def test_ten_parallel_uses_of_one_code_sign_in_exactly_once(client_factory, services):
    me, phone, codes = await _enrolled(ApiSurface(client_factory()), services, 403)
    surfaces = [TwoStep(ApiSurface(client_factory(f"192.0.2.{i + 1}"))) for i in range(10)]  # per-IP limit: 10/min
    flows = [(await s.login(phone)).data["flow_id"] for s in surfaces]
    results = await asyncio.gather(*(s.second(f, codes[5]) for s, f in zip(surfaces, flows, strict=True)))
    assert sum(r.ok for r in results) == 1
    # the losers are wrong codes (401) or, past 5 failures on the account, asked for a captcha
    assert {r.code for r in results if not r.ok} <= {"second_factor_invalid", "captcha_required"}
    async with services.db.read() as s:
        row = (await s.execute(select(Credential))).scalar_one()
        assert len(row.config["hashes"]) == 9


async def test_ten_parallel_wrong_codes_are_all_counted(client_factory, services):
    me, phone, _ = await _enrolled(ApiSurface(client_factory()), services, 404)
    flow = (await me.login(phone)).data["flow_id"]
    results = await asyncio.gather(*(me.second(flow, f"bbbbb-bbbb{i}") for i in range(10)))
    assert not any(r.ok for r in results)
    assert sum(r.status == 401 for r in results) <= 5  # the rest found the flow used up


async def test_recovery_with_a_temporary_password_still_asks_for_the_second_step(surface, services):
    """SECURITY.md: a temporary password yields no session until the second step passes."""
    me, phone, codes = await _enrolled(surface, services, 405)
    api = ApiSurface(surface.client) if me.ui else surface
    from tests.flows.test_recovery import _request

    await _request(api, phone=phone)
    temp = await last_code(surface.client, phone, "recovery_password")
    first = await me.login(phone, temp)
    assert first.ok and first.data["flow_id"]
    assert (await surface.whoami()).status == 401
    assert (await me.second(first.data["flow_id"], codes[0])).ok
    who = await surface.client.get("/api/v1/whoami", headers=me._auth())
    assert who.json()["error"]["code"] == "password_change_required"  # still limited to the change


async def test_new_codes_need_a_recent_sign_in_and_replace_the_old_set(surface, services, clock):
    me, phone, codes = await _enrolled(surface, services, 406)
    flow = (await me.login(phone)).data["flow_id"]
    assert (await me.second(flow, codes[0])).ok
    clock.advance(minutes=16)
    stale = await me.new_codes()
    assert not stale.ok
    assert stale.status == 403 or "/reauth" in stale.data.get("location", "")
    acc = await account(services, phone)
    assert [e.kind for e in await events(services, acc.id, "recovery_codes_generated")] == ["recovery_codes_generated"]


async def test_bad_second_step_input_is_refused_clearly(client_factory, services):
    me, phone, _ = await _enrolled(ApiSurface(client_factory()), services, 407)
    flow = (await me.login(phone)).data["flow_id"]
    for bad in ("", "12345678901234567890", "кириллица", "a" * 300, "x\r\ny"):
        r = await me.second(flow, bad)
        assert r.status in (401, 422), (bad, r.status)
    assert (await me.second(flow, "aaaaa-aaaaa", method="totp")).status == 422
    assert (await me.second("no-such-flow", "aaaaa-aaaaa")).status == 404
    assert (await me.second("../../etc", "aaaaa-aaaaa")).status == 404
