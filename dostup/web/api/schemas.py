"""Request and response bodies of the JSON API.  Unknown fields are ignored (no mass assignment).

A body that a use-case takes as its input dataclass is that dataclass, as a pydantic dataclass adding
only the wire limits (``RegistrationIn(RegistrationInput)``): the fields are written once.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from pydantic.dataclasses import dataclass

from dostup.core.clock import UtcTime
from dostup.selfservice.login.flow import LoginInput
from dostup.selfservice.registration.flow import RegistrationInput
from dostup.session.service import IssuedSession
from dostup.session.strength import state_name


class _In(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=False)


class ErrorDetail(BaseModel):
    code: str
    message: str
    field: str | None = None


class ErrorBody(BaseModel):
    error: ErrorDetail


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The error answers a router documents in OpenAPI, all of one shape."""
    return {status: {"model": ErrorBody} for status in statuses}


NO_CONTENT: dict[str, Any] = {"status_code": 204, "response_class": Response}  # the handler returns None


@dataclass(frozen=True)
class RegistrationIn(RegistrationInput):
    country: Annotated[str, Field(max_length=3)] = "RU"
    segment: Annotated[str | None, Field(max_length=32)] = None
    region: Annotated[str | None, Field(max_length=100)] = None


class PasswordIn(_In):
    password: str | None = None
    password_repeat: str | None = None


class EmailLinkIn(_In):
    token: str | None = Field(default=None, max_length=128)


class CodeIn(_In):
    code: str | None = None


@dataclass(frozen=True)
class LoginIn(LoginInput):
    method: Annotated[str, Field(max_length=16)] = "phone"
    country: Annotated[str, Field(max_length=3)] = "RU"


class AccountOut(BaseModel):
    id: str
    phone: str | None
    email: str | None
    login: str | None
    segment: str | None
    state: str
    created_at: UtcTime


class SessionOut(BaseModel):
    token: str
    expires_at: UtcTime
    state: str = Field(description="`active`, or the step the session must take first (`password_change`)")
    aal: int = Field(description="authenticator assurance level (NIST 800-63B): 1 one factor, 2 two factors")
    amr: list[str] = Field(description="authentication methods used (RFC 8176: pwd, sms, otp, hwk, user, mfa …)")


def session_out(issued: IssuedSession) -> SessionOut:
    return SessionOut(token=issued.token, expires_at=issued.expires_at, state=state_name(issued.strength),
                      aal=issued.strength.aal, amr=list(issued.strength.amr))


class PendingOut(BaseModel):
    flow_id: str
    methods: list[str] = Field(description="second factors the account has: recovery_code …")
    expires_at: UtcTime


class SecondFactorNeeded(BaseModel):
    second_factor: PendingOut = Field(description="no session yet: finish at /login/{flow_id}/second-factor")


class SignedInOut(BaseModel):
    account: AccountOut
    session: SessionOut
