"""What a partner's server gets when Dostup itself fails: the OpenID Connect machine endpoints answer
OAuth's JSON error (RFC 6749 §5.2) — ``temporarily_unavailable`` with ``Retry-After`` while the
database is down, ``server_error`` on a crash — never an HTML page; and every answer given outside
the middleware stack (outages, crashes: Starlette's outermost handler) carries the security headers,
on the pages and the JSON API too."""

from __future__ import annotations

import inspect
from typing import Any

import httpx
import pytest

from dostup.oidc.provider.service import OidcProvider
from dostup.services import Services
from tests.flows.helpers import phone_e164, register
from tests.support import ApiSurface, UiSurface

SECURITY = ("content-security-policy", "x-content-type-options", "x-frame-options")
MACHINE = [("POST", "/oauth2/token", "token"), ("GET", "/oauth2/userinfo", "userinfo"),
           ("POST", "/oauth2/revoke", "revoke"), ("POST", "/oauth2/introspect", "introspect"),
           ("GET", "/oauth2/jwks", "jwks"), ("GET", "/.well-known/openid-configuration", "discovery")]


def _failing(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str, exc: Exception) -> None:
    """``owner.name`` raising ``exc``: the database gone (a connection error) or a bug."""

    def sync_fail(*_: Any, **__: Any) -> Any:
        raise exc

    async def async_fail(*_: Any, **__: Any) -> Any:
        raise exc

    monkeypatch.setattr(owner, name, async_fail if inspect.iscoroutinefunction(getattr(owner, name)) else sync_fail)


async def _call(app: Any, method: str, path: str, cookies: dict[str, str] | None = None, **kw: Any) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=("127.0.0.1", 51000),
                                                            raise_app_exceptions=False),
                                 base_url="http://testserver", cookies=cookies) as c:
        return await c.request(method, path, **kw)


def _secured(r: httpx.Response) -> None:
    for name in SECURITY:
        assert r.headers.get(name), (r.status_code, name, dict(r.headers))


@pytest.mark.parametrize(("method", "path", "name"), MACHINE)
async def test_a_database_outage_is_oauths_temporarily_unavailable(app, services: Services, monkeypatch, method: str,
                                                                  path: str, name: str) -> None:
    _failing(monkeypatch, OidcProvider, name, ConnectionError("the database is down"))
    form = {"data": {"grant_type": "authorization_code", "code": "x", "token": "x"}} if method == "POST" else {}
    r = await _call(app, method, path, headers={"Authorization": "Bearer some-token"}, **form)
    assert r.status_code == 503, r.text
    assert r.headers["content-type"].startswith("application/json") and r.headers["retry-after"].isdigit()
    body = r.json()
    assert body["error"] == "temporarily_unavailable" and "недоступен" in body["error_description"], body
    assert r.headers["cache-control"] == "no-store"
    _secured(r)


async def test_a_crash_at_the_token_endpoint_is_oauths_server_error(app, services: Services, monkeypatch) -> None:
    _failing(monkeypatch, OidcProvider, "token", RuntimeError("a bug"))
    for fast in (True, False):
        kept = app.fast_token
        app.fast_token = kept if fast else None
        try:
            r = await _call(app, "POST", "/oauth2/token", data={"grant_type": "authorization_code", "code": "x"})
        finally:
            app.fast_token = kept
        assert r.status_code == 500 and r.json()["error"] == "server_error", (fast, r.text)
        _secured(r)


async def test_outage_answers_of_pages_and_the_api_carry_the_security_headers(app, services: Services,
                                                                             client_factory: Any,
                                                                             monkeypatch) -> None:
    api, ui = ApiSurface(client_factory()), UiSurface(client_factory())
    await register(api, phone_e164(802))
    await register(ui, phone_e164(803))
    _failing(monkeypatch, type(services.history), "sessions", ConnectionError("the database is down"))
    r = await _call(app, "GET", "/api/v1/sessions", headers={"Authorization": f"Bearer {api.token}"})
    assert r.status_code == 503 and r.json()["error"]["code"] == "service_unavailable", r.text
    _secured(r)
    page = await _call(app, "GET", "/security", cookies=dict(ui.client.cookies))
    assert page.status_code == 503 and "text/html" in page.headers["content-type"], page.text[:300]
    _secured(page)
