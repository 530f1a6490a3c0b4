"""Jinja2 rendering with the catalog, the CSRF token and the signed-in account at hand."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, TypeVar

from babel.dates import format_datetime
from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from dostup.core.clock import time_zone
from dostup.core.errors import Forbidden, ValidationFailed
from dostup.core.masking import mask_email, mask_phone
from dostup.identity.phone import country_choices, format_national
from dostup.session.reader import SessionRecord
from dostup.session.service import IssuedSession
from dostup.web.deps import get_services, session_cookie_name, ui_locale
from dostup.web.middleware import _TooLarge

R = TypeVar("R", bound=Response)
_env = Environment(
    loader=FileSystemLoader(Path(__file__).resolve().parent / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
TZ_COOKIE = "tz"  # static/tz.js: the browser's IANA time zone
_env.filters["phone"] = format_national
_env.filters["mask_phone"] = mask_phone


def person_name(rec: SessionRecord) -> str:
    """Who is signed in, as the header shows it top right: «Иван Иванов», else the login, or the phone or
    email masked as everywhere else on the pages (a header is on every screenshot and shared screen)."""
    name = " ".join(n for n in (rec.given_name, rec.family_name) if n)
    if name or rec.login:
        return name or rec.login or ""
    return mask_phone(rec.phone) if rec.phone else mask_email(rec.email) if rec.email else ""


def render(request: Request, template: str, status: int = 200, headers: dict[str, str] | None = None,
           **context: Any) -> HTMLResponse:
    services = get_services(request)
    locale = ui_locale(request)
    catalog = services.catalog
    csrf = services.csrf
    cookie = request.cookies.get(csrf.cookie_name, "")
    fresh = not cookie or len(cookie) > 128
    cookie = csrf.new_cookie() if fresh else cookie

    def t(message_id: str, **params: Any) -> str:
        return catalog.text(message_id, locale, **params)

    def either(message_ids: list[str]) -> str:
        """«логина или номера телефона»: the texts joined with «, » and «или»."""
        words = [t(i) for i in message_ids]
        return words[0] if len(words) < 2 else f"{', '.join(words[:-1])} {t('common.or')} {words[-1]}"

    browser_zone = time_zone(request.cookies.get(TZ_COOKIE))
    zone = browser_zone or time_zone(services.settings.time_zone) or dt.UTC
    # In the browser's zone the time needs no label; in the configured default it says which zone it is.
    pattern = "d MMMM y, HH:mm" if browser_zone else "d MMMM y, HH:mm (zzzz)"

    def when(value: dt.datetime | None) -> str:
        """A stored (naive UTC) time as the customer's wall-clock time."""
        if value is None:
            return ""
        return format_datetime(value.replace(tzinfo=dt.UTC), pattern, tzinfo=zone, locale=locale)

    def seconds_until(value: dt.datetime) -> int:
        """Whole seconds from now to ``value`` (naive UTC), for the pages' count-downs (never the client's clock)."""
        now = services.clock.now().replace(tzinfo=None)
        return max(0, int((value.replace(tzinfo=None) - now).total_seconds()))

    html = _env.get_template(template).render(
        t=t,
        when=when,
        either=either,
        seconds_until=seconds_until,
        locale=locale,
        preset=services.preset,
        dev=not services.settings.production,
        csrf_token=csrf.token_for(cookie),
        countries=country_choices(locale),
        request_path=request.url.path,
        passcode_enabled=services.passcode.enabled,
        levels_on=services.verification.enabled,
        social_providers=services.social.providers,
        person_name=person_name,
        captcha_on=services.captcha.kind != "none",  # DOSTUP_CAPTCHA__PROVIDER=none (development): no widget
        **context,
    )
    response = HTMLResponse(html, status_code=status, headers=headers)
    if fresh:
        response.set_cookie(csrf.cookie_name, cookie, httponly=True, samesite="lax", secure=csrf.secure, path="/")
    return response


def render_error(request: Request, status: int, message_id: str, params: dict[str, Any],
                 headers: dict[str, str] | None = None) -> HTMLResponse:
    return render(request, "error.html", status=status, headers=headers, message_id=message_id, params=params,
                  session=None)


async def read_form(request: Request) -> dict[str, str]:
    """The posted form as plain strings, after the CSRF check (ASVS 3.5.1)."""
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
    csrf = get_services(request).csrf
    if not csrf.valid(request.cookies.get(csrf.cookie_name), values.get("csrf_token")):
        raise Forbidden("error.csrf", code="csrf")
    return values


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def set_session_cookie(response: R, request: Request, issued: IssuedSession) -> R:
    """``response`` carrying the new session's cookie (kept across browser restarts only if ``remember``)."""
    services = get_services(request)
    max_age = int((issued.expires_at - services.clock.now()).total_seconds()) if issued.remember else None
    response.set_cookie(session_cookie_name(services), issued.token, max_age=max_age, httponly=True, samesite="lax",
                        secure=services.settings.production, path="/")
    return response


def clear_session_cookie(response: R, request: Request) -> R:
    services = get_services(request)
    response.delete_cookie(session_cookie_name(services), path="/", secure=services.settings.production,
                           httponly=True, samesite="lax")
    return response
