"""Request and response bodies of the JSON API.  Unknown fields are ignored (no mass assignment)."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field


class _In(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=False)


class ErrorDetail(BaseModel):
    code: str
    message: str
    field: str | None = None


class ErrorBody(BaseModel):
    error: ErrorDetail


class RegistrationIn(_In):
    phone: str | None = None
    country: str = Field(default="RU", max_length=3)
    email: str | None = None
    password: str | None = None
    password_repeat: str | None = None
    segment: str | None = Field(default=None, max_length=32)
    consent_personal_data: bool = False
    consent_marketing: bool = False
    captcha: str | None = None
    family_name: str | None = None
    given_name: str | None = None
    middle_name: str | None = None
    region: str | None = Field(default=None, max_length=100)
    contact: str | None = None
    card: str | None = None


class PasswordIn(_In):
    password: str | None = None
    password_repeat: str | None = None


class EmailLinkIn(_In):
    token: str | None = Field(default=None, max_length=128)


class RegistrationFlowOut(BaseModel):
    flow_id: str
    state: str
    channel: str
    destination: str
    code_expires_at: dt.datetime | None
    resend_after_seconds: int
    expires_at: dt.datetime


class CodeIn(_In):
    code: str | None = None


class LoginIn(_In):
    method: str = Field(default="phone", max_length=16)
    phone: str | None = None
    country: str = Field(default="RU", max_length=3)
    login: str | None = None
    email: str | None = None
    snils: str | None = None
    card: str | None = None
    password: str | None = None
    remember: bool = False
    captcha: str | None = None


class AccountOut(BaseModel):
    id: str
    phone: str | None
    email: str | None
    login: str | None
    segment: str | None
    state: str
    created_at: dt.datetime


class SessionOut(BaseModel):
    token: str
    expires_at: dt.datetime
    state: str


class SignedInOut(BaseModel):
    account: AccountOut
    session: SessionOut
