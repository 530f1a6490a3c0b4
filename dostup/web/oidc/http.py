"""Turning Starlette requests into the core's :class:`HttpRequest` and its answers into responses."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlsplit

from fastapi import Request
from fastapi.responses import JSONResponse, Response

from dostup.oidc.provider.server import HttpRequest, HttpResponse
from dostup.web.middleware import CSP

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


async def core_request(request: Request) -> HttpRequest | Response:
    """The form of a back-channel POST (RFC 6749 §3.2: ``application/x-www-form-urlencoded``) or its error.

    Parsed as Starlette's form parser does (bytes as Latin-1, ``%XX`` as UTF-8, at most 50
    fields), without its multipart machinery: the token endpoint is a partner's hot call.
    """
    form: dict[str, str] = {}
    if request.method == "POST":
        fields = form_fields(request.headers.get("content-type", ""), await request.body())
        if isinstance(fields, str):
            return oauth_error("invalid_request", fields)
        form = fields
    return HttpRequest(request.method, str(request.url), request.headers, form)


def form_fields(content_type: str, body: bytes) -> dict[str, str] | str:
    """The fields of a form body, or why it is refused (``invalid_request``'s description)."""
    if not content_type.startswith("application/x-www-form-urlencoded"):
        return "The body must be application/x-www-form-urlencoded."
    try:
        pairs = parse_qsl(body.decode("latin-1"), keep_blank_values=True, max_num_fields=50)
    except ValueError:
        return "Malformed request body."
    form: dict[str, str] = {}
    for key, value in pairs:
        if key in form or len(value) > 8192:
            return f"Invalid or repeated parameter '{key[:40]}'."
        form[key] = value
    return form


def core_response(resp: HttpResponse) -> Response:
    headers = {k: v for k, v in resp.headers if k.lower() != "content-type"}
    if resp.status in (301, 302, 303):
        return Response(status_code=302, headers=headers)
    body: Any = resp.body if isinstance(resp.body, dict) else {}
    return JSONResponse(body, status_code=resp.status, headers={**headers, **NO_STORE})


def oauth_error(error: str, description: str, status: int = 400, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse({"error": error, "error_description": description}, status_code=status,
                        headers={**NO_STORE, **(headers or {})})


def allow_form_target(response: Response, redirect_uri: str | None) -> Response:
    """The page's own CSP: ``form-action`` must also allow the partner's origin.

    Browsers apply ``form-action`` to the redirects that follow a form's submission (CSP 3
    §6.3.1), so the site-wide ``form-action 'self'`` would stop «Разрешить» from reaching the
    partner's redirect URI.  Only that one registered origin is added, on these pages only.
    """
    parts = urlsplit(redirect_uri or "")
    origin = f"{parts.scheme}://{parts.netloc}" if parts.scheme in ("http", "https") and parts.netloc else ""
    target = f" {origin}" if origin and all(c not in origin for c in " ;,'\"") else ""
    response.headers["content-security-policy"] = CSP.replace("form-action 'self'", f"form-action 'self'{target}")
    return response
