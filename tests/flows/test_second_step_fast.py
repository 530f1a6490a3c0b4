"""The second sign-in step before the middleware stack (``web/api/plain_passkey.py``), as the passkey
sign-in: a success is sent with the application's headers, and every refusal is the application's
own answer (status, body, headers), counted once."""

from __future__ import annotations

from typing import Any

import pytest

from tests.flows.helpers import count_entries
from tests.flows.test_passkey_fast import _names, _post
from tests.flows.test_second_factor import _enrolled
from tests.support import ApiSurface


async def _flow(me: Any, phone: str) -> str:
    r = await me.login(phone)
    assert r.ok and r.data["flow_id"], r
    return str(r.data["flow_id"])


def _step(flow_id: str) -> str:
    return f"/api/v1/login/{flow_id}/second-factor"


async def test_a_second_step_on_the_fast_path_is_the_applications_answer(app, services, client_factory):
    me, phone, codes = await _enrolled(ApiSurface(client_factory()), services, 581)
    fast = await _post(app, _step(await _flow(me, phone)), fast=True, json={"method": "recovery_code", "code": codes[0]})
    routed = await _post(app, _step(await _flow(me, phone)), fast=False,
                         json={"method": "recovery_code", "code": codes[1]})
    assert fast.status_code == routed.status_code == 200, (fast.text, routed.text)
    assert _names(fast) == _names(routed) and "content-security-policy" in _names(fast)
    a, b = fast.json(), routed.json()
    assert a["account"] == b["account"]
    assert {k: v for k, v in a["session"].items() if k not in ("token", "expires_at")} == \
        {k: v for k, v in b["session"].items() if k not in ("token", "expires_at")}
    assert a["session"]["aal"] == 2


async def test_refusals_on_the_fast_path_are_the_applications_answers_counted_once(app, services, client_factory):
    me, phone, codes = await _enrolled(ApiSurface(client_factory()), services, 582)
    flow_id = await _flow(me, phone)
    cases: list[tuple[str, dict[str, Any]]] = [
        (_step(flow_id), {"content": b"{not json", "headers": {"content-type": "application/json"}}),
        (_step(flow_id), {"json": {"method": "totp", "code": 5}}),
        (_step(flow_id), {"json": {"method": "sms", "code": "123456"}}),
        (_step(flow_id), {"json": {"method": "recovery_code", "code": "x" * 300}}),
        (_step("no-such-flow"), {"json": {"method": "recovery_code", "code": codes[0]}}),
        (_step(flow_id), {"json": {"method": "recovery_code", "code": codes[0]},
                          "headers": {"origin": "https://evil.example", "sec-fetch-site": "cross-site"}}),
        (_step(flow_id), {"content": b"x" * (services.settings.max_body_bytes + 1)}),
    ]
    for path, kw in cases:
        fast, routed = await _post(app, path, fast=True, **kw), await _post(app, path, fast=False, **kw)
        assert 400 <= fast.status_code < 500, (kw, fast.text)
        assert (fast.status_code, fast.content, fast.headers.raw) == (routed.status_code, routed.content,
                                                                      routed.headers.raw), kw
    # A wrong code is one of the flow's 5 tries: refused on the fast path and answered by the
    # application, it is still counted once (four wrong tries leave the fifth, a right one).
    for _ in range(4):
        wrong = await _post(app, _step(flow_id), fast=True, json={"method": "recovery_code", "code": "aaaa-bbbb"})
        assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "second_factor_invalid", wrong.text
    done = await _post(app, _step(flow_id), fast=True, json={"method": "recovery_code", "code": codes[0]})
    assert done.status_code == 200, done.text


async def test_a_second_step_is_answered_without_the_middleware_stack(app, services, client_factory,
                                                                      monkeypatch: pytest.MonkeyPatch):
    me, phone, codes = await _enrolled(ApiSurface(client_factory()), services, 583)
    flow_id = await _flow(me, phone)
    entered = count_entries(monkeypatch)
    done = await _post(app, _step(flow_id), fast=True, json={"method": "recovery_code", "code": codes[0]})
    assert done.status_code == 200, done.text
    assert entered == []
    again = await _post(app, _step(flow_id), fast=True, json={"method": "recovery_code", "code": codes[1]})
    assert again.status_code == 404 and entered == [_step(flow_id)]  # a refusal: the application's answer
