"""Bodies of the company endpoints.  Unknown fields (``confirmed_at``, ``account_id`` …) are ignored."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel

from dostup.web.api.schemas import _In


class CompanyIn(_In):
    """A new profile.  ``legal`` (ЮЛ): name, inn, kpp, ogrn, address, email; ``entrepreneur`` (ИП):
    name, inn, ogrnip, email; ``individual`` (ФЛ): name, optional inn, email."""

    kind: str | None = None
    name: str | None = None
    inn: str | None = None
    kpp: str | None = None
    ogrn: str | None = None
    ogrnip: str | None = None
    address: str | None = None
    email: str | None = None


class CompanyOut(BaseModel):
    id: str
    kind: str
    name: str
    inn: str | None
    kpp: str | None
    ogrn: str | None
    ogrnip: str | None
    address: str | None
    email: str
    status: Literal["confirmed", "unconfirmed"]
    created_at: dt.datetime
    confirmed_at: dt.datetime | None
    destination: str
    code_expires_at: dt.datetime | None
    resend_after_seconds: int


class CompaniesOut(BaseModel):
    companies: list[CompanyOut]
    onboarding: Literal["company_required"] | None


class ConfirmedOut(BaseModel):
    company: CompanyOut
    onboarding: Literal["company_required"] | None
