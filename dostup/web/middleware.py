"""Pure-ASGI middleware (cheap on the hot path): security headers and a body size limit."""

from __future__ import annotations

import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dostup.guards.limits import charged_only_on_success

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "worker-src 'self' blob: data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'self'"
)


def security_headers(*, production: bool, form_targets: tuple[str, ...] = ()) -> list[tuple[bytes, bytes]]:
    """The headers :class:`SecurityHeaders` adds to every answer (and whoami's fast path,
    ``web/api/plain_session.py``, to its own)."""
    csp = CSP.replace("form-action 'self'", " ".join(("form-action 'self'", *form_targets)))
    headers = [
        (b"x-content-type-options", b"nosniff"),
        (b"content-security-policy", csp.encode()),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"no-referrer"),
    ]
    if production:
        headers.append((b"strict-transport-security", b"max-age=31536000; includeSubDomains"))
    return headers


class SecurityHeaders:
    """CSP, nosniff, frame-ancestors; HSTS in production; no-referrer on sensitive pages."""

    def __init__(self, app: ASGIApp, *, production: bool, form_targets: tuple[str, ...] = ()) -> None:
        """``form_targets``: origins a form's redirect may reach besides this site — the social
        sign-in providers' authorization endpoints (CSP 3 §6.3.1 applies ``form-action`` to redirects)."""
        self.app = app
        self.headers = security_headers(production=production, form_targets=form_targets)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = self.headers

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if any(k == b"content-security-policy" for k, _ in headers):  # a page with its own (OIDC consent)
                    message["headers"] = headers + [h for h in extra if h[0] != b"content-security-policy"]
                else:
                    message["headers"] = headers + extra
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _error_body(code: str, message: str) -> bytes:
    return json.dumps({"error": {"code": code, "message": message, "field": None}}, ensure_ascii=False).encode()


class LimitsLedger:
    """Every request is a unit whose limit counts are given back if it fails on our side
    (``dostup.guards.limits.charged_only_on_success``): a registration whose database write
    fails after its code was reserved leaves the phone's cool-down and allowances untouched."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        async with charged_only_on_success():
            await self.app(scope, receive, send)


class BodyLimit:
    """Refuse bodies over ``max_bytes`` with 413 before any handler reads them."""

    def __init__(self, app: ASGIApp, *, max_bytes: int, message: str) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.message = message

    async def _reject(self, send: Send) -> None:
        body = _error_body("payload_too_large", self.message)
        await send({"type": "http.response.start", "status": 413, "headers": [
            (b"content-type", b"application/json; charset=utf-8"), (b"content-length", str(len(body)).encode()),
            (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    too_big = int(value) > self.max_bytes
                except ValueError:
                    too_big = True
                if too_big:
                    await self._reject(send)
                    return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _TooLarge()
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if not started:
                await self._reject(send)


class _TooLarge(Exception):
    pass


def client_ip(scope: dict[str, Any]) -> str:
    client = scope.get("client")
    return client[0] if client else "127.0.0.1"
