"""``create_app(services)``: the HTTP surface over services built by :func:`dostup.services.build_services`."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from dostup.services import Services
from dostup.web import dev, health
from dostup.web.api import (
    PREFIX,
    account,
    admin,
    auth,
    bank,
    companies,
    contracts,
    documents,
    esign,
    history,
    letters,
    levels,
    operator,
    operator_support,
    passcode,
    passkeys,
    recovery,
    registration,
    second_factor,
    settings,
    social,
    support,
    users_import,
)
from dostup.web.api.plain_passkey import FastPasskeySignIn
from dostup.web.api.plain_session import FastWhoami
from dostup.web.errors import install_error_handlers
from dostup.web.middleware import BodyLimit, LimitsLedger, SecurityHeaders, security_headers
from dostup.web.oidc import admin_api, apps_api, apps_pages, authorize, endpoints, logout
from dostup.web.oidc.fast_token import TOKEN, USERINFO, FastToken, FastUserinfo
from dostup.web.ui import (
    account_pages,
    bank_pages,
    company_pages,
    contract_pages,
    esign_pages,
    history_pages,
    letter_pages,
    level_pages,
    operator_pages,
    operator_support_pages,
    pages,
    passcode_pages,
    passkey_pages,
    second_factor_pages,
    social_pages,
    support_pages,
)

STATIC_DIR = Path(__file__).resolve().parent / "static"
# Each API router is included once with the prefix (FastAPI matches nested included routers once
# per level on every request).
API = (auth, second_factor, passkeys, passcode, registration, recovery, account, settings, history, companies, contracts,
       admin, users_import, operator, operator_support, social, documents, levels, letters, esign, support,
       bank)
OIDC = (endpoints, authorize, logout, apps_pages, apps_api, admin_api)
UI = (pages, second_factor_pages, passkey_pages, passcode_pages, account_pages, history_pages, esign_pages,
      company_pages, contract_pages, social_pages, level_pages, letter_pages, operator_pages, operator_support_pages,
      support_pages, bank_pages)


class DostupApp(FastAPI):
    """FastAPI, with whoami's fast path (``api/plain_session.py``) tried before the middleware
    stack: an answer it declines goes through the application as usual."""

    fast_whoami: FastWhoami | None = None
    fast_passkey: FastPasskeySignIn | None = None
    fast_token: FastToken | None = None
    fast_userinfo: FastUserinfo | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        fast = self.fast_whoami
        if fast is not None and scope["type"] == "http" and scope["path"] == WHOAMI and await fast(scope, send):
            return
        token = self.fast_token
        if token is not None and scope["type"] == "http" and scope["path"] == TOKEN and scope["method"] == "POST":
            replay = await token(scope, receive, send)
            if replay is None:
                return
            receive = replay
        userinfo = self.fast_userinfo
        if userinfo is not None and scope["type"] == "http" and scope["path"] == USERINFO and scope["method"] == "GET":
            scope["app"] = self  # as Starlette sets it: the route finds the services through it
            replay = await userinfo(scope, receive, send)
            if replay is None:
                return
            receive = replay
        passkey = self.fast_passkey
        if passkey is not None and scope["type"] == "http" and scope["method"] == "POST":
            route = passkey.routes.get(scope["path"])
            if route is not None:
                scope["app"] = self  # as Starlette sets it: the routes find the services through it
                replay = await passkey(route, scope, receive, send)
                if replay is None:
                    return
                receive = replay
        await super().__call__(scope, receive, send)


WHOAMI = PREFIX + "/whoami"


@functools.lru_cache(maxsize=2)
def _included_routes(production: bool) -> tuple[BaseRoute, ...]:
    """The routers' routes, included once per process.  The routes hold no service (they find it through
    ``request.app``), and FastAPI prepares each included route on its first match (its parameters, its
    body and response models) and keeps that on the route: every app of the process shares the work."""
    routes = APIRouter()
    for module in API:
        routes.include_router(module.router, prefix=PREFIX)
    for module in (health, *OIDC, *UI, *(() if production else (dev,))):
        routes.include_router(module.router)
    return tuple(routes.routes)


def create_app(services: Services, *, run_migrations: bool = True) -> FastAPI:
    production = services.settings.production

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await services.start(run_migrations=run_migrations)
        try:
            yield
        finally:
            await services.stop()

    app = DostupApp(title="Dostup", version="0.1.0", openapi_url="/api/openapi.json",
                  docs_url=None if production else "/api/docs", redoc_url=None, lifespan=lifespan)
    app.state.services = services
    install_error_handlers(app)
    app.router.routes.extend(_included_routes(production))
    app.router._mark_routes_changed()
    # The hot calls on plain Starlette routes (``api/plain.py``) come first, before every included
    # router: the app tries its routes in order, and each included router matches its own in turn.
    app.router.routes[:0] = [Route(prefix + path, endpoint, methods=methods, include_in_schema=False)
                             for prefix, modules in ((PREFIX, API), ("", OIDC))
                             for module in modules for path, endpoint, methods in getattr(module, "PLAIN", ())]
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.add_middleware(LimitsLedger)
    app.add_middleware(BodyLimit, max_bytes=services.settings.max_body_bytes,
                       message=services.catalog.text("error.too_large", "ru"))
    app.add_middleware(SecurityHeaders, production=production, form_targets=services.social.form_targets())
    # the same headers on the answers given outside the middleware stack: the fast paths', and the
    # outage and crash answers of Starlette's outermost ServerErrorMiddleware (``web/errors.py``)
    headers = app.state.security_headers = security_headers(production=production,
                                                            form_targets=services.social.form_targets())
    app.fast_whoami = FastWhoami(services, headers)
    app.fast_passkey = FastPasskeySignIn({PREFIX + path: route for path, route, methods in (*passkeys.PLAIN, *auth.PLAIN)
                                          if methods == ["POST"]},  # the passkey and the password sign-in
                                         second_factor.second_factor_fast, headers, services.settings.max_body_bytes)
    app.fast_token = FastToken(services.oidc, headers, services.settings.max_body_bytes)
    app.fast_userinfo = FastUserinfo(headers)
    return app
