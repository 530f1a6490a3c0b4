"""The login flow (SPEC §4.2, §4.9): first factor → (second factor) → done.

The flow declares what its methods implement and imports none of them (Kratos: a flow package
defines the protocol, each method has one file per flow it serves): first factors
(:class:`FirstFactor`: password, temporary password) check a secret typed with an identifier;
second factors (:class:`SecondFactor`: recovery code now, TOTP and passkeys next) finish a flow
the first factor left in ``second_factor``.  ``dostup.services`` wires the methods in.

A sign-in that completes in one step never persists its flow: there is nothing to resume, and
one write less keeps the sign-in benchmark at the cost of argon2.  A sign-in that needs a second
factor persists it (``flows`` row, state ``second_factor``, 10 minutes) and issues no session.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, cast

from dostup.core.context import Context
from dostup.core.errors import ValidationFailed
from dostup.identity.repository import AccountSummary
from dostup.persistence.db import Raw
from dostup.persistence.models import Account
from dostup.session.service import IssuedSession
from dostup.session.strength import Strength

KIND = "login"
#: The identifier kinds a sign-in form can carry (the JSON and form field is still ``method``).
IDENTIFIERS = ("phone", "login", "email", "snils", "card")


class State(StrEnum):
    SECOND_FACTOR = "second_factor"
    DONE = "done"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class LoginInput:
    method: str = "phone"  # the identifier kind: one of IDENTIFIERS
    phone: str | None = None
    country: str = "RU"
    login: str | None = None
    email: str | None = None
    snils: str | None = None
    card: str | None = None
    password: str | None = None
    remember: bool = False
    captcha: str | None = None


@dataclass(frozen=True, slots=True)
class Verdict:
    """A first factor matched; ``strength`` says how strong the new session is and what it may do."""

    strength: Strength
    new_password_hash: str | None = None


@dataclass(frozen=True, slots=True)
class LoginData:
    """The typed data of a persisted login flow (stored as the flow's JSON)."""

    identifier: str
    remember: bool
    aal: int
    amr: tuple[str, ...]
    restrictions: tuple[str, ...]

    def to_json(self) -> dict[str, object]:
        return {"identifier": self.identifier, "remember": self.remember, "aal": self.aal,
                "amr": list(self.amr), "restrictions": list(self.restrictions)}

    @classmethod
    def from_json(cls, data: dict[str, object]) -> LoginData:
        amr = cast(list[str], data["amr"])
        restrictions = cast(list[str], data["restrictions"])
        return cls(str(data["identifier"]), bool(data["remember"]), int(str(data["aal"])), tuple(amr),
                   tuple(restrictions))

    @property
    def strength(self) -> Strength:
        return Strength(self.aal, self.amr, frozenset(self.restrictions))


@dataclass(frozen=True, slots=True)
class LoginOutcome:
    """Either a session (done) or a flow waiting for a second factor (``flow_id``, ``methods``)."""

    account: Account | AccountSummary  # an ORM object, or a summary where the sign-in read no more
    session: IssuedSession | None = None
    flow_id: str | None = None
    methods: tuple[str, ...] = ()
    expires_at: dt.datetime | None = None


class IdentifierFinder(Protocol):
    """One sign-in tab: how its identifier is read from the form and which account it names.

    ``parse`` raises a field error for malformed input (that is no oracle); ``find`` returns
    None for an unknown identifier, and the caller then pays for a dummy hash all the same.
    """

    def parse(self, inp: LoginInput) -> str: ...

    async def find(self, value: str) -> Account | None: ...


class FirstFactor(Protocol):
    """One way a secret typed into the sign-in form can match an account.

    Each check must cost the same whether or not the account exists (``account`` is ``None``
    for unknown identifiers), so neither the answer nor its time tells them apart.
    """

    async def check(self, account: Account | None, secret: str, ctx: Context) -> Verdict | None: ...


class NotEnrolled(ValidationFailed):
    """The account has no credential of the second factor it tried."""

    def __init__(self) -> None:
        super().__init__("login.second_factor_method_invalid", field="method")


@dataclass(frozen=True, slots=True)
class SecondProof:
    """A right answer at the second step: the strength it adds, and the account when the method
    read it with its own row (one statement fewer in the step's unit of work)."""

    strength: Strength
    account: AccountSummary | None = None


class SecondFactor(Protocol):
    """A second step after the first factor, for accounts that enrolled it.

    ``credential_type`` names its rows in ``credentials`` (the flow asks once which of its
    methods an account has).  ``spend`` runs inside the step's unit of work (plain SQL,
    :class:`~dostup.persistence.db.Raw`): it spends what it must (a single-use code) and returns
    the strength it adds (:class:`SecondProof`), or ``None`` for a wrong answer; it raises
    :class:`NotEnrolled` when the account has no such credential.
    """

    id: str
    credential_type: str

    def spend(self, raw: Raw, account_id: str, answer: str, now: dt.datetime) -> SecondProof | None: ...
