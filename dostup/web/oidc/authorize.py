"""The authorization endpoint and its pages: sign-in detour, level explanation, consent.

The request waits server-side (its id in ``return_to``) while the user signs in on Dostup's own
pages — every method and the second factor included — and comes back to
``/oauth2/authorize/resume``.  Decisions are posted forms with the CSRF token.
"""

from __future__ import annotations

from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from dostup.oidc.provider.outcomes import AskConsent, LevelTooLow, Outcome, Redirect, ShowError, SignIn
from dostup.web.deps import get_services, optional_session
from dostup.web.oidc.http import allow_form_target, core_request
from dostup.web.ui.render import read_form, render

router = APIRouter(include_in_schema=False)


def _page(request: Request, outcome: Outcome) -> Response:
    if isinstance(outcome, Redirect):
        return RedirectResponse(outcome.url, status_code=302)
    if isinstance(outcome, SignIn):
        back = quote(f"/oauth2/authorize/resume?id={outcome.request_id}", safe="")
        if outcome.reauth:
            return RedirectResponse(f"/reauth?return_to={back}", status_code=303)
        return RedirectResponse(f"/login?return_to={back}{_hint(outcome.login_hint)}", status_code=303)
    if isinstance(outcome, AskConsent):
        return allow_form_target(render(request, "oidc_consent.html", session=None, view=outcome),
                                 outcome.redirect_uri)
    if isinstance(outcome, LevelTooLow):
        return allow_form_target(render(request, "oidc_level.html", session=None, view=outcome), outcome.redirect_uri)
    assert isinstance(outcome, ShowError)  # noqa: S101 - the union is closed
    return render(request, "oidc_error.html", status=400, session=None, error=outcome.error,
                  message_id=outcome.description)


def _hint(login_hint: str | None) -> str:
    """``login_hint`` picks the sign-in tab and fills its field: a phone, an email or a login."""
    if not login_hint or len(login_hint) > 254:
        return ""
    method = "email" if "@" in login_hint else "phone" if login_hint.lstrip("+").replace(" ", "").isdigit() else "login"
    return f"&method={method}&hint={quote(login_hint, safe='')}"


@router.get("/oauth2/authorize")
async def authorize(request: Request) -> Response:
    services = get_services(request)
    outcome = await services.oidc.authorize(request.url.query, await optional_session(request))
    return _page(request, outcome)


@router.post("/oauth2/authorize")
async def authorize_post(request: Request) -> Response:
    """The same request sent as a form (OpenID Connect Core §3.1.2.1: GET and POST)."""
    req = await core_request(request)
    if isinstance(req, Response):
        return render(request, "oidc_error.html", status=400, session=None, error="invalid_request",
                      message_id="oidc.invalid_request")
    outcome = await get_services(request).oidc.authorize(urlencode(req.form or {}), await optional_session(request))
    return _page(request, outcome)


@router.get("/oauth2/authorize/resume")
async def resume(request: Request, id: str = "") -> Response:  # noqa: A002 - the query parameter's name
    services = get_services(request)
    return _page(request, await services.oidc.authorize("", await optional_session(request), request_id=id[:64]))


@router.post("/oauth2/authorize/decision")
async def decide(request: Request) -> Response:
    form = await read_form(request)
    services = get_services(request)
    decision = form.get("decision") == "allow"
    outcome = await services.oidc.authorize("", await optional_session(request),
                                            request_id=form.get("request", "")[:64], decision=decision)
    return _page(request, outcome)
