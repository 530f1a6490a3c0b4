"""The passkey sign-in's fast path (``web/api/plain_passkey.py``): a success is sent with the
application's headers, and every refusal is the application's own answer (status, body, headers)."""

from __future__ import annotations

from typing import Any

import httpx

from dostup.web.app import DostupApp
from tests.flows.helpers import redis_unreachable
from tests.flows.test_passkeys import _with_passkey
from tests.support import ApiSurface

OPTIONS, LOGIN = "/api/v1/login/passkey/options", "/api/v1/login/passkey"


async def _post(app: DostupApp, path: str, *, fast: bool, **kw: Any) -> httpx.Response:
    kept = app.fast_passkey
    if not fast:
        app.fast_passkey = None
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=("127.0.0.1", 51000)),
                                     base_url="http://testserver") as c:
            return await c.post(path, **kw)
    finally:
        app.fast_passkey = kept


def _names(r: httpx.Response) -> list[str]:
    return [k.decode().lower() for k, _ in r.headers.raw]


async def test_a_sign_in_on_the_fast_path_has_the_applications_headers(app, services, client_factory):
    me, auth, _ = await _with_passkey(ApiSurface(client_factory()), services, 571)
    fast, routed = await _post(app, OPTIONS, fast=True, json={}), await _post(app, OPTIONS, fast=False, json={})
    assert fast.status_code == routed.status_code == 200
    assert _names(fast) == _names(routed) and "x-frame-options" in _names(fast)
    assert fast.json().keys() == routed.json().keys()
    for r in (fast, routed):
        done = await _post(app, LOGIN, fast=r is fast,
                           json={"flow_id": r.json()["flow_id"], "credential": auth.get(r.json()["options"])})
        assert done.status_code == 200, done.text
        assert done.headers["content-security-policy"] and done.json()["session"]["token"]


def _tampered(flow_id: str) -> str:
    """One character of the HMAC changed (not the last: it carries only 2 bits, and may already be the
    replacement)."""
    i = len(flow_id) - 5
    return flow_id[:i] + ("B" if flow_id[i] != "B" else "C") + flow_id[i + 1:]


async def test_refusals_on_the_fast_path_are_the_applications_answers(app, services, client_factory):
    me, auth, _ = await _with_passkey(ApiSurface(client_factory()), services, 572)
    started = (await _post(app, OPTIONS, fast=True, json={})).json()
    answer = auth.get(started["options"])
    cases: list[tuple[str, dict[str, Any]]] = [
        (LOGIN, {"content": b"{not json", "headers": {"content-type": "application/json"}}),
        (LOGIN, {"json": {"flow_id": 5}}),
        (LOGIN, {"json": {"flow_id": "no-such-flow", "credential": answer}}),
        (LOGIN, {"json": {"flow_id": _tampered(started["flow_id"]), "credential": answer}}),
        (LOGIN, {"json": {"flow_id": started["flow_id"], "credential": answer},
                 "headers": {"origin": "https://evil.example", "sec-fetch-site": "cross-site"}}),
        (OPTIONS, {"json": {"flow_id": "x" * 65}}),
        (OPTIONS, {"content": b"x" * (services.settings.max_body_bytes + 1)}),
    ]
    for path, kw in cases:
        fast, routed = await _post(app, path, fast=True, **kw), await _post(app, path, fast=False, **kw)
        assert 400 <= fast.status_code < 500, (kw, fast.text)
        assert (fast.status_code, fast.content, fast.headers.raw) == (routed.status_code, routed.content,
                                                                      routed.headers.raw), kw
    once = await _post(app, LOGIN, fast=True, json={"flow_id": started["flow_id"], "credential": answer})
    again = await _post(app, LOGIN, fast=True, json={"flow_id": started["flow_id"], "credential": answer})
    assert once.status_code == 200 and again.status_code == 409  # the refusal was not run twice


async def test_an_unreachable_redis_is_a_503_on_the_fast_path_as_through_the_application(tmp_path):
    from dostup.web.app import create_app

    async with redis_unreachable(tmp_path) as services:
        app = create_app(services=services, run_migrations=False)
        assert isinstance(app, DostupApp)
        started = await _post(app, OPTIONS, fast=True, json={})
        assert started.status_code == 200  # the options store and count nothing: no Redis needed
        body = {"flow_id": started.json()["flow_id"], "credential": {"id": "x"}}
        fast, routed = await _post(app, LOGIN, fast=True, json=body), await _post(app, LOGIN, fast=False, json=body)
        assert fast.status_code == 503 and fast.json()["error"]["code"] == "service_unavailable"
        assert (fast.status_code, fast.content, fast.headers.raw) == (routed.status_code, routed.content,
                                                                      routed.headers.raw)
