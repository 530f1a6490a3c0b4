"""Registration as a state machine (SPEC §4.1, §2).

``code_sent`` → (right code) → ``completed`` where the password came with the form (kit), or
``code_sent`` → ``password_needed`` → ``completed`` where it is asked after the code (rostelecom,
gosuslugi, sber).  The account is created only on the transition to ``completed``, so an
unconfirmed registration never holds a phone number hostage, and the unique constraints on the
identifiers decide races between parallel registrations of one phone.  A password before the
code is a skipped step and is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from dostup.core.clock import UtcTime
from dostup.selfservice.flows import CodeProof

KIND = "registration"
CODE_SENT = "code_sent"
PASSWORD_NEEDED = "password_needed"  # noqa: S105 - a state name
COMPLETED = "completed"
FLOW_TTL_SECONDS = 3600


class ContactProof(CodeProof, Protocol):
    """How registration proves the phone or email the account will hold: the code method implements
    it (``dostup.selfservice.methods.code.registration``), wired in by ``dostup.app``.

    Enumeration-safe registration of a taken identifier (and sber's unknown card) is a flow whose
    data says ``decoy``: the method gives it the same code step, undeliverable.
    """


@dataclass(frozen=True, slots=True)
class External:
    """A registration begun at an identity provider (social sign-in): the account gets no password
    and is linked to the provider account (``link``, stored by the linker ``dostup.services`` wires
    in) when it is created.  ``confirmed``: the phone (E.164) and email the provider proved and is
    trusted for — the form's contact among them needs no code."""

    link: dict[str, object]
    confirmed: tuple[str, ...] = ()


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
    family_name: str | None = None
    given_name: str | None = None
    middle_name: str | None = None
    region: str | None = None
    contact: str | None = None  # rostelecom: «Email или номер мобильного»
    card: str | None = None  # sber


@dataclass(frozen=True, slots=True)
class RegistrationView:
    """What either surface shows of a registration in progress."""

    flow_id: str
    state: str
    channel: str
    destination: str  # masked
    code_expires_at: UtcTime | None
    resend_after_seconds: int
    expires_at: UtcTime


@dataclass(frozen=True, slots=True)
class Plan:
    """What a valid registration form decided: the account-to-be and where the code goes."""

    channel: str
    to: str
    phone: str | None
    email: str | None
    password: str | None  # None: asked after the code
    profile: dict[str, str | None]
    segment: str | None = None
    card: str | None = None  # sber: the card proven by the code to its owner's phone
    confirm_email_by_link: bool = False
