"""Sign-in (SPEC §4.2): «По номеру телефона» or «По логину», password, «Запомнить меня»."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from dostup.core.context import Context
from dostup.persistence.models import Account

METHODS = ("phone", "login", "email", "snils", "card")


@dataclass(frozen=True, slots=True)
class LoginInput:
    method: str = "phone"
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
    """A credential matched; ``session_state`` says what the new session may do."""

    session_state: str
    new_password_hash: str | None = None


class IdentifierFinder(Protocol):
    """One sign-in tab: how its identifier is read from the form and which account it names.

    ``parse`` raises a field error for malformed input (that is no oracle); ``find`` returns
    None for an unknown identifier, and the caller then pays for a dummy hash all the same.
    """

    def parse(self, inp: LoginInput) -> str: ...

    async def find(self, value: str) -> Account | None: ...


class CredentialCheck(Protocol):
    """One way a secret typed into the sign-in form can match an account.

    The password is one; the recovery issue plugs in the temporary password as another, which
    yields a session limited to changing the password.  Each check must cost the same whether
    or not the account exists (``account`` is ``None`` for unknown identifiers).
    """

    async def check(self, account: Account | None, secret: str, ctx: Context) -> Verdict | None: ...
