"""Jinja2 rendering with the catalog, the CSRF token and the signed-in account at hand."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from babel.dates import format_datetime
from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from dostup.core.errors import Forbidden
from dostup.core.masking import mask_phone
from dostup.identity.phone import country_choices, format_national
from dostup.web.deps import get_services, services_csrf, ui_locale

_env = Environment(
    loader=FileSystemLoader(Path(__file__).resolve().parent / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters["phone"] = format_national
_env.filters["mask_phone"] = mask_phone


def _csrf_cookie(request: Request) -> tuple[str, bool]:
    csrf = services_csrf(get_services(request))
    cookie = request.cookies.get(csrf.cookie_name)
    if cookie and len(cookie) <= 128:
        return cookie, False
    return csrf.new_cookie(), True


def render(request: Request, template: str, status: int = 200, headers: dict[str, str] | None = None,
           **context: Any) -> HTMLResponse:
    services = get_services(request)
    locale = ui_locale(request)
    catalog = services.catalog
    csrf = services_csrf(services)
    cookie, fresh = _csrf_cookie(request)

    def t(message_id: str, **params: Any) -> str:
        return catalog.text(message_id, locale, **params)

    def when(value: dt.datetime | None) -> str:
        if value is None:
            return ""
        return format_datetime(value.replace(tzinfo=dt.UTC), "d MMMM y, HH:mm", tzinfo=dt.UTC, locale=locale) + " UTC"

    html = _env.get_template(template).render(
        t=t,
        when=when,
        locale=locale,
        preset=services.preset,
        dev=not services.settings.production,
        csrf_token=csrf.token_for(cookie),
        countries=country_choices(locale),
        request_path=request.url.path,
        **context,
    )
    response = HTMLResponse(html, status_code=status, headers=headers)
    if fresh:
        response.set_cookie(csrf.cookie_name, cookie, httponly=True, samesite="lax", secure=csrf.secure, path="/")
    return response


def render_error(request: Request, status: int, message_id: str, params: dict[str, Any],
                 headers: dict[str, str] | None = None) -> HTMLResponse:
    return render(request, "error.html", status=status, headers=headers, message_id=message_id, params=params,
                  status_code=status, session=None)


async def read_form(request: Request) -> dict[str, str]:
    """The posted form as plain strings, after the CSRF check (ASVS 3.5.1)."""
    from dostup.core.errors import ValidationFailed
    from dostup.web.middleware import _TooLarge

    try:
        form = await request.form(max_files=0, max_fields=50)
    except _TooLarge:
        raise  # a body over the limit without Content-Length: BodyLimit answers 413
    except Exception:  # noqa: BLE001 - any malformed body is the client's error
        raise ValidationFailed("error.bad_request", code="bad_request") from None
    values: dict[str, str] = {}
    for key, value in form.multi_items():
        if not isinstance(value, str):
            raise ValidationFailed("error.bad_request", code="bad_request")
        values.setdefault(key, value)
    services = get_services(request)
    csrf = services_csrf(services)
    if not csrf.valid(request.cookies.get(csrf.cookie_name), values.get("csrf_token")):
        raise Forbidden("error.csrf", code="csrf")
    return values


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def set_session_cookie(response: Response, request: Request, token: str, remember: bool, expires: dt.datetime) -> None:
    from dostup.web.deps import session_cookie_name

    services = get_services(request)
    max_age = int((expires - services.clock.now()).total_seconds()) if remember else None
    response.set_cookie(
        session_cookie_name(services), token, max_age=max_age, httponly=True, samesite="lax",
        secure=services.settings.production, path="/",
    )


def clear_session_cookie(response: Response, request: Request) -> None:
    from dostup.web.deps import session_cookie_name

    services = get_services(request)
    response.delete_cookie(session_cookie_name(services), path="/", secure=services.settings.production,
                           httponly=True, samesite="lax")
