"""The web layer's small vocabulary of typed dependencies."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Depends, Request

from dostup.core.context import Context
from dostup.core.errors import Forbidden, Unauthenticated
from dostup.core.i18n import DEFAULT_LOCALE, LOCALES, pick_locale
from dostup.services import Services
from dostup.session.reader import SessionRecord
from dostup.session.strength import is_unrestricted

LANG_COOKIE = "dostup_lang"


def get_services(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


async def _services(request: Request) -> Services:
    # async: FastAPI runs a plain ``def`` dependency in a worker thread, a hand-off per request
    return get_services(request)


ServicesDep = Annotated[Services, Depends(_services)]


def session_cookie_name(services: Services) -> str:
    return "__Host-dostup_session" if services.settings.production else "dostup_session"


def device_cookie(services: Services) -> str:
    """The passcode's device credential («Код для входа»), long-lived and ``HttpOnly``."""
    return "__Host-dostup_device" if services.settings.production else "dostup_device"


def ui_locale(request: Request) -> str:
    """The cabinet speaks Russian unless the user picked another language (cookie)."""
    lang = request.cookies.get(LANG_COOKIE)
    return lang if lang in LOCALES else DEFAULT_LOCALE


def make_context(request: Request, surface: Literal["ui", "api"]) -> Context:
    client = request.client
    locale = ui_locale(request) if surface == "ui" else pick_locale(
        request.query_params.get("lang"), request.headers.get("accept-language")
    )
    return Context(
        ip=client.host if client else "127.0.0.1",
        user_agent=request.headers.get("user-agent", "")[:512],
        surface=surface,
        locale=locale,
    )


async def _api_context(request: Request) -> Context:
    return make_context(request, "api")


ApiContext = Annotated[Context, Depends(_api_context)]


def token_from(request: Request, services: Services) -> tuple[str | None, str]:
    auth = request.headers.get("authorization")
    if auth and auth[:7].lower() == "bearer ":
        return auth[7:].strip(), "bearer"
    return request.cookies.get(session_cookie_name(services)), "cookie"


async def optional_session(request: Request) -> SessionRecord | None:
    services = get_services(request)
    token, _ = token_from(request, services)
    return await services.sessions.authenticate(token)


async def require_session(request: Request) -> SessionRecord:
    rec = await optional_session(request)
    if rec is None:
        raise Unauthenticated()
    return rec


def require_unrestricted(rec: SessionRecord) -> None:
    """Refuse a session that still has a step to take (the forced password change)."""
    if not is_unrestricted(rec):
        raise Forbidden("session.password_change_required", code="password_change_required")


async def require_full_session(request: Request) -> SessionRecord:
    """A session that is not limited to changing the password."""
    rec = await require_session(request)
    require_unrestricted(rec)
    return rec


async def api_same_origin(request: Request) -> None:
    """State-changing API calls from a browser must come from our own origin."""
    if not get_services(request).csrf.same_origin(request.headers.get("origin"), request.headers.get("sec-fetch-site")):
        raise Forbidden("error.cross_origin", code="cross_origin")


SameOrigin = Depends(api_same_origin)
SessionDep = Annotated[SessionRecord, Depends(require_full_session)]
AnySessionDep = Annotated[SessionRecord, Depends(require_session)]
OptionalSessionDep = Annotated[SessionRecord | None, Depends(optional_session)]
