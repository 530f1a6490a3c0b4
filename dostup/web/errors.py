"""The only place that maps domain errors to HTTP statuses, JSON error bodies and error pages.

JSON error shape, everywhere: ``{"error": {"code": "...", "message": "...", "field": "..."}}``
(plus ``"fields": [...]`` when a form had several problems).  No stack trace leaves the server.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from dostup.core import errors as E
from dostup.web.deps import get_services, make_context
from dostup.web.middleware import _TooLarge

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


def is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


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
    status = status_for(exc)
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, E.RateLimited) else {}
    if is_api(request):
        ctx = make_context(request, "api")
        return JSONResponse(error_payload(request, exc, ctx.locale), status_code=status, headers=headers)
    from dostup.web.ui.render import render_error

    return render_error(request, status, exc.message_id, exc.params, headers=headers)


def _plain(request: Request, status: int, code: str, message_id: str) -> Response:
    if is_api(request):
        message = get_services(request).catalog.text(message_id, make_context(request, "api").locale)
        return JSONResponse({"error": {"code": code, "message": message, "field": None}}, status_code=status)
    from dostup.web.ui.render import render_error

    return render_error(request, status, message_id, {})


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(E.DostupError)
    async def _domain(request: Request, exc: E.DostupError) -> Response:
        return error_response(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        errors = exc.errors()
        first = errors[0] if errors else {}
        if first.get("type") == "json_invalid":
            err = E.ValidationFailed("error.malformed_json", code="malformed")
            resp = error_response(request, err)
            resp.status_code = 400
            return resp
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

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return _plain(request, 500, "internal", "error.internal")
