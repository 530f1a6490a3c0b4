"""Settings over JSON: the same use-cases as the settings pages.

A contact change that needs a fresh sign-in answers 403 ``reauth_required``: the client calls
``POST /api/v1/reauth`` with the password and repeats the request with the rotated token.  The
answers are the use-cases' own views; unknown fields in a body (``role``, ``state``,
``phone_verified_at`` …) are ignored.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import Field, StrictBool

from dostup.selfservice.settings.contact_flow import ContactFlowView, ContactInput, ContactsView
from dostup.selfservice.settings.notifications import NotificationsView
from dostup.selfservice.settings.profile import ProfileView
from dostup.web.api.schemas import CodeIn, _In, errors
from dostup.web.deps import ApiContext, SameOrigin, ServicesDep, SessionDep

router = APIRouter(prefix="/settings", tags=["settings"], responses=errors(401, 403, 404, 409, 422, 429))


class ProfileIn(_In):
    """Names to set; a name left out stays as it is, ``null`` or ``""`` clears it."""

    family_name: str | None = None
    given_name: str | None = None
    middle_name: str | None = None


class LoginIn(_In):
    login: str | None = None


class SnilsIn(_In):
    snils: str | None = None  # «123-456-789 64», spaces and hyphens allowed


class PhoneIn(_In):
    phone: str | None = None
    country: str = Field(default="RU", max_length=3)


class EmailIn(_In):
    email: str | None = None


class NotificationsIn(_In):
    """``{"preferences": {"service": {"sms": false}}, "marketing_consent": false}``; both optional.  Kinds:
    ``security`` (cannot be turned off), ``signin`` (a message at every sign-in, off by default), ``service``,
    ``marketing``; channels ``sms`` and ``email``."""

    preferences: dict[str, dict[str, StrictBool]] | None = None
    marketing_consent: StrictBool | None = None


# -- «Личная информация» and login ------------------------------------------------------------

@router.get("/profile")
async def get_profile(services: ServicesDep, rec: SessionDep) -> ProfileView:
    """Names, and a read-only summary of the phone, email and login."""
    return await services.profile.view(rec.account_id)


@router.put("/profile", dependencies=[SameOrigin])
async def put_profile(body: ProfileIn, ctx: ApiContext, services: ServicesDep, rec: SessionDep) -> ProfileView:
    """Set Фамилия, Имя, Отчество.  Other fields in the body are ignored."""
    return await services.profile.update_names(rec.account_id, body.model_dump(exclude_unset=True), ctx)


@router.put("/login", dependencies=[SameOrigin])
async def put_login(body: LoginIn, ctx: ApiContext, services: ServicesDep, rec: SessionDep) -> ProfileView:
    """Set or change the login (unique, case-insensitive; 409 ``login_taken``)."""
    return await services.profile.set_login(rec.account_id, body.login, ctx)


@router.put("/snils", dependencies=[SameOrigin])
async def put_snils(body: SnilsIn, ctx: ApiContext, services: ServicesDep, rec: SessionDep) -> ProfileView:
    """Set or change the SNILS (checksum checked; 409 ``snils_taken`` when another account has it): then
    sign-in by SNILS works where the preset offers it."""
    return await services.profile.set_snils(rec.account_id, body.snils, ctx)


# -- contacts ---------------------------------------------------------------------------------

@router.get("/contacts")
async def get_contacts(services: ServicesDep, rec: SessionDep) -> ContactsView:
    return await services.contacts.view(rec.account_id)


@router.post("/contacts/phone", status_code=201, dependencies=[SameOrigin])
async def start_phone(body: PhoneIn, ctx: ApiContext, services: ServicesDep, rec: SessionDep) -> ContactFlowView:
    """Add or change the phone: sends a code; the number becomes the account's when it is confirmed."""
    return await services.contacts.start(rec, ContactInput(contact="phone", value=body.phone, country=body.country), ctx)


@router.post("/contacts/email", status_code=201, dependencies=[SameOrigin])
async def start_email(body: EmailIn, ctx: ApiContext, services: ServicesDep, rec: SessionDep) -> ContactFlowView:
    """Add, change or confirm the email: sends a code to it."""
    return await services.contacts.start(rec, ContactInput(contact="email", value=body.email), ctx)


@router.delete("/contacts/{contact}", dependencies=[SameOrigin])
async def remove_contact(contact: Literal["phone", "email"], ctx: ApiContext, services: ServicesDep,
                         rec: SessionDep) -> ContactsView:
    """Remove the phone or the email; the last confirmed contact cannot be removed (409)."""
    return await services.contacts.remove(rec, contact, ctx)


@router.get("/contacts/flows/{flow_id}")
async def get_contact_flow(flow_id: str, services: ServicesDep, rec: SessionDep) -> ContactFlowView:
    return await services.contacts.flow(rec.account_id, flow_id)


@router.post("/contacts/flows/{flow_id}/code", dependencies=[SameOrigin])
async def confirm_contact(flow_id: str, body: CodeIn, ctx: ApiContext, services: ServicesDep,
                          rec: SessionDep) -> ContactsView:
    return await services.contacts.confirm(rec, flow_id, body.code, ctx)


@router.post("/contacts/flows/{flow_id}/resend", dependencies=[SameOrigin])
async def resend_contact_code(flow_id: str, ctx: ApiContext, services: ServicesDep, rec: SessionDep) -> ContactFlowView:
    return await services.contacts.resend(rec, flow_id, ctx)


# -- «Настройка уведомлений» ------------------------------------------------------------------

@router.get("/notifications")
async def get_notifications(services: ServicesDep, rec: SessionDep) -> NotificationsView:
    return await services.notification_settings.view(rec.account_id)


@router.put("/notifications", dependencies=[SameOrigin])
async def put_notifications(body: NotificationsIn, ctx: ApiContext, services: ServicesDep,
                            rec: SessionDep) -> NotificationsView:
    """Change channels per kind (``security`` cannot be turned off) and give or withdraw the marketing consent."""
    return await services.notification_settings.update(
        rec.account_id, choices=body.preferences, marketing_consent=body.marketing_consent, ctx=ctx)
