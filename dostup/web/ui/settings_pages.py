"""Settings pages: «Личная информация», contacts, login, «Настройка уведомлений».

Every page goes through :func:`page_session` (a session opened with a temporary password is sent
to «Изменить пароль»), every form carries the CSRF token, and everything works without
JavaScript.  Contact changes need a recent sign-in: the browser is sent to «Подтвердите пароль»
and comes back to the contacts page.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response

from dostup.accounts import preferences as P
from dostup.core import errors as E
from dostup.selfservice.reauth import ReauthRequired
from dostup.selfservice.settings.contact_flow import ContactInput
from dostup.selfservice.settings.profile import NAME_FIELDS
from dostup.session.reader import SessionRecord
from dostup.web.deps import get_services, make_context
from dostup.web.errors import status_for
from dostup.web.ui.guard import needs_reauth, page_session
from dostup.web.ui.pages import _error_headers, _form_errors
from dostup.web.ui.render import read_form, redirect, render

router = APIRouter(include_in_schema=False)

CONTACTS_PATH = "/settings/contacts"
_FORM_ERRORS = (E.ValidationFailed, E.FormErrors, E.Conflict, E.RateLimited, E.ServiceUnavailable)


def _reauth(back: str = CONTACTS_PATH) -> Response:
    return redirect("/reauth?return_to=" + quote(back, safe="/"))


# -- «Личная информация» ---------------------------------------------------------------------

async def _profile_page(request: Request, rec: SessionRecord, values: dict[str, str | None] | None = None,
                        status: int = 200, **extra: Any) -> Response:
    profile = await get_services(request).profile.view(rec.account_id)
    if values is None:
        values = {name: getattr(profile, name) for name in NAME_FIELDS}
    return render(request, "settings_profile.html", status=status, session=rec, profile=profile, values=values,
                  **extra)


@router.get("/settings")
async def profile_form(request: Request) -> Response:
    rec = await page_session(request)
    if not isinstance(rec, SessionRecord):
        return rec
    return await _profile_page(request, rec, saved=request.query_params.get("saved") == "1")


@router.post("/settings")
async def profile_submit(request: Request) -> Response:
    form = await read_form(request)
    rec = await page_session(request)
    if not isinstance(rec, SessionRecord):
        return rec
    names = {name: form[name] for name in NAME_FIELDS if name in form}
    try:
        await get_services(request).profile.update_names(rec.account_id, names)
    except (E.ValidationFailed, E.FormErrors) as exc:
        return await _profile_page(request, rec, dict(names), status=status_for(exc), **_form_errors(request, exc))
    return redirect("/settings?saved=1")


# -- login name ------------------------------------------------------------------------------

async def _login_page(request: Request, rec: SessionRecord, values: dict[str, str], status: int = 200,
                      **extra: Any) -> Response:
    profile = await get_services(request).profile.view(rec.account_id)
    return render(request, "settings_login.html", status=status, session=rec, profile=profile, values=values,
                  **extra)


@router.get("/settings/login")
async def login_form(request: Request) -> Response:
    rec = await page_session(request)
    if not isinstance(rec, SessionRecord):
        return rec
    return await _login_page(request, rec, {}, saved=request.query_params.get("saved") == "1")


@router.post("/settings/login")
async def login_submit(request: Request) -> Response:
    form = await read_form(request)
    rec = await page_session(request)
    if not isinstance(rec, SessionRecord):
        return rec
    try:
        await get_services(request).profile.set_login(rec.account_id, form.get("login"), make_context(request, "ui"))
    except _FORM_ERRORS as exc:
        return await _login_page(request, rec, {"login": form.get("login", "")}, status=status_for(exc),
                                 headers=_error_headers(exc), **_form_errors(request, exc))
    return redirect("/settings/login?saved=1")


# -- contacts --------------------------------------------------------------------------------

_NOTICES = {"saved": "contacts.saved", "removed": "contacts.removed"}


async def _contacts_page(request: Request, rec: SessionRecord, values: dict[str, str] | None = None,
                         status: int = 200, **extra: Any) -> Response:
    contacts = await get_services(request).contacts.view(rec.account_id)
    return render(request, "settings_contacts.html", status=status, session=rec, contacts=contacts,
                  values=values or {"country": "RU"}, **extra)


@router.get(CONTACTS_PATH)
async def contacts_page(request: Request) -> Response:
    rec = await page_session(request)
    if not isinstance(rec, SessionRecord):
        return rec
    if (go := needs_reauth(request, rec)) is not None:
        return go
    return await _contacts_page(request, rec, notice=_NOTICES.get(request.query_params.get("done", "")))


async def _start(request: Request, contact: str) -> Response:
    form = await read_form(request)
    rec = await page_session(request)
    if not isinstance(rec, SessionRecord):
        return rec
    services = get_services(request)
    inp = ContactInput(contact=contact, value=form.get(contact), country=form.get("country", "RU")[:3])
    try:
        view = await services.contacts.start(rec, inp, make_context(request, "ui"))
    except ReauthRequired:
        return _reauth()
    except _FORM_ERRORS as exc:
        keep = {k: form.get(k, "") for k in ("phone", "country", "email")}
        return await _contacts_page(request, rec, keep, status=status_for(exc), headers=_error_headers(exc),
                                    **_form_errors(request, exc))
    return redirect(f"{CONTACTS_PATH}/confirm?flow={view.flow_id}")


@router.post(CONTACTS_PATH + "/phone")
async def phone_start(request: Request) -> Response:
    return await _start(request, "phone")


@router.post(CONTACTS_PATH + "/email")
async def email_start(request: Request) -> Response:
    return await _start(request, "email")


async def _remove(request: Request, contact: str) -> Response:
    await read_form(request)
    rec = await page_session(request)
    if not isinstance(rec, SessionRecord):
        return rec
    try:
        await get_services(request).contacts.remove(rec, contact, make_context(request, "ui"))
    except ReauthRequired:
        return _reauth()
    except (E.Conflict, E.NotFound) as exc:
        shown = _form_errors(request, exc)
        shown["errors"] = {f"remove_{k}": v for k, v in shown["errors"].items()}
        return await _contacts_page(request, rec, status=status_for(exc), **shown)
    return redirect(f"{CONTACTS_PATH}?done=removed")


@router.post(CONTACTS_PATH + "/phone/remove")
async def phone_remove(request: Request) -> Response:
    return await _remove(request, "phone")


@router.post(CONTACTS_PATH + "/email/remove")
async def email_remove(request: Request) -> Response:
    return await _remove(request, "email")


async def _code_page(request: Request, rec: SessionRecord, flow_id: str, status: int = 200,
                     **extra: Any) -> Response:
    view = await get_services(request).contacts.flow(rec.account_id, flow_id)
    if view.state != "code_sent":
        return redirect(CONTACTS_PATH)
    return render(request, "settings_contact_code.html", status=status, session=rec, view=view, **extra)


@router.get(CONTACTS_PATH + "/confirm")
async def confirm_form(request: Request, flow: str = "") -> Response:
    rec = await page_session(request)
    if not isinstance(rec, SessionRecord):
        return rec
    return await _code_page(request, rec, flow, notice=request.query_params.get("sent") == "1")


@router.post(CONTACTS_PATH + "/confirm")
async def confirm_submit(request: Request) -> Response:
    form = await read_form(request)
    rec = await page_session(request)
    if not isinstance(rec, SessionRecord):
        return rec
    flow_id = form.get("flow", "")
    try:
        await get_services(request).contacts.confirm(rec, flow_id, form.get("code"), make_context(request, "ui"))
    except (*_FORM_ERRORS, E.StepNotAllowed) as exc:
        shown = _form_errors(request, exc)
        if exc.field not in (None, "code"):  # e.g. the number went to another cabinet meanwhile
            shown = {"errors": {}, "form_message": " ".join([*shown["errors"].values(), shown["form_message"]]).strip()}
        return await _code_page(request, rec, flow_id, status=status_for(exc), headers=_error_headers(exc), **shown)
    return redirect(f"{CONTACTS_PATH}?done=saved")


@router.post(CONTACTS_PATH + "/resend")
async def resend(request: Request) -> Response:
    form = await read_form(request)
    rec = await page_session(request)
    if not isinstance(rec, SessionRecord):
        return rec
    flow_id = form.get("flow", "")
    try:
        view = await get_services(request).contacts.resend(rec, flow_id, make_context(request, "ui"))
    except (E.RateLimited, E.StepNotAllowed, E.ServiceUnavailable) as exc:
        return await _code_page(request, rec, flow_id, status=status_for(exc), headers=_error_headers(exc),
                                **_form_errors(request, exc))
    return redirect(f"{CONTACTS_PATH}/confirm?flow={view.flow_id}&sent=1")


# -- «Настройка уведомлений» -----------------------------------------------------------------

async def _notifications_page(request: Request, rec: SessionRecord, status: int = 200, **extra: Any) -> Response:
    prefs = await get_services(request).notification_settings.view(rec.account_id)
    return render(request, "settings_notifications.html", status=status, session=rec, prefs=prefs,
                  kinds=P.KINDS, channels=P.CHANNELS, **extra)


@router.get("/settings/notifications")
async def notifications_form(request: Request) -> Response:
    rec = await page_session(request)
    if not isinstance(rec, SessionRecord):
        return rec
    return await _notifications_page(request, rec, saved=request.query_params.get("saved") == "1")


@router.post("/settings/notifications")
async def notifications_submit(request: Request) -> Response:
    form = await read_form(request)
    rec = await page_session(request)
    if not isinstance(rec, SessionRecord):
        return rec
    # A checkbox left unticked is not sent; the mandatory kind is shown disabled and never sent.
    choices = {kind: {ch: form.get(f"{kind}_{ch}") == "on" for ch in P.CHANNELS}
               for kind in P.KINDS if kind not in P.MANDATORY}
    try:
        await get_services(request).notification_settings.update(
            rec.account_id, choices=choices, marketing_consent=form.get("marketing_consent") == "on",
            ctx=make_context(request, "ui"),
        )
    except _FORM_ERRORS as exc:
        return await _notifications_page(request, rec, status=status_for(exc), **_form_errors(request, exc))
    return redirect("/settings/notifications?saved=1")
