"""Bodies of the settings endpoints.  Unknown fields (``role``, ``state``, ``phone_verified_at`` …) are ignored."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field, StrictBool

from dostup.web.api.schemas import _In


class ProfileIn(_In):
    """Names to set; a name left out stays as it is, ``null`` or ``""`` clears it."""

    family_name: str | None = None
    given_name: str | None = None
    middle_name: str | None = None


class ProfileOut(BaseModel):
    family_name: str | None
    given_name: str | None
    middle_name: str | None
    phone: str | None
    phone_confirmed: bool
    email: str | None
    email_confirmed: bool
    login: str | None


class LoginIn(_In):
    login: str | None = None


class PhoneIn(_In):
    phone: str | None = None
    country: str = Field(default="RU", max_length=3)


class EmailIn(_In):
    email: str | None = None


class ContactFlowOut(BaseModel):
    flow_id: str
    state: str
    contact: str
    value: str
    channel: str
    destination: str
    code_expires_at: dt.datetime | None
    resend_after_seconds: int
    expires_at: dt.datetime


class ContactsOut(BaseModel):
    phone: str | None
    phone_confirmed: bool
    email: str | None
    email_confirmed: bool
    pending: list[ContactFlowOut]


class NotificationItemOut(BaseModel):
    kind: str
    channel: str
    enabled: bool
    selected: bool
    mandatory: bool
    available: bool


class NotificationsOut(BaseModel):
    marketing_consent: bool
    items: list[NotificationItemOut]


class NotificationsIn(_In):
    """``{"preferences": {"service": {"sms": false}}, "marketing_consent": false}``; both optional."""

    preferences: dict[str, dict[str, StrictBool]] | None = None
    marketing_consent: StrictBool | None = None
