"""Settings over JSON: the same use-cases as the settings pages.

A contact change that needs a fresh sign-in answers 403 ``reauth_required``: the client calls
``POST /api/v1/reauth`` with the password and repeats the request with the rotated token.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Literal

from fastapi import APIRouter, Depends, Request

from dostup.selfservice.settings.contact_flow import ContactFlowView, ContactInput, ContactsView
from dostup.selfservice.settings.notifications import NotificationsView
from dostup.selfservice.settings.profile import NAME_FIELDS, ProfileView
from dostup.web.api.schemas import CodeIn, ErrorBody
from dostup.web.api.schemas_settings import (
    ContactFlowOut,
    ContactsOut,
    EmailIn,
    LoginIn,
    NotificationsIn,
    NotificationsOut,
    PhoneIn,
    ProfileIn,
    ProfileOut,
)
from dostup.web.deps import ServicesDep, SessionDep, api_same_origin, make_context

router = APIRouter(prefix="/settings", tags=["settings"], responses={
    401: {"model": ErrorBody}, 403: {"model": ErrorBody}, 404: {"model": ErrorBody}, 409: {"model": ErrorBody},
    422: {"model": ErrorBody}, 429: {"model": ErrorBody},
})
_writes = [Depends(api_same_origin)]


def _profile(view: ProfileView) -> ProfileOut:
    return ProfileOut(**asdict(view))


def _flow(view: ContactFlowView) -> ContactFlowOut:
    return ContactFlowOut(**asdict(view))


def _contacts(view: ContactsView) -> ContactsOut:
    return ContactsOut(**asdict(view))


def _notifications(view: NotificationsView) -> NotificationsOut:
    return NotificationsOut(**asdict(view))


# -- «Личная информация» and login ------------------------------------------------------------

@router.get("/profile")
async def get_profile(services: ServicesDep, rec: SessionDep) -> ProfileOut:
    """Names, and a read-only summary of the phone, email and login."""
    return _profile(await services.profile.view(rec.account_id))


@router.put("/profile", dependencies=_writes)
async def put_profile(body: ProfileIn, services: ServicesDep, rec: SessionDep) -> ProfileOut:
    """Set Фамилия, Имя, Отчество.  Other fields in the body are ignored."""
    names = {name: getattr(body, name) for name in NAME_FIELDS if name in body.model_fields_set}
    return _profile(await services.profile.update_names(rec.account_id, names))


@router.put("/login", dependencies=_writes)
async def put_login(body: LoginIn, request: Request, services: ServicesDep, rec: SessionDep) -> ProfileOut:
    """Set or change the login (unique, case-insensitive; 409 ``login_taken``)."""
    return _profile(await services.profile.set_login(rec.account_id, body.login, make_context(request, "api")))


# -- contacts ---------------------------------------------------------------------------------

@router.get("/contacts")
async def get_contacts(services: ServicesDep, rec: SessionDep) -> ContactsOut:
    return _contacts(await services.contacts.view(rec.account_id))


@router.post("/contacts/phone", status_code=201, dependencies=_writes)
async def start_phone(body: PhoneIn, request: Request, services: ServicesDep, rec: SessionDep) -> ContactFlowOut:
    """Add or change the phone: sends a code; the number becomes the account's when it is confirmed."""
    inp = ContactInput(contact="phone", value=body.phone, country=body.country)
    return _flow(await services.contacts.start(rec, inp, make_context(request, "api")))


@router.post("/contacts/email", status_code=201, dependencies=_writes)
async def start_email(body: EmailIn, request: Request, services: ServicesDep, rec: SessionDep) -> ContactFlowOut:
    """Add, change or confirm the email: sends a code to it."""
    inp = ContactInput(contact="email", value=body.email)
    return _flow(await services.contacts.start(rec, inp, make_context(request, "api")))


@router.delete("/contacts/{contact}", dependencies=_writes)
async def remove_contact(contact: Literal["phone", "email"], request: Request, services: ServicesDep,
                         rec: SessionDep) -> ContactsOut:
    """Remove the phone or the email; the last confirmed contact cannot be removed (409)."""
    return _contacts(await services.contacts.remove(rec, contact, make_context(request, "api")))


@router.get("/contacts/flows/{flow_id}")
async def get_contact_flow(flow_id: str, services: ServicesDep, rec: SessionDep) -> ContactFlowOut:
    return _flow(await services.contacts.flow(rec.account_id, flow_id))


@router.post("/contacts/flows/{flow_id}/code", dependencies=_writes)
async def confirm_contact(flow_id: str, body: CodeIn, request: Request, services: ServicesDep,
                          rec: SessionDep) -> ContactsOut:
    return _contacts(await services.contacts.confirm(rec, flow_id, body.code, make_context(request, "api")))


@router.post("/contacts/flows/{flow_id}/resend", dependencies=_writes)
async def resend_contact_code(flow_id: str, request: Request, services: ServicesDep, rec: SessionDep) -> ContactFlowOut:
    return _flow(await services.contacts.resend(rec, flow_id, make_context(request, "api")))


# -- «Настройка уведомлений» ------------------------------------------------------------------

@router.get("/notifications")
async def get_notifications(services: ServicesDep, rec: SessionDep) -> NotificationsOut:
    return _notifications(await services.notification_settings.view(rec.account_id))


@router.put("/notifications", dependencies=_writes)
async def put_notifications(body: NotificationsIn, request: Request, services: ServicesDep,
                            rec: SessionDep) -> NotificationsOut:
    """Change channels per kind (``security`` cannot be turned off) and give or withdraw the marketing consent."""
    view = await services.notification_settings.update(
        rec.account_id, choices=body.preferences, marketing_consent=body.marketing_consent,
        ctx=make_context(request, "api"),
    )
    return _notifications(view)
