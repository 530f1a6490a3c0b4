"""Settings pages: «Личная информация», login, contacts, «Настройка уведомлений», «Изменить пароль» (also
the forced change after a temporary password), «Подтвердите пароль» and the account's deletion.

Every page is a :data:`CabinetPage` (a session opened with a temporary password is sent to
«Изменить пароль»), every form carries the CSRF token, and everything works without
JavaScript.  Contact changes need a recent sign-in: the browser is sent to «Подтвердите пароль»
and comes back to the contacts page.
"""

from __future__ import annotations

from functools import partial
from typing import Annotated

from fastapi import APIRouter
from fastapi.responses import Response
from pydantic import model_validator

from dostup.accounts import preferences as P
from dostup.identity.documents import format_snils
from dostup.selfservice.settings.contact_flow import ContactInput
from dostup.selfservice.settings.profile import NAME_FIELDS
from dostup.session.reader import SessionRecord
from dostup.session.strength import is_unrestricted
from dostup.web.api.account import DeleteAccountIn, PasswordChangeIn, ReauthIn
from dostup.web.api.settings import LoginIn, NotificationsIn, PhoneIn, ProfileIn, SnilsIn
from dostup.web.ui.page import CabinetPage, FlowCodeIn, FlowIn, Form, Page, RecentPage, UiPage, cabinet
from dostup.web.ui.render import clear_session_cookie, redirect, set_session_cookie

router = APIRouter(include_in_schema=False)
PasswordPage = Annotated[SessionRecord, cabinet(restricted_ok=True)]


async def _has_password(page: Page, rec: SessionRecord) -> bool:
    return (await page.services.social_settings.methods(rec.account_id)).has_password


@router.get("/settings/password")
async def password_form(page: UiPage, rec: PasswordPage) -> Response:
    has_password = await _has_password(page, rec)
    if is_unrestricted(rec) and not has_password and not page.services.reauth.is_recent(rec):
        return redirect("/reauth?return_to=/settings/password")  # a first password (social sign-in): prove it is you
    return page.render("settings_password.html", session=rec, forced=not is_unrestricted(rec), saved=page.flag("saved"),
                       captcha=await page.services.reauth.captcha_needed(rec), has_password=has_password)


@router.post("/settings/password")
async def password_submit(page: UiPage, form: Form[PasswordChangeIn], rec: PasswordPage) -> Response:
    async with page.form(partial(password_form, page, rec), form) as body:
        issued = await page.services.password_change.change(rec, body, page.ctx)
    target = "/settings/password?saved=1" if is_unrestricted(rec) else "/cabinet"
    return set_session_cookie(redirect(target), page.request, issued)


@router.get("/reauth")
async def reauth_form(page: UiPage, rec: CabinetPage, return_to: str = "") -> Response:
    reauth = page.services.reauth
    return page.render("reauth.html", session=rec, return_to=page.return_to(return_to) or "/cabinet",
                       captcha=await reauth.captcha_needed(rec), ceremonies=await reauth.offered(rec.account_id),
                       totp=await page.services.totp.enabled(rec.account_id), has_password=await _has_password(page, rec),
                       social_linked=await page.services.social_settings.linked(rec.account_id))


@router.post("/reauth")
async def reauth_submit(page: UiPage, form: Form[ReauthIn], rec: CabinetPage) -> Response:
    target = page.return_to(form.get("return_to")) or "/cabinet"
    async with page.form(partial(reauth_form, page, rec, target), form) as body:
        issued = await page.services.reauth.confirm(rec, body, page.ctx)
    return set_session_cookie(redirect(target), page.request, issued)


@router.get("/settings/delete")
async def delete_form(page: UiPage, rec: RecentPage) -> Response:
    return page.render("account_delete.html", session=rec)


@router.post("/settings/delete")
async def delete_submit(page: UiPage, form: Form[DeleteAccountIn], rec: RecentPage) -> Response:
    async with page.form(partial(delete_form, page, rec), form) as body:
        await page.services.deletion.delete(rec, body.confirm, page.ctx)
    return clear_session_cookie(page.render("account_deleted.html", session=None), page.request)


CONTACTS_PATH = "/settings/contacts"
ContactsPage = Annotated[SessionRecord, cabinet(recent=True, reauth_back=CONTACTS_PATH)]


# -- «Личная информация» and the login name --------------------------------------------------

_PROFILE_FORMS = {"/settings": "settings_profile.html", "/settings/snils": "settings_profile.html",
                  "/settings/login": "settings_login.html"}


@router.get("/settings", name="profile_form")
@router.get("/settings/login", name="login_form")
async def profile_form(page: UiPage, rec: CabinetPage) -> Response:
    """The names and the login: one profile, two forms (the page's address says which, its posts too)."""
    profile = await page.services.profile.view(rec.account_id)
    template = _PROFILE_FORMS[page.request.url.path]
    values: dict[str, str | None] = {}
    if template == "settings_profile.html":
        values = {name: getattr(profile, name) for name in NAME_FIELDS}
        values["snils"] = format_snils(profile.snils) if profile.snils else ""
    return page.render(template, session=rec, profile=profile, values=page.values or values, saved=page.flag("saved"),
                       snils_saved=page.flag("snils_saved"), lowered=page.flag("lowered"))


@router.post("/settings")
async def profile_submit(page: UiPage, form: Form[ProfileIn], rec: CabinetPage) -> Response:
    async with page.form(partial(profile_form, page, rec), form) as body:
        view = await page.services.profile.update_names(rec.account_id, body.model_dump(exclude_unset=True), page.ctx)
    return redirect("/settings?saved=1" + ("&lowered=1" if view.level_lowered else ""))


@router.post("/settings/snils")
async def snils_submit(page: UiPage, form: Form[SnilsIn], rec: CabinetPage) -> Response:
    async with page.form(partial(profile_form, page, rec), form) as body:
        view = await page.services.profile.set_snils(rec.account_id, body.snils, page.ctx)
    return redirect("/settings?snils_saved=1" + ("&lowered=1" if view.level_lowered else "") + "#snils-title")


@router.post("/settings/login")
async def login_submit(page: UiPage, form: Form[LoginIn], rec: CabinetPage) -> Response:
    async with page.form(partial(profile_form, page, rec), form) as body:
        await page.services.profile.set_login(rec.account_id, body.login, page.ctx)
    return redirect("/settings/login?saved=1")


# -- contacts --------------------------------------------------------------------------------

_NOTICES = {"saved": "contacts.saved", "removed": "contacts.removed"}


@router.get(CONTACTS_PATH)
async def contacts_page(page: UiPage, rec: RecentPage) -> Response:
    contacts = await page.services.contacts.view(rec.account_id)
    return page.render("settings_contacts.html", session=rec, contacts=contacts,
                       values=page.values or {"country": "RU"}, notice=_NOTICES.get(page.query("done")))


class _ContactIn(PhoneIn):
    email: str | None = None


def _contact(page: Page) -> str:
    """Which contact a form is for: ``/settings/contacts/phone…`` or ``/settings/contacts/email…``."""
    return "phone" if page.request.url.path.startswith(CONTACTS_PATH + "/phone") else "email"


@router.post(CONTACTS_PATH + "/phone", name="phone_start")
@router.post(CONTACTS_PATH + "/email", name="email_start")
async def contact_start(page: UiPage, form: Form[_ContactIn], rec: ContactsPage) -> Response:
    contact = _contact(page)
    async with page.form(partial(contacts_page, page, rec), form) as body:
        inp = ContactInput(contact=contact, value=getattr(body, contact), country=body.country)
        view = await page.services.contacts.start(rec, inp, page.ctx)
    return redirect(f"{CONTACTS_PATH}/confirm?flow={view.flow_id}")


async def _remove_failed(page: Page, rec: SessionRecord) -> Response:
    page.shown["errors"] = {f"remove_{k}": v for k, v in page.shown["errors"].items()}
    return await contacts_page(page, rec)


@router.post(CONTACTS_PATH + "/phone/remove", name="phone_remove")
@router.post(CONTACTS_PATH + "/email/remove", name="email_remove")
async def contact_remove(page: UiPage, form: Form[FlowIn], rec: ContactsPage) -> Response:
    async with page.form(partial(_remove_failed, page, rec), form):
        await page.services.contacts.remove(rec, _contact(page), page.ctx)
    return redirect(f"{CONTACTS_PATH}?done=removed")


@router.get(CONTACTS_PATH + "/confirm")
async def confirm_form(page: UiPage, rec: CabinetPage, flow: str = "") -> Response:
    view = await page.services.contacts.flow(rec.account_id, flow)
    if view.state != "code_sent":
        return redirect(CONTACTS_PATH)
    shown = page.shown
    if shown.get("failure") and shown["failure"].field not in (None, "code"):
        # e.g. the number went to another cabinet meanwhile: there is no such field on this page
        shown["form_message"] = " ".join([*shown["errors"].values(), shown["form_message"]]).strip()
        shown["errors"] = {}
    return page.render("settings_contact_code.html", session=rec, view=view, notice=page.flag("sent"))


@router.post(CONTACTS_PATH + "/confirm")
async def confirm_submit(page: UiPage, form: Form[FlowCodeIn], rec: CabinetPage) -> Response:
    async with page.form(partial(confirm_form, page, rec, form.get("flow")), form) as body:
        await page.services.contacts.confirm(rec, body.flow, body.code, page.ctx)
    return redirect(f"{CONTACTS_PATH}?done=saved")


@router.post(CONTACTS_PATH + "/resend")
async def resend(page: UiPage, form: Form[FlowIn], rec: CabinetPage) -> Response:
    async with page.form(partial(confirm_form, page, rec, form.get("flow")), form) as body:
        view = await page.services.contacts.resend(rec, body.flow, page.ctx)
    return redirect(f"{CONTACTS_PATH}/confirm?flow={view.flow_id}&sent=1")


# -- «Настройка уведомлений» -----------------------------------------------------------------

class _NotificationsForm(NotificationsIn):
    """The page's checkboxes (``service_sms``…; an unticked one is not sent) as the API's body."""

    @model_validator(mode="before")
    @classmethod
    def _from_checkboxes(cls, form: dict[str, str]) -> dict[str, object]:
        return {"preferences": {kind: {ch: form.get(f"{kind}_{ch}") == "on" for ch in P.CHANNELS}
                                for kind in P.KINDS if kind not in P.MANDATORY},
                "marketing_consent": form.get("marketing_consent") == "on"}


@router.get("/settings/notifications")
async def notifications_form(page: UiPage, rec: CabinetPage) -> Response:
    prefs = await page.services.notification_settings.view(rec.account_id)
    return page.render("settings_notifications.html", session=rec, prefs=prefs, kinds=P.KINDS, channels=P.CHANNELS,
                       saved=page.flag("saved"))


@router.post("/settings/notifications")
async def notifications_submit(page: UiPage, form: Form[_NotificationsForm], rec: CabinetPage) -> Response:
    async with page.form(partial(notifications_form, page, rec), form) as body:
        await page.services.notification_settings.update(
            rec.account_id, choices=body.preferences, marketing_consent=body.marketing_consent, ctx=page.ctx)
    return redirect("/settings/notifications?saved=1")
