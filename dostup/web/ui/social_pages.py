"""Social sign-in on the pages: «Войти через {name}», the provider's callback, registration through
a provider, «Способы входа» in settings (link, unlink) and re-authentication through a provider.

The start is a posted form (CSRF token) that answers with a redirect to the provider and a cookie
holding the flow id (``state``): the callback is accepted only from the browser that started it,
so nobody can finish their own sign-in or link in someone else's browser (login CSRF).
"""

from __future__ import annotations

from functools import partial
from typing import Annotated

from fastapi import APIRouter
from fastapi.responses import Response
from pydantic.dataclasses import dataclass

from dostup.core.errors import NotFound
from dostup.identity.regions import REGIONS
from dostup.selfservice.login.flow import LoginOutcome
from dostup.selfservice.methods.social.service import Linked, Reauthenticated, SignupNeeded
from dostup.selfservice.reauth import ReauthRequired
from dostup.selfservice.registration.service import Completed
from dostup.session.reader import SessionRecord
from dostup.web.api.schemas import RegistrationIn, _In
from dostup.web.api.social import social_input
from dostup.web.deps import OptionalSessionDep
from dostup.web.ui.page import CabinetPage, Form, UiPage, cabinet
from dostup.web.ui.pages import _registered, signed_in_page
from dostup.web.ui.render import redirect, set_session_cookie

router = APIRouter(include_in_schema=False)
SETTINGS = "/settings/social"
STATE_COOKIE = "dostup_social"
MethodsPage = Annotated[SessionRecord, cabinet(recent=True, reauth_back=SETTINGS)]


class _StartIn(_In):
    purpose: str = "login"
    return_to: str | None = None
    remember: bool = False


@router.post("/social/{provider_id}/start")
async def start(provider_id: str, page: UiPage, session: OptionalSessionDep, form: Form[_StartIn]) -> Response:
    body = form.parse()
    target = page.return_to(body.return_to)
    if body.purpose == "link" and session is None:
        return redirect("/login?return_to=" + SETTINGS)
    try:
        started = await page.services.social.start(
            provider_id, body.purpose, page.ctx, session if body.purpose != "login" else None, target, body.remember
        )
    except ReauthRequired:
        return redirect("/reauth?return_to=" + SETTINGS)
    response = redirect(started.url)
    response.set_cookie(
        STATE_COOKIE,
        started.flow_id,
        max_age=300,
        httponly=True,
        samesite="lax",
        secure=page.services.settings.production,
        path="/social/",
    )
    return response


@router.get("/social/{provider_id}/callback")
async def callback(
    provider_id: str,
    page: UiPage,
    session: OptionalSessionDep,
    state: str = "",
    code: str = "",
    error: str = "",
    device_id: str = "",
) -> Response:
    if not state or page.request.cookies.get(STATE_COOKIE) != state:  # not started in this browser
        raise NotFound("social.state_invalid")
    answered = await page.services.social.callback(
        provider_id, state, code or None, error or None, page.ctx, session, device_id or None
    )
    result = answered.result
    response: Response
    if isinstance(result, LoginOutcome):
        response = await signed_in_page(page, result, page.return_to(answered.return_to))
    elif isinstance(result, SignupNeeded):
        response = redirect(f"/registration/social?flow={result.flow_id}")
    elif isinstance(result, Linked):
        response = redirect(f"{SETTINGS}?done=linked")
    else:
        assert isinstance(result, Reauthenticated)
        response = redirect(page.return_to(answered.return_to) or "/cabinet")
        set_session_cookie(response, page.request, result.session)
    response.delete_cookie(STATE_COOKIE, path="/social/")
    return response


# -- registration through a provider -------------------------------------------------------------


@router.get("/registration/social")
async def signup_form(page: UiPage, flow: str = "") -> Response:
    """The preset's registration form, prefilled by the provider, without a password; with the captcha
    only where the form names a taken phone or email (not enumeration-safe)."""
    signup = await page.services.social_registration.view(flow)
    values = {"country": "RU", **signup.prefill, **(page.values or {})}
    registration = page.services.registration
    return page.render(registration.variant.template, values=values, session=None, regions=REGIONS, social=signup,
                       social_captcha=registration.policy.captcha and not registration.policy.enumeration_safe)


@dataclass(frozen=True)
class _SignupIn(RegistrationIn):
    flow: str = ""


@router.post("/registration/social")
async def signup_submit(page: UiPage, form: Form[_SignupIn]) -> Response:
    async with page.form(partial(signup_form, page, form.get("flow")), form) as body:
        result = await page.services.social_registration.register(body.flow, social_input(body), page.ctx)
    if isinstance(result, Completed):
        return await _registered(page, result)
    return redirect(f"/registration/code?flow={result.flow_id}")


# -- «Способы входа» -----------------------------------------------------------------------------


@router.get(SETTINGS)
async def methods_page(page: UiPage, rec: CabinetPage) -> Response:
    done = page.query("done")
    return page.render("settings_social.html", session=rec,
                       methods=await page.services.social_settings.methods(rec.account_id),
                       recent=page.services.reauth.is_recent(rec), done=done if done in ("linked", "unlinked") else "")


@router.post(SETTINGS + "/{provider_id}/unlink")
async def unlink(provider_id: str, page: UiPage, form: Form[_In], rec: MethodsPage) -> Response:
    async with page.form(partial(methods_page, page, rec), form):
        await page.services.social_settings.unlink(rec, provider_id, page.ctx)
    return redirect(SETTINGS + "?done=unlinked")
