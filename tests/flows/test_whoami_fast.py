"""whoami's fast path (``web/api/plain_session.py``) answers a valid session byte for byte as the
application's own route does, and leaves every other case to the application."""

from __future__ import annotations

from typing import Any

import httpx

from dostup.web.app import WHOAMI, DostupApp
from tests.factories import make_user, sign_in
from tests.support import ApiSurface, UiSurface


def _scope(headers: list[tuple[bytes, bytes]], method: str = "GET") -> dict[str, Any]:
    return {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
            "path": WHOAMI, "raw_path": WHOAMI.encode(), "query_string": b"", "root_path": "",
            "headers": [(b"host", b"testserver"), *headers], "client": ("127.0.0.1", 51000),
            "server": ("testserver", 80)}


async def _fast(app: DostupApp, headers: list[tuple[bytes, bytes]], method: str = "GET") -> list[dict[str, Any]] | None:
    """What the fast path sends, or None when it declines."""
    sent: list[dict[str, Any]] = []

    async def send(message: Any) -> None:
        sent.append(message)

    assert app.fast_whoami is not None
    answered = await app.fast_whoami(_scope(headers, method), send)
    assert answered == bool(sent)
    return sent if answered else None


async def _through_the_app(app: DostupApp, headers: list[tuple[bytes, bytes]]) -> httpx.Response:
    fast, app.fast_whoami = app.fast_whoami, None
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=("127.0.0.1", 51000)),
                                     base_url="http://testserver") as c:
            return await c.get(WHOAMI, headers=headers)
    finally:
        app.fast_whoami = fast


async def test_a_valid_session_gets_the_same_status_body_and_headers_as_from_the_route(app, client_factory, services):
    api = await sign_in(ApiSurface(client_factory()), await make_user(services, 70))
    ui = await sign_in(UiSurface(client_factory()), await make_user(services, 71))
    for headers in ([(b"authorization", f"Bearer {api.token}".encode())],
                    [(b"cookie", b"theme=dark"), (b"cookie", f"dostup_session={ui.token}; lang=ru".encode())]):
        sent = await _fast(app, headers)
        assert sent is not None, headers
        routed = await _through_the_app(app, [(k.decode(), v.decode()) for k, v in headers])
        start, body = sent
        assert start["status"] == routed.status_code == 200
        assert body["body"] == routed.content
        assert start["headers"] == routed.headers.raw  # security headers included, in the same order


async def test_it_declines_what_the_application_answers_with_an_error(app, client_factory, services):
    api = await sign_in(ApiSurface(client_factory()), await make_user(services, 72))
    bearer = [(b"authorization", f"Bearer {api.token}".encode())]
    assert await _fast(app, bearer, method="HEAD") is None
    assert await _fast(app, []) is None
    assert await _fast(app, [(b"authorization", b"Bearer " + b"x" * 43)]) is None
    assert (await api.logout()).ok
    assert await _fast(app, bearer) is None  # revoked: declined, so the route answers 401 at once
    assert (await api.client.get(WHOAMI, headers={"Authorization": f"Bearer {api.token}"})).status_code == 401
