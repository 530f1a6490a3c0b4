"""Bodies of the contract endpoints.  Unknown fields are ignored (no mass assignment)."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, Field

from dostup.web.api.schemas import _In


class LinkIn(_In):
    """``method="sms"``: a code goes to the phone on file; ``"secret"``: the PIN or last bill's amount."""

    kind: str | None = Field(default=None, max_length=16, description='"contract" or "card"')
    number: str | None = Field(default=None, max_length=256)
    method: str | None = Field(default="sms", max_length=16, description='"sms" or "secret"')
    secret: str | None = Field(default=None, max_length=256)


class ContractOut(BaseModel):
    id: str
    kind: str
    number: str = Field(description="A contract number as it is; a card number masked (2202 **** **** 1234)")
    method: str
    created_at: dt.datetime


class ContractsOut(BaseModel):
    items: list[ContractOut]


class LinkFlowOut(BaseModel):
    flow_id: str
    state: str
    kind: str
    number: str
    message: str = Field(description="«Если договор найден, код отправлен на телефон, указанный в договоре»")
    code_expires_at: dt.datetime | None
    resend_after_seconds: int
    expires_at: dt.datetime


class LinkStartOut(BaseModel):
    state: Literal["linked", "code_sent"]
    contract: ContractOut | None = None
    flow: LinkFlowOut | None = None


class ImportRowIn(_In):
    number: str | int | None = None
    kind: str | None = None
    phone: str | int | None = None
    secret: str | int | float | None = None


class ImportIn(_In):
    """Either ``csv`` (the file's text, header ``number,kind,phone,secret``) or ``rows``."""

    csv: str | None = None
    rows: list[ImportRowIn] | None = None


class ImportErrorOut(BaseModel):
    line: int
    field: str | None
    code: str
    message: str


class ImportOut(BaseModel):
    created: int
    updated: int
    errors: list[ImportErrorOut]
