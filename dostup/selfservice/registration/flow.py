"""Registration as a state machine (SPEC §4.1).

``code_sent`` → (right code) → ``completed``.  The account is created only on the transition to
``completed``, so an unconfirmed registration never holds a phone number hostage, and the unique
constraint on ``accounts.phone`` decides the race between parallel registrations of one phone.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

KIND = "registration"
CODE_SENT = "code_sent"
COMPLETED = "completed"
FLOW_TTL_SECONDS = 3600
CODE_PURPOSE = "registration"


@dataclass(frozen=True, slots=True)
class RegistrationInput:
    phone: str | None = None
    country: str = "RU"
    email: str | None = None
    password: str | None = None
    password_repeat: str | None = None
    segment: str | None = None
    consent_personal_data: bool = False
    consent_marketing: bool = False
    captcha: str | None = None


@dataclass(frozen=True, slots=True)
class RegistrationView:
    """What either surface shows of a registration in progress."""

    flow_id: str
    state: str
    channel: str
    destination: str  # masked
    code_expires_at: dt.datetime | None
    resend_after_seconds: int
    expires_at: dt.datetime
