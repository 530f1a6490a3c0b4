"""RP-Initiated Logout 1.0 (``end_session_endpoint``): the partner sends the user here to sign out.

With an ``id_token_hint`` naming the signed-in user the sign-out happens at once; otherwise the
user confirms with «Выйти» (a link alone must not sign anyone out).  Either way Dostup's session
ends and partners registered for back-channel logout are told.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from dostup.oidc.provider.outcomes import ConfirmLogout, ShowError
from dostup.oidc.provider.server import HttpRequest
from dostup.web.deps import get_services, optional_session, token_from
from dostup.web.oidc.http import allow_form_target
from dostup.web.ui.render import clear_session_cookie, read_form, render

router = APIRouter(include_in_schema=False)


async def _end(request: Request, params: dict[str, str], *, confirmed: bool) -> Response:
    services = get_services(request)
    session = await optional_session(request)
    req = HttpRequest(request.method, str(request.url), request.headers, params)
    outcome = await services.oidc.end_session(req, session, confirmed=confirmed)
    if isinstance(outcome, ShowError):
        return render(request, "oidc_error.html", status=400, session=None, error=outcome.error,
                      message_id=outcome.description)
    if isinstance(outcome, ConfirmLogout):
        keep = {k: v for k, v in params.items() if k in ("id_token_hint", "client_id", "post_logout_redirect_uri",
                                                         "state", "ui_locales", "logout_hint")}
        return allow_form_target(render(request, "oidc_logout.html", session=session,
                                        client_name=outcome.client_name, params=keep), outcome.redirect_uri)
    token, _ = token_from(request, services)
    if session is not None and token:
        await services.sessions.revoke_token(token)
    response: Response = (RedirectResponse(outcome.redirect, status_code=302) if outcome.redirect
                          else render(request, "oidc_logged_out.html", session=None))
    return clear_session_cookie(response, request)


@router.get("/oauth2/logout")
async def logout_get(request: Request) -> Response:
    params = {k: v[:4096] for k, v in request.query_params.items()}
    return await _end(request, params, confirmed=False)


@router.post("/oauth2/logout")
async def logout_post(request: Request) -> Response:
    form = await read_form(request)
    params = {k: v for k, v in form.items() if k != "csrf_token"}
    return await _end(request, params, confirmed=form.get("confirm") == "1")
