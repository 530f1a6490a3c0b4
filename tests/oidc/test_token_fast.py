"""The token endpoint's fast path (``dostup/web/oidc/fast_token.py``): it answers before FastAPI's
stack, with the application's status, body and headers — a success, every RFC 6749 refusal, and a
failure of the provider, which is answered by the application's handlers without running twice."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from dostup.oidc.provider.service import OidcProvider
from dostup.services import Services
from dostup.web.app import DostupApp
from tests.oidc.support import REDIRECT, add_client, code_for, pkce, signed_in_browser, unverified

TOKEN = "/oauth2/token"


class _Entered:
    """Counts the calls of a real method and lets each through."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, owner: type, name: str) -> None:
        self.calls = 0
        real = getattr(owner, name)

        async def counted(*args: Any, **kw: Any) -> Any:
            self.calls += 1
            return await real(*args, **kw)

        monkeypatch.setattr(owner, name, counted)


async def _call(app: DostupApp, method: str, path: str, *, fast_path: str, fast: bool, **kw: Any) -> httpx.Response:
    """``method path`` through the app, with its fast path ``app.<fast_path>`` on or off."""
    kept = getattr(app, fast_path)
    if not fast:
        setattr(app, fast_path, None)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=("127.0.0.1", 51000),
                                                                raise_app_exceptions=False),
                                     base_url="http://testserver") as c:
            return await c.request(method, path, **kw)
    finally:
        setattr(app, fast_path, kept)


async def _post(app: DostupApp, *, fast: bool, **kw: Any) -> httpx.Response:
    return await _call(app, "POST", TOKEN, fast_path="fast_token", fast=fast, **kw)


def _exchange(rp: dict[str, Any], code: str, verifier: str, **extra: str) -> dict[str, Any]:
    return {"data": {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
                     "code_verifier": verifier, **extra}, "auth": (rp["client_id"], rp["client_secret"])}


def _same(fast: httpx.Response, routed: httpx.Response) -> None:
    assert (fast.status_code, fast.content, fast.headers.raw) == (routed.status_code, routed.content,
                                                                  routed.headers.raw)


async def test_an_exchange_on_the_fast_path_never_enters_fastapi_and_answers_as_the_application(
        app: DostupApp, services: Services, client_factory: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    rp = await add_client(services)
    browser = await signed_in_browser(client_factory(), services)
    verifier, challenge = pkce()
    pkce_params = {"code_challenge": challenge, "code_challenge_method": "S256"}
    first = await code_for(browser, rp["client_id"], **pkce_params)
    second = await code_for(browser, rp["client_id"], **pkce_params)
    entered = _Entered(monkeypatch, FastAPI, "__call__")
    fast = await _post(app, fast=True, **_exchange(rp, first["code"], verifier))
    assert fast.status_code == 200, fast.text
    assert entered.calls == 0
    routed = await _post(app, fast=False, **_exchange(rp, second["code"], verifier))
    assert routed.status_code == 200 and entered.calls == 1
    assert [(k, v) for k, v in fast.headers.raw if k != b"content-length"] == [
        (k, v) for k, v in routed.headers.raw if k != b"content-length"]
    assert fast.headers["x-frame-options"] == "DENY" and fast.headers["cache-control"] == "no-store"
    assert "content-security-policy" in fast.headers and "x-content-type-options" in fast.headers
    assert list(fast.json()) == list(routed.json())
    for name in ("access_token", "id_token"):
        head, claims = unverified(fast.json()[name])
        other_head, other = unverified(routed.json()[name])
        assert head == other_head and claims.keys() == other.keys()
    again = await _post(app, fast=True, **_exchange(rp, first["code"], verifier))
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"  # spent once, on the fast path


async def test_refusals_on_the_fast_path_are_the_applications_answers(
        app: DostupApp, services: Services) -> None:
    rp = await add_client(services)
    public = await add_client(services, name="Приложение", public=True)
    verifier, _ = pkce()
    basic = (rp["client_id"], rp["client_secret"])
    form = {"grant_type": "authorization_code", "code": "no-such-code", "redirect_uri": REDIRECT,
            "code_verifier": verifier}
    cases: list[dict[str, Any]] = [
        {"data": form, "auth": basic},  # invalid_grant (an unknown code, on the direct path)
        {"data": form, "auth": (rp["client_id"], "x" * 43)},  # invalid_client, 401 with WWW-Authenticate
        {"data": {**form, "client_id": rp["client_id"], "client_secret": "x" * 43}},  # invalid_client by post
        {"data": {**form, "client_id": public["client_id"]}},  # a public client: invalid_grant
        {"data": {**form, "grant_type": "password"}, "auth": basic},  # unsupported_grant_type
        {"data": {**form, "grant_type": "refresh_token", "refresh_token": "nope"}, "auth": basic},  # invalid_grant
        {"data": {k: v for k, v in form.items() if k != "code"}, "auth": basic},  # invalid_request
        {"data": {**form, "code": "c" * 300}, "auth": basic},  # an oversized code: Authlib's answer
        {"data": {**form, "code_verifier": "v" * 9000}, "auth": basic},  # a field over 8,192 characters
        {"content": b"code=a&code=b", "auth": basic,
         "headers": {"content-type": "application/x-www-form-urlencoded"}},  # a repeated field
        {"json": form, "auth": basic},  # not a form
        {"content": b"x" * (services.settings.max_body_bytes + 1), "auth": basic,
         "headers": {"content-type": "application/x-www-form-urlencoded"}},  # 413, before it is read
        {"data": form, "auth": basic, "params": {"x": "1"}},  # a query string: Authlib's endpoint
    ]
    for kw in cases:
        fast, routed = await _post(app, fast=True, **kw), await _post(app, fast=False, **kw)
        assert 400 <= fast.status_code < 500, (kw.get("data"), fast.text)
        _same(fast, routed)
        if fast.status_code != 413:
            assert fast.json()["error"] in ("invalid_request", "invalid_client", "invalid_grant",
                                            "unsupported_grant_type"), fast.text
            assert fast.headers["x-frame-options"] == "DENY"


async def test_a_failure_of_the_provider_is_answered_by_the_application_without_running_twice(
        app: DostupApp, services: Services, client_factory: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    rp = await add_client(services)
    browser = await signed_in_browser(client_factory(), services)
    verifier, challenge = pkce()
    got = await code_for(browser, rp["client_id"], code_challenge=challenge, code_challenge_method="S256")
    async with services.db.write() as s:  # the codes' table is gone: the exchange fails on the database
        await s.execute(text("ALTER TABLE oidc_codes RENAME TO oidc_codes_away"))
    try:
        calls = _Entered(monkeypatch, OidcProvider, "token")
        fast = await _post(app, fast=True, **_exchange(rp, got["code"], verifier))
        assert calls.calls == 1  # the application's route raised the fast path's error, it did not exchange again
        routed = await _post(app, fast=False, **_exchange(rp, got["code"], verifier))
        assert calls.calls == 2
    finally:
        async with services.db.write() as s:
            await s.execute(text("ALTER TABLE oidc_codes_away RENAME TO oidc_codes"))
    assert fast.status_code == routed.status_code == 500
    assert [k for k, _ in fast.headers.raw] == [k for k, _ in routed.headers.raw]  # the error page's (its CSRF differs)
    assert len(fast.content) == len(routed.content)
    ok = await _post(app, fast=True, **_exchange(rp, got["code"], verifier))
    assert ok.status_code == 200, ok.text  # the failed tries spent nothing


# -- userinfo ---------------------------------------------------------------------------------

async def _userinfo(app: DostupApp, *, fast: bool, **kw: Any) -> httpx.Response:
    return await _call(app, "GET", "/oauth2/userinfo", fast_path="fast_userinfo", fast=fast, **kw)


async def _access_token(app: DostupApp, services: Services, client_factory: Any) -> str:
    rp = await add_client(services)
    browser = await signed_in_browser(client_factory(), services)
    verifier, challenge = pkce()
    got = await code_for(browser, rp["client_id"], code_challenge=challenge, code_challenge_method="S256")
    r = await _post(app, fast=True, **_exchange(rp, got["code"], verifier))
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


async def test_userinfo_on_the_fast_path_never_enters_fastapi_and_answers_as_the_application(
        app: DostupApp, services: Services, client_factory: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    token = await _access_token(app, services, client_factory)
    entered = _Entered(monkeypatch, FastAPI, "__call__")
    bearer = {"headers": {"Authorization": f"Bearer {token}"}}
    fast = await _userinfo(app, fast=True, **bearer)
    assert fast.status_code == 200 and fast.json()["sub"], fast.text
    assert entered.calls == 0
    routed = await _userinfo(app, fast=False, **bearer)
    assert entered.calls == 1
    _same(fast, routed)
    assert fast.headers["cache-control"] == "no-store" and fast.headers["x-frame-options"] == "DENY"
    assert "content-security-policy" in fast.headers
    # RFC 6750 §3.1 refusals: the same statuses, bodies and WWW-Authenticate as the application's
    for kw in ({}, {"headers": {"Authorization": "Bearer not-a-token"}},
               {"headers": {"Authorization": f"Bearer {token[:-4]}AAAA"}}, {"headers": {"Authorization": "Basic eDp5"}}):
        fast, routed = await _userinfo(app, fast=True, **kw), await _userinfo(app, fast=False, **kw)
        assert fast.status_code == 401 and fast.headers["www-authenticate"].startswith("Bearer"), fast.text
        _same(fast, routed)
    grant = unverified(token)[1]["jti"].partition(".")[0]
    async with services.db.write() as s:  # a revoked grant's token is refused at once, on the fast path too
        await s.execute(text("UPDATE oidc_grants SET revoked_at = created_at WHERE id = :g"), {"g": grant})
    refused = await _userinfo(app, fast=True, **bearer)
    assert refused.status_code == 401 and refused.json() == {"error": "invalid_token"}


async def test_a_failure_at_userinfo_is_answered_by_the_application_without_reading_twice(
        app: DostupApp, services: Services, client_factory: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    token = await _access_token(app, services, client_factory)
    bearer = {"headers": {"Authorization": f"Bearer {token}"}}
    async with services.db.write() as s:  # the tokens' table is gone: the read fails on the database
        await s.execute(text("ALTER TABLE oidc_tokens RENAME TO oidc_tokens_away"))
    try:
        calls = _Entered(monkeypatch, OidcProvider, "userinfo")
        fast = await _userinfo(app, fast=True, **bearer)
        assert calls.calls == 1  # the route raised the fast path's error; it did not read again
        routed = await _userinfo(app, fast=False, **bearer)
        assert calls.calls == 2
    finally:
        async with services.db.write() as s:
            await s.execute(text("ALTER TABLE oidc_tokens_away RENAME TO oidc_tokens"))
    assert fast.status_code == routed.status_code == 500
    assert fast.json() == routed.json() and fast.json()["error"] == "server_error"
    assert [k for k, _ in fast.headers.raw] == [k for k, _ in routed.headers.raw]
    ok = await _userinfo(app, fast=True, **bearer)
    assert ok.status_code == 200, ok.text
