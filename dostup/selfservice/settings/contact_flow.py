"""Changing a contact as a state machine (SPEC §4.4; the Rostelecom seed's contacts rules).

``code_sent`` → (right code) → ``completed``.  The new phone or email becomes the account's only
on the transition to ``completed``: until the code is confirmed the old contact stays in place
and the new one holds nothing hostage, and the unique constraint on ``accounts.phone`` /
``accounts.email`` decides two accounts racing for one value.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from dostup.core.clock import UtcTime
from dostup.selfservice.flows import CodeProof

KIND = "contact_change"
CODE_SENT = "code_sent"
COMPLETED = "completed"
FLOW_TTL_SECONDS = 3600  # the flow outlives its codes (10 min each): a new code can be asked for within it
CONTACTS = ("phone", "email")


class ContactProof(CodeProof, Protocol):
    """How a contact change proves the new contact: the code method implements it
    (``dostup.selfservice.methods.code.contacts``), wired in by ``dostup.app``."""

    async def supersede(self, db: AsyncSession, account_id: str, contact: str, now: dt.datetime) -> None:
        """One live code per account and contact: a new request kills the one before."""


@dataclass(frozen=True, slots=True)
class ContactInput:
    contact: str  # "phone" | "email"
    value: str | None
    country: str = "RU"


@dataclass(frozen=True, slots=True)
class ContactFlowView:
    """A contact change waiting for its code, as either surface shows it (masked)."""

    flow_id: str
    state: str
    contact: str
    value: str  # the new contact, masked
    channel: str
    destination: str  # where the code went, masked
    code_expires_at: UtcTime | None
    resend_after_seconds: int
    expires_at: UtcTime


@dataclass(frozen=True, slots=True)
class ContactsView:
    phone: str | None
    phone_confirmed: bool
    email: str | None
    email_confirmed: bool
    pending: list[ContactFlowView]
