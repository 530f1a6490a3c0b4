"""whoami answered in one ASGI call, before the application's middleware stack and router.

whoami is the hot path (every page and API client asks it, SPEC's session check).  Even as a
plain Starlette route (``auth.PLAIN``) a request crossed eight layers before the session check:
Starlette's server-error and exception middleware, FastAPI's telemetry, body-limit and exit-stack
middleware, Dostup's three, the router's walk and Starlette's request/response wrapping — about
half of the CPU of the whole request (issue 13 §0, ``bench/memory.py``).  :class:`FastWhoami`
answers the one common case, a valid unrestricted session, straight to the server; every other
case (no token, an unknown, expired or revoked session, a restricted one, ``HEAD``, a database
error) is *declined* and the request goes through the application as before, where the same
``_whoami`` answers it with the same status, body and headers (a database error is handed to it in
the scope and raised again there, not met a second time).  Nothing is sent before the answer
is complete, so a declined request starts from scratch.

The session row is still read on every request (no cache), so a revoked session fails at once.
The answer carries the same body (:func:`dostup.web.api.auth.whoami_body`) and headers, including
every security header (:func:`dostup.web.middleware.security_headers`).  It is not traced by
FastAPI's OpenTelemetry middleware (Dostup configures no tracer provider).
"""

from __future__ import annotations

from starlette.requests import cookie_parser
from starlette.types import Scope, Send

from dostup.services import Services
from dostup.session.strength import is_unrestricted
from dostup.web.api.auth import FAST_FAILURE, whoami_body
from dostup.web.deps import session_cookie_name


class FastWhoami:
    """``GET /api/v1/whoami`` for a valid unrestricted session; declines (returns False) otherwise."""

    def __init__(self, services: Services, headers: list[tuple[bytes, bytes]]) -> None:
        self._services = services
        self._cookie = session_cookie_name(services)
        self._headers = [(b"content-type", b"application/json"), *headers]

    def _token(self, scope: Scope) -> str | None:
        """The token as :func:`dostup.web.deps.token_from` finds it: the first ``Authorization``
        header if it is a bearer one, else the session cookie (every ``Cookie`` header, later wins)."""
        auth: bytes | None = None
        cookies: list[bytes] = []
        for name, value in scope["headers"]:
            if name == b"authorization":
                if auth is None:
                    auth = value
            elif name == b"cookie":
                cookies.append(value)
        if auth is not None:
            text = auth.decode("latin-1")
            if text[:7].lower() == "bearer ":
                return text[7:].strip()
        jar: dict[str, str] = {}
        for value in cookies:
            jar.update(cookie_parser(value.decode("latin-1")))
        return jar.get(self._cookie)

    async def __call__(self, scope: Scope, send: Send) -> bool:
        if scope["method"] != "GET":
            return False
        token = self._token(scope)
        if not token:
            return False
        try:
            rec = await self._services.sessions.authenticate(token)
        except Exception as exc:  # noqa: BLE001 - declined: the route raises it again, the handlers answer (503)
            scope[FAST_FAILURE] = exc
            return False
        if rec is None or not is_unrestricted(rec):
            return False
        body = whoami_body(rec, self._services.companies.required).encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", str(len(body)).encode()), *self._headers]})
        await send({"type": "http.response.body", "body": body})
        return True
