"""A partner's two hot calls answered in one ASGI call, before the middleware stack and router, as
whoami (``web/api/plain_session.py``) and the passkey sign-in (``web/api/plain_passkey.py``) are:
``POST /oauth2/token`` (:class:`FastToken`) and ``GET /oauth2/userinfo`` (:class:`FastUserinfo`).

A partner makes this request once per sign-in, and the stack in front of the plain route (Starlette's
error and exception middleware, FastAPI's telemetry, body-limit and exit-stack middleware, Dostup's
three, the router's walk) cost about a fifth of an exchange's CPU (bench/RESULTS.md, issue 12 §5).

The answer is the route's own (``endpoints.token``): the same form reading (:func:`form_fields`), the
same call (:meth:`OidcProvider.token`: the direct code exchange, or Authlib's endpoint for every other
request), the same response (:func:`core_response`) with every security header added as
:class:`dostup.web.middleware.SecurityHeaders` adds them, inside the same limits ledger.  What it
leaves to the application, which then answers it from scratch (nothing was done):

- a body without a ``Content-Length`` within the body limit (the application's ``BodyLimit`` answers
  413), a request that is not a form, a malformed or repeated field (``invalid_request``), a
  disconnect while the body is read;
- an exception of the provider (a database outage …): the body read is replayed to the application,
  whose route raises that very exception (``FAST_ERROR``), so its handlers write the answer and
  nothing runs twice (a code spent stays spent once).
"""

from __future__ import annotations

from starlette.datastructures import URL, Headers
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from dostup.oidc.provider.server import HttpRequest
from dostup.oidc.provider.service import OidcProvider
from dostup.web.api.plain_passkey import answer, read_body, replay
from dostup.web.oidc.endpoints import userinfo
from dostup.web.oidc.http import core_response, form_fields

TOKEN = "/oauth2/token"  # noqa: S105 - a path
USERINFO = "/oauth2/userinfo"


class FastToken:
    def __init__(self, oidc: OidcProvider, headers: list[tuple[bytes, bytes]], max_bytes: int) -> None:
        self._oidc = oidc
        self._headers = headers
        self._max = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> Receive | None:
        """None when answered; else the ``receive`` the application is to be called with."""
        body = await read_body(scope, receive, self._max)
        if not isinstance(body, bytes):
            return body
        headers = Headers(scope=scope)
        form = form_fields(headers.get("content-type", ""), body)
        if isinstance(form, str):
            return replay(body)
        req = HttpRequest("POST", str(URL(scope=scope)), headers, form)

        async def respond() -> Response:
            return core_response(await self._oidc.token(req))

        return await answer(respond, scope, body, send, self._headers)


class FastUserinfo:
    """``GET /oauth2/userinfo``: the route's own function (``endpoints.userinfo``), its answer — the
    claims, or RFC 6750's ``invalid_token`` / ``insufficient_scope`` with ``WWW-Authenticate`` — sent
    with every security header.  An exception (a database outage …) is left in the scope for the
    route to raise again, so the application's handlers answer it and the token is read once."""

    def __init__(self, headers: list[tuple[bytes, bytes]]) -> None:
        self._headers = headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> Receive | None:
        """None when answered; else the ``receive`` the application is to be called with."""
        return await answer(lambda: userinfo(Request(scope, receive)), scope, b"", send, self._headers)
