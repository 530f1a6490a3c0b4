"""The cabinet's pages: home, registration (form → code), sign-in, «Восстановить доступ», sign-out, cabinet,
and the preset's documents (``/docs/{id}``, the newest version, and ``/docs/{id}/{version}``: linked from the
footer and from the consent checkbox)."""

from __future__ import annotations

from functools import partial
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from dostup.accounts.levels import LEVELS
from dostup.core.errors import CaptchaRequired
from dostup.core.i18n import LOCALES
from dostup.core.urls import safe_return_to
from dostup.identity.regions import REGIONS
from dostup.selfservice.login.flow import LoginOutcome
from dostup.selfservice.registration.service import Completed
from dostup.web.api.recovery import RecoveryIn
from dostup.web.api.schemas import EmailLinkIn, LoginIn, PasswordIn, RegistrationIn
from dostup.web.deps import LANG_COOKIE, OptionalSessionDep, device_cookie, token_from
from dostup.web.ui.page import CHECKED, CabinetPage, FlowCodeIn, FlowIn, Form, Page, UiPage
from dostup.web.ui.render import clear_session_cookie, read_form, redirect, set_session_cookie

router = APIRouter(include_in_schema=False)


_WAYS_ORDER = ("login", "phone", "email", "snils", "card")  # the kit seed: «с помощью логина или номера телефона»


@router.get("/")
async def home(page: UiPage, session: OptionalSessionDep) -> Response:
    kinds = page.services.preset.signin_identifiers
    return page.render("home.html", session=session, ways=[f"home.by_{kind}" for kind in _WAYS_ORDER if kind in kinds])


@router.post("/lang")
async def set_language(form: Annotated[dict[str, str], Depends(read_form)]) -> Response:
    lang = form.get("lang", "ru")
    response = redirect(safe_return_to(form.get("back"), set()) or "/")
    if lang in LOCALES:
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, samesite="lax", path="/")
    return response


# -- registration ----------------------------------------------------------------------------

@router.get("/registration")
async def registration_form(page: UiPage, session: OptionalSessionDep) -> Response:
    if session:
        return redirect("/cabinet")
    return page.render(page.services.registration.variant.template, values=page.values or {"country": "RU"},
                       session=None, regions=REGIONS)


@router.post("/registration")
async def registration_submit(page: UiPage, form: Form[RegistrationIn]) -> Response:
    async with page.form(partial(registration_form, page, None), form) as body:
        view = await page.services.registration.start(body, page.ctx)
    return redirect(f"/registration/code?flow={view.flow_id}")


@router.get("/registration/code")
async def registration_code_form(page: UiPage, flow: str = "") -> Response:
    view = await page.services.registration.view(flow)
    if view.state != "code_sent" and not page.shown:  # after a failed post the page shows the error as it is
        return redirect("/cabinet")
    return page.render("registration_code.html", view=view, session=None, notice=page.flag("sent"),
                       enumeration_safe=page.services.registration.policy.enumeration_safe)


@router.post("/registration/code")
async def registration_code_submit(page: UiPage, form: Form[FlowCodeIn]) -> Response:
    async with page.form(partial(registration_code_form, page, form.get("flow")), form) as body:
        result = await page.services.registration.submit_code(body.flow, body.code, page.ctx)
    if isinstance(result, Completed):
        return await _registered(page, result)
    return redirect(f"/registration/password?flow={result.flow_id}")


@router.post("/registration/resend")
async def registration_resend(page: UiPage, form: Form[FlowIn]) -> Response:
    async with page.form(partial(registration_code_form, page, form.get("flow")), form) as body:
        view = await page.services.registration.resend(body.flow, page.ctx)
    return redirect(f"/registration/code?flow={view.flow_id}&sent=1")


async def _registered(page: Page, done: Completed) -> Response:
    if page.services.registration.variant.done_page:
        # The seed: «Если всё прошло успешно, Вы увидите на экране такую надпись. Кликайте «Войти».»
        # The person is signed in already: the header says so (their name top right).
        session = await page.services.sessions.authenticate(done.session.token)
        response: Response = page.render("registration_done.html", session=session)
    else:
        # kit: registration continues with «Добавление компании для завершения регистрации»
        response = redirect("/companies/new" if page.services.companies.required else "/cabinet")
    return set_session_cookie(response, page.request, done.session)


@router.get("/registration/password")
async def registration_password_form(page: UiPage, flow: str = "") -> Response:
    if not page.shown:  # after a failed post the form is shown again as it is
        view = await page.services.registration.view(flow)
        if view.state != "password_needed":
            return redirect(f"/registration/code?flow={view.flow_id}" if view.state == "code_sent" else "/cabinet")
    return page.render("registration_password.html", flow_id=flow, session=None)


class _FlowPasswordIn(PasswordIn, FlowIn):
    pass


@router.post("/registration/password")
async def registration_password_submit(page: UiPage, form: Form[_FlowPasswordIn]) -> Response:
    async with page.form(partial(registration_password_form, page, form.get("flow")), form) as body:
        done = await page.services.registration.set_password(body.flow, body.password, body.password_repeat,
                                                             page.ctx)
    return await _registered(page, done)


@router.get("/verify-email")
async def verify_email_form(page: UiPage, session: OptionalSessionDep, token: str = "") -> Response:
    return page.render("verify_email.html", token=token[:128], session=session)


@router.post("/verify-email")
async def verify_email_submit(page: UiPage, session: OptionalSessionDep, form: Form[EmailLinkIn]) -> Response:
    await page.services.registration.confirm_email(form.parse().token, page.ctx)
    return page.render("verify_email.html", token="", confirmed=True, session=session)


# -- sign-in / sign-out ----------------------------------------------------------------------

@router.get("/login")
async def login_form(page: UiPage, session: OptionalSessionDep, method: str = "phone", return_to: str = "",
                     hint: str = "") -> Response:
    if session:
        return redirect(page.return_to(return_to) or "/cabinet")
    values = page.values or {"country": "RU", "method": method, "return_to": return_to}
    if hint:  # a partner's login_hint (OpenID Connect Core §3.1.2.1): the field is filled in, nothing more
        values[method if method in ("phone", "email", "login") else "login"] = hint[:254]
    kinds = page.services.preset.signin_identifiers
    method = values["method"] if values.get("method") in kinds else kinds[0]
    failure = page.shown.get("failure")
    captcha = isinstance(failure, CaptchaRequired) or await page.services.login.captcha_needed(method, None)
    values = {**values, "return_to": page.return_to(values.get("return_to")) or ""}
    return page.render("login.html", method=method, values=values, captcha=captcha, session=None,
                       has_device=bool(page.request.cookies.get(device_cookie(page.services))),
                       passkeys="passkey" in page.services.login.ceremonies)


@router.post("/login")
async def login_submit(page: UiPage, form: Form[LoginIn]) -> Response:
    async with page.form(partial(login_form, page, None), form) as body:
        outcome = await page.services.login.login(body, page.ctx)
    return await signed_in_page(page, outcome, page.return_to(form.get("return_to")))


async def signed_in_page(page: Page, outcome: LoginOutcome, target: str | None) -> Response:
    """Where a login flow's outcome takes the browser: the second step, or the cabinet."""
    if outcome.session is None:
        query = urlencode({"flow": outcome.flow_id, **({"return_to": target} if target else {})})
        return redirect(f"/login/second-factor?{query}")
    previous, _ = token_from(page.request, page.services)
    if previous:  # rotation: the session this browser had before signing in ends now
        await page.services.sessions.revoke_token(previous)
    return set_session_cookie(redirect(target or "/cabinet"), page.request, outcome.session)


@router.post("/logout", dependencies=[CHECKED])
async def logout(page: UiPage) -> Response:
    await page.services.sign_out(token_from(page.request, page.services)[0], page.ctx)
    return clear_session_cookie(redirect("/login"), page.request)


@router.get("/recovery")
async def recovery_form(page: UiPage) -> Response:
    return page.render("recovery.html", values=page.values or {"country": "RU"}, session=None)


@router.post("/recovery")
async def recovery_submit(page: UiPage, form: Form[RecoveryIn]) -> Response:
    async with page.form(partial(recovery_form, page), form) as body:
        result = await page.services.recovery.request(body, page.ctx)
    return page.render("recovery_done.html", result=result, session=None)


# -- cabinet ---------------------------------------------------------------------------------

@router.get("/cabinet")
async def cabinet(page: UiPage, session: CabinetPage) -> Response:
    step = await page.services.companies.onboarding_step(session.account_id)
    if step is not None:  # registration is not complete before a company is confirmed
        return redirect("/companies/new" if step == "add" else "/companies")
    levels_on = page.services.verification.enabled
    status = (await page.services.profile.status(session.account_id)
              if page.services.preset.account_levels or levels_on else None)
    services = await page.services.verification.catalogue(session.account_id) if levels_on else None
    esign = page.services.esign.enabled and levels_on  # «Подтвердить личность электронной подписью»
    return page.render("cabinet.html", session=session, account_status=status, services=services, levels=LEVELS,
                       esign=esign,
                       banks=page.services.bank.banks if levels_on else [])


@router.get("/docs/{doc_id}")
@router.get("/docs/{doc_id}/{version}")
async def document(page: UiPage, session: OptionalSessionDep, doc_id: str, version: str | None = None) -> Response:
    return page.render("document.html", document=page.services.legal.find(doc_id, version), session=session)
