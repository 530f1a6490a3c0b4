"""A passkey sign-in's two JSON calls, and the second sign-in step, answered before the middleware
stack and router, as whoami (``web/api/plain_session.py``): ``POST /login/passkey/options``,
``POST /login/passkey`` and ``POST /login/{flow_id}/second-factor`` (TOTP, a recovery code).

The same route functions (``api/passkeys.py``, ``api/second_factor.py``: ``PLAIN``) run on the same request, inside the same
limits ledger (``charged_only_on_success``), and a success is sent with the same headers, every
security header included.  Anything else goes through the application unchanged:

- a request without a ``Content-Length`` within the body limit is declined before its body is read;
- a refusal or an error (4xx, a database outage's 503, a 500) is not answered here: the body read
  is replayed to the application, and the route raises the very exception the fast call raised
  (``FAST_ERROR`` in the scope), so the application's handlers write its status, body and headers
  — nothing is done twice (a spent challenge stays spent once).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from dostup.core.context import Context
from dostup.core.i18n import pick_locale
from dostup.guards.limits import charged_only_on_success
from dostup.web.api import PREFIX

FAST_ERROR = "dostup.fast_error"

Route = Callable[[Request], Awaitable[Response]]

_STEP_AT, _STEP = PREFIX + "/login/", "/second-factor"


class _Routes(dict[str, Route]):
    """The routes by path, and the second step's path, which names its flow (``/login/{flow_id}/second-factor``,
    ``{flow_id}`` one path segment as Starlette matches it): its route gets the flow id as a path parameter."""

    def __init__(self, routes: dict[str, Route], second_step: Route) -> None:
        super().__init__(routes)
        self._second_step = second_step

    def get(self, path: str, default: Route | None = None) -> Route | None:  # type: ignore[override]
        route = super().get(path)
        if route is not None:
            return route
        if path.startswith(_STEP_AT) and path.endswith(_STEP):
            flow_id = path[len(_STEP_AT):-len(_STEP)]
            if flow_id and "/" not in flow_id:
                return self._with_flow(flow_id)
        return default

    def _with_flow(self, flow_id: str) -> Route:
        async def route(request: Request) -> Response:
            request.scope["path_params"] = {"flow_id": flow_id}
            return await self._second_step(request)

        return route


class FastPasskeySignIn:
    def __init__(self, routes: dict[str, Route], second_step: Route, headers: list[tuple[bytes, bytes]],
                 max_bytes: int) -> None:
        self.routes = _Routes(routes, second_step)
        self._headers = headers
        self._max = max_bytes

    async def __call__(self, route: Route, scope: Scope, receive: Receive, send: Send) -> Receive | None:
        """None when answered; else the ``receive`` the application is to be called with."""
        body = await read_body(scope, receive, self._max)
        if not isinstance(body, bytes):
            return body
        return await answer(lambda: route(Request(scope, replay(body))), scope, body, send, self._headers)


async def answer(respond: Callable[[], Awaitable[Response]], scope: Scope, body: bytes, send: Send,
                 headers: list[tuple[bytes, bytes]]) -> Receive | None:
    """``respond()``'s response sent with ``headers`` added, inside the limits ledger: None.  If it
    raises, nothing is sent: the exception is left in the scope (``FAST_ERROR``) for the route to
    raise again, and the ``receive`` that replays ``body`` to the application is returned."""
    try:
        async with charged_only_on_success():
            response = await respond()
    except Exception as exc:  # noqa: BLE001 - answered by the application's handlers, as before
        scope[FAST_ERROR] = exc
        return replay(body)
    await send({"type": "http.response.start", "status": response.status_code,
                "headers": [*response.raw_headers, *headers]})
    await send({"type": "http.response.body", "body": response.body})
    return None


async def read_body(scope: Scope, receive: Receive, max_bytes: int) -> bytes | Receive:
    """The whole body of a request whose ``Content-Length`` is within ``max_bytes``; else the
    ``receive`` the application is to be called with (the original one when nothing was read: no
    length, or too long, for its ``BodyLimit`` to answer; a replay when the client went away)."""
    length = None
    for name, value in scope["headers"]:
        if name == b"content-length":
            length = value
    if length is None or not length.isdigit() or int(length) > max_bytes:
        return receive
    chunks: list[bytes] = []
    more = True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            return replay(b"".join(chunks), message)
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    return b"".join(chunks)


def api_context(request: Request) -> Context:
    """``make_context(request, "api")`` read in one pass over the scope's headers (names are lower
    case in ASGI; the first of a repeated header counts, as Starlette's ``Headers.get``), the query
    string parsed only when there is one: these routes' context at a fifth of its CPU."""
    scope = request.scope
    agent = language = None
    for name, value in scope["headers"]:
        if name == b"user-agent":
            agent = agent if agent is not None else value
        elif name == b"accept-language":
            language = language if language is not None else value
    lang = request.query_params.get("lang") if scope.get("query_string") else None
    client = scope.get("client")
    return Context(ip=client[0] if client else "127.0.0.1",
                   user_agent=agent.decode("latin-1")[:512] if agent is not None else "", surface="api",
                   locale=pick_locale(lang, language.decode("latin-1") if language is not None else None))


def replay(body: bytes, then: Message | None = None) -> Receive:
    """A ``receive`` that gives ``body`` once, then ``then`` (a disconnect) or waits for nothing."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return then or {"type": "http.disconnect"}

    return receive
