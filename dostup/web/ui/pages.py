"""The cabinet's pages: home, registration (form → code), sign-in, sign-out, cabinet."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from dostup.core import errors as E
from dostup.core.i18n import LOCALES
from dostup.core.urls import safe_return_to
from dostup.selfservice.login.flow import LoginInput
from dostup.selfservice.registration.flow import RegistrationInput
from dostup.selfservice.registration.service import Completed
from dostup.web.deps import LANG_COOKIE, get_services, make_context, optional_session, services_csrf, token_from
from dostup.web.errors import status_for
from dostup.web.ui.render import (
    clear_session_cookie,
    read_form,
    redirect,
    render,
    set_session_cookie,
)

router = APIRouter(include_in_schema=False)


def _form_errors(request: Request, exc: E.DostupError) -> dict[str, Any]:
    """Field → message for a form, plus a general message for errors without a field."""
    catalog = get_services(request).catalog
    locale = make_context(request, "ui").locale
    items = exc.errors if isinstance(exc, E.FormErrors) else [exc]
    fields: dict[str, str] = {}
    general: list[str] = []
    for err in items:
        text = catalog.text(err.message_id, locale, **err.params)
        if err.field:
            fields.setdefault(err.field, text)
        else:
            general.append(text)
    return {"errors": fields, "form_message": " ".join(general)}


def _error_headers(exc: E.DostupError) -> dict[str, str]:
    return {"Retry-After": str(exc.retry_after)} if isinstance(exc, E.RateLimited) else {}


@router.get("/")
async def home(request: Request) -> Response:
    return render(request, "home.html", session=await optional_session(request))


@router.post("/lang")
async def set_language(request: Request) -> Response:
    form = await read_form(request)
    lang = form.get("lang", "ru")
    response = redirect(safe_return_to(form.get("back"), set()) or "/")
    if lang in LOCALES:
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, samesite="lax", path="/")
    return response


# -- registration ----------------------------------------------------------------------------

def _registration_page(request: Request, values: dict[str, str], status: int = 200, **extra: Any) -> Response:
    from dostup.identity.regions import REGIONS

    variant = get_services(request).preset.registration
    template = "registration.html" if variant == "kit" else f"registration_{variant}.html"
    return render(request, template, status=status, values=values, session=None, regions=REGIONS, **extra)


@router.get("/registration")
async def registration_form(request: Request) -> Response:
    if await optional_session(request):
        return redirect("/cabinet")
    return _registration_page(request, {"country": "RU"})


@router.post("/registration")
async def registration_submit(request: Request) -> Response:
    form = await read_form(request)
    services = get_services(request)
    inp = RegistrationInput(
        phone=form.get("phone"),
        country=form.get("country", "RU")[:3],
        email=form.get("email") or None,
        password=form.get("password"),
        password_repeat=form.get("password_repeat"),
        segment=form.get("segment") or None,
        consent_personal_data=form.get("consent_personal_data") == "on",
        consent_marketing=form.get("consent_marketing") == "on",
        captcha=form.get("captcha") or None,
        family_name=form.get("family_name"),
        given_name=form.get("given_name"),
        middle_name=form.get("middle_name"),
        region=form.get("region"),
        contact=form.get("contact"),
        card=form.get("card"),
    )
    keep = {k: form.get(k, "") for k in ("phone", "country", "email", "segment", "family_name", "given_name",
                                         "middle_name", "region", "contact")}
    keep["consent_personal_data"] = form.get("consent_personal_data", "")
    keep["consent_marketing"] = form.get("consent_marketing", "")
    try:
        view = await services.registration.start(inp, make_context(request, "ui"))
    except (E.ValidationFailed, E.FormErrors, E.CaptchaRequired, E.Conflict, E.RateLimited,
            E.ServiceUnavailable) as exc:
        return _registration_page(request, keep, status=status_for(exc), headers=_error_headers(exc),
                                  **_form_errors(request, exc))
    return redirect(f"/registration/code?flow={view.flow_id}")


def _code_page(request: Request, view: Any, status: int = 200, **extra: Any) -> Response:
    return render(request, "registration_code.html", status=status, view=view, session=None, **extra)


@router.get("/registration/code")
async def registration_code_form(request: Request, flow: str = "") -> Response:
    services = get_services(request)
    view = await services.registration.view(flow)
    if view.state != "code_sent":
        return redirect("/cabinet")
    return _code_page(request, view, notice=request.query_params.get("sent") == "1")


@router.post("/registration/code")
async def registration_code_submit(request: Request) -> Response:
    form = await read_form(request)
    services = get_services(request)
    flow_id = form.get("flow", "")
    try:
        result = await services.registration.submit_code(flow_id, form.get("code"), make_context(request, "ui"))
    except (E.ValidationFailed, E.Conflict, E.RateLimited, E.StepNotAllowed) as exc:
        view = await services.registration.view(flow_id)
        return _code_page(request, view, status=status_for(exc), headers=_error_headers(exc),
                          **_form_errors(request, exc))
    if isinstance(result, Completed):
        return _registered(request, result)
    return redirect(f"/registration/password?flow={result.flow_id}")


def _registered(request: Request, done: Completed) -> Response:
    services = get_services(request)
    if services.preset.registration == "rostelecom":
        # The seed: «Если всё прошло успешно, Вы увидите на экране такую надпись. Кликайте «Войти».»
        response: Response = render(request, "registration_done.html", session=None)
    else:
        # kit: registration continues with «Добавление компании для завершения регистрации»
        response = redirect("/companies/new" if services.companies.required else "/cabinet")
    set_session_cookie(response, request, done.session.token, done.session.remember, done.session.expires_at)
    return response


def _password_page(request: Request, flow_id: str, status: int = 200, **extra: Any) -> Response:
    return render(request, "registration_password.html", status=status, flow_id=flow_id, session=None, **extra)


@router.get("/registration/password")
async def registration_password_form(request: Request, flow: str = "") -> Response:
    view = await get_services(request).registration.view(flow)
    if view.state != "password_needed":
        return redirect(f"/registration/code?flow={view.flow_id}" if view.state == "code_sent" else "/cabinet")
    return _password_page(request, view.flow_id)


@router.post("/registration/password")
async def registration_password_submit(request: Request) -> Response:
    form = await read_form(request)
    services = get_services(request)
    flow_id = form.get("flow", "")
    try:
        done = await services.registration.set_password(flow_id, form.get("password"), form.get("password_repeat"),
                                                        make_context(request, "ui"))
    except (E.ValidationFailed, E.FormErrors, E.Conflict, E.StepNotAllowed) as exc:
        return _password_page(request, flow_id, status=status_for(exc), **_form_errors(request, exc))
    return _registered(request, done)


@router.get("/verify-email")
async def verify_email_form(request: Request, token: str = "") -> Response:
    return render(request, "verify_email.html", token=token[:128], session=await optional_session(request))


@router.post("/verify-email")
async def verify_email_submit(request: Request) -> Response:
    form = await read_form(request)
    services = get_services(request)
    await services.registration.confirm_email(form.get("token"), make_context(request, "ui"))
    return render(request, "verify_email.html", token="", confirmed=True, session=await optional_session(request))


@router.post("/registration/resend")
async def registration_resend(request: Request) -> Response:
    form = await read_form(request)
    services = get_services(request)
    flow_id = form.get("flow", "")
    try:
        view = await services.registration.resend(flow_id, make_context(request, "ui"))
    except (E.RateLimited, E.StepNotAllowed, E.ServiceUnavailable) as exc:
        view = await services.registration.view(flow_id)
        return _code_page(request, view, status=status_for(exc), headers=_error_headers(exc),
                          **_form_errors(request, exc))
    return redirect(f"/registration/code?flow={view.flow_id}&sent=1")


# -- sign-in / sign-out ----------------------------------------------------------------------

async def _login_page(request: Request, method: str, values: dict[str, str], status: int = 200,
                      **extra: Any) -> Response:
    services = get_services(request)
    if method not in services.preset.signin_methods:
        method = services.preset.signin_methods[0]
    captcha = extra.pop("captcha", None)
    if captcha is None:
        captcha = await services.login.captcha_needed(method, None)
    return render(request, "login.html", status=status, method=method, values=values, captcha=captcha,
                  session=None, **extra)


def _return_to(request: Request, value: str | None) -> str | None:
    csrf = services_csrf(get_services(request))
    return safe_return_to(value, csrf.origins)


@router.get("/login")
async def login_form(request: Request, method: str = "phone", return_to: str = "") -> Response:
    target = _return_to(request, return_to)
    if await optional_session(request):
        return redirect(target or "/cabinet")
    return await _login_page(request, method, {"country": "RU", "return_to": target or ""})


@router.post("/login")
async def login_submit(request: Request) -> Response:
    form = await read_form(request)
    services = get_services(request)
    method = form.get("method", "phone")
    inp = LoginInput(
        method=method,
        phone=form.get("phone"),
        country=form.get("country", "RU")[:3],
        login=form.get("login"),
        email=form.get("email"),
        snils=form.get("snils"),
        card=form.get("card"),
        password=form.get("password"),
        remember=form.get("remember") == "on",
        captcha=form.get("captcha") or None,
    )
    keep = {k: form.get(k, "") for k in ("phone", "country", "login", "email", "snils", "remember")}
    target = _return_to(request, form.get("return_to"))
    keep["return_to"] = target or ""
    previous, _ = token_from(request, services)
    try:
        _account, session = await services.login.login(inp, make_context(request, "ui"))
    except E.DostupError as exc:
        if isinstance(exc, (E.NotFound, E.Forbidden)):
            raise
        captcha = isinstance(exc, E.CaptchaRequired) or None
        return await _login_page(request, method, keep, status=status_for(exc), headers=_error_headers(exc),
                                 captcha=captcha, **_form_errors(request, exc))
    if previous:  # rotation: the session this browser had before signing in ends now
        await services.sessions.revoke_token(previous)
    response = redirect(target or "/cabinet")
    set_session_cookie(response, request, session.token, session.remember, session.expires_at)
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    await read_form(request)
    services = get_services(request)
    token, _ = token_from(request, services)
    if token:
        account_id = await services.sessions.revoke_token(token)
        if account_id:
            from dostup.accounts.events import record_event

            async with services.db.write() as s:
                record_event(s, kind="logout", outcome="success", ctx=make_context(request, "ui"),
                             now=services.clock.now(), account_id=account_id)
    response = redirect("/login")
    clear_session_cookie(response, request)
    return response


# -- cabinet ---------------------------------------------------------------------------------

@router.get("/cabinet")
async def cabinet(request: Request) -> Response:
    from dostup.web.ui.guard import page_session

    session = await page_session(request)
    if isinstance(session, Response):
        return session
    step = await get_services(request).companies.onboarding_step(session.account_id)
    if step is not None:  # registration is not complete before a company is confirmed
        return redirect("/companies/new" if step == "add" else "/companies")
    return render(request, "cabinet.html", session=session)
