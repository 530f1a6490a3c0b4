"""The only place that maps domain errors to HTTP statuses, JSON error bodies and error pages.

JSON error shape, everywhere: ``{"error": {"code": "...", "message": "...", "field": "..."}}``
(plus ``"fields": [...]`` when a form had several problems).  No stack trace leaves the server.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from dostup.core import errors as E
from dostup.persistence.db import unavailable, unstorable
from dostup.web.deps import get_services, make_context
from dostup.web.middleware import _TooLarge
from dostup.web.ui.render import render_error

log = logging.getLogger("dostup.web")

STATUS: list[tuple[type[E.DostupError], int]] = [
    (E.RateLimited, 429),
    (E.ServiceUnavailable, 503),
    (E.AuthenticationFailed, 401),
    (E.Unauthenticated, 401),
    (E.Forbidden, 403),
    (E.NotFound, 404),
    (E.FlowExpired, 410),
    (E.StepNotAllowed, 409),
    (E.Conflict, 409),
    (E.CaptchaRequired, 422),
    (E.FormErrors, 422),
    (E.ValidationFailed, 422),
]


def status_for(exc: E.DostupError) -> int:
    for cls, status in STATUS:
        if isinstance(exc, cls):
            return status
    return 400


def error_headers(exc: E.DostupError) -> dict[str, str]:
    if isinstance(exc, (E.RateLimited, E.ServiceUnavailable)):
        return {"Retry-After": str(exc.retry_after)}
    return {}


class MalformedJson(E.DostupError):
    """A JSON body that cannot be read: 400 (not in ``STATUS``), not the 422 of a field of the wrong kind."""

    code = "malformed"
    message_id = "error.malformed_json"


class Respond(Exception):  # noqa: N818 - not an error: a page's answer, e.g. the redirect to sign in
    """Answer with ``response`` now: raised by page dependencies and form helpers, returned as it is."""

    def __init__(self, response: Response) -> None:
        self.response = response


def is_api(request: Request) -> bool:
    """A call a program makes (the JSON API, a load balancer's health check): its errors are JSON."""
    path = request.url.path
    return path.startswith("/api/") or path == "/health" or path.startswith("/health/")


def is_oauth_machine(request: Request) -> bool:
    """An OpenID Connect endpoint a partner's server calls (token, userinfo, revocation, introspection,
    JWKS, discovery), not a page a browser is sent to (authorize, logout): its errors are OAuth's
    JSON object (RFC 6749 §5.2), whatever fails."""
    path = request.url.path
    return path.startswith("/.well-known/") or (path.startswith("/oauth2/")
                                                 and not path.startswith(("/oauth2/authorize", "/oauth2/logout")))


def _oauth(request: Request, status: int, error: str, message_id: str, headers: dict[str, str] | None = None) -> Response:
    text = get_services(request).catalog.text(message_id, make_context(request, "api").locale)
    return JSONResponse({"error": error, "error_description": text}, status_code=status,
                        headers={**(headers or {}), "Cache-Control": "no-store"})


def error_payload(request: Request, exc: E.DostupError, locale: str) -> dict[str, object]:
    catalog = get_services(request).catalog
    body: dict[str, object] = {
        "code": exc.code,
        "message": catalog.text(exc.message_id, locale, **exc.params),
        "field": exc.field,
    }
    if isinstance(exc, E.FormErrors):
        body["fields"] = [
            {"code": e.code, "field": e.field, "message": catalog.text(e.message_id, locale, **e.params)}
            for e in exc.errors
        ]
    return {"error": body}


def error_response(request: Request, exc: E.DostupError) -> Response:
    status, headers = status_for(exc), error_headers(exc)
    if is_oauth_machine(request):
        error = "temporarily_unavailable" if isinstance(exc, (E.ServiceUnavailable, E.RateLimited)) else "invalid_request"
        return _oauth(request, status, error, exc.message_id, headers)
    if is_api(request):
        ctx = make_context(request, "api")
        return JSONResponse(error_payload(request, exc, ctx.locale), status_code=status, headers=headers)
    return render_error(request, status, exc.message_id, exc.params, headers=headers)


def _plain(request: Request, status: int, code: str, message_id: str) -> Response:
    if is_oauth_machine(request):
        return _oauth(request, status, "server_error" if status >= 500 else "invalid_request", message_id)
    if is_api(request):
        message = get_services(request).catalog.text(message_id, make_context(request, "api").locale)
        return JSONResponse({"error": {"code": code, "message": message, "field": None}}, status_code=status)
    return render_error(request, status, message_id, {})


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(Respond)
    async def _respond(request: Request, exc: Respond) -> Response:
        return exc.response

    @app.exception_handler(E.DostupError)
    async def _domain(request: Request, exc: E.DostupError) -> Response:
        return error_response(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        errors = exc.errors()
        first = errors[0] if errors else {}
        if first.get("type") == "json_invalid":
            return error_response(request, MalformedJson())
        loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path")]
        field = loc[0] if loc else None
        return error_response(request, E.ValidationFailed("error.bad_request", field=field, code="bad_request"))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if isinstance(exc.__cause__, _TooLarge):
            # A body over the limit sent without Content-Length trips inside FastAPI's body parsing,
            # which turns any exception there into a 400: hand it back to BodyLimit, which answers 413.
            raise exc.__cause__
        message = {404: "error.not_found", 405: "error.method_not_allowed"}.get(exc.status_code, "error.bad_request")
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "bad_request")
        return _plain(request, exc.status_code, code, message)

    @app.exception_handler(DBAPIError)
    @app.exception_handler(UnicodeEncodeError)
    async def _unstorable(request: Request, exc: Exception) -> Response:
        """A NUL or a lone surrogate that no input check caught (:func:`unstorable`): bad input, its unit
        of work rolled back — 422 here, before the error would reach ``_crash`` as a 500."""
        if not unstorable(exc):
            raise exc
        log.warning("unstorable text refused on %s %s", request.method, request.url.path)
        return error_response(request, E.ValidationFailed("error.invalid"))

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> Response:
        """Starlette answers this one from its outermost middleware, outside ``SecurityHeaders``:
        the headers every other answer gets are added here (``app.state.security_headers``)."""
        if unavailable(exc):  # the database is down or frozen: the client may try again, never a 500
            log.warning("database unavailable on %s %s: %s: %s", request.method, request.url.path,
                        type(exc).__name__, exc)
            response = error_response(request, E.ServiceUnavailable())
        else:
            log.exception("unhandled error on %s %s", request.method, request.url.path)
            response = _plain(request, 500, "internal", "error.internal")
        response.raw_headers.extend(getattr(request.app.state, "security_headers", ()))
        return response
