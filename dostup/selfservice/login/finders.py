"""The identifiers a sign-in form can carry: phone, login, email, SNILS (SPEC §2, §4.2).

Card numbers are resolved through the contract registry (``dostup.selfservice.contracts``),
which plugs in its own finder.
"""

from __future__ import annotations

from dostup.identity import repository as accounts
from dostup.identity.documents import parse_snils
from dostup.identity.email import parse_email
from dostup.identity.login import normalize_login
from dostup.identity.phone import parse_phone
from dostup.persistence.db import Database
from dostup.persistence.models import Account
from dostup.selfservice.login.flow import IdentifierFinder, LoginInput


class PhoneFinder:
    def __init__(self, db: Database) -> None:
        self._db = db

    def parse(self, inp: LoginInput) -> str:
        return parse_phone(inp.phone, inp.country).e164

    async def find(self, value: str) -> Account | None:
        return await accounts.detached_by(self._db, Account.phone, value)


class LoginFinder:
    def __init__(self, db: Database) -> None:
        self._db = db

    def parse(self, inp: LoginInput) -> str:
        return normalize_login(inp.login)

    async def find(self, value: str) -> Account | None:
        return await accounts.detached_by(self._db, Account.login, value)


class EmailFinder:
    def __init__(self, db: Database) -> None:
        self._db = db

    def parse(self, inp: LoginInput) -> str:
        return parse_email(inp.email)

    async def find(self, value: str) -> Account | None:
        return await accounts.detached_by(self._db, Account.email, value)


class SnilsFinder:
    """Sign-in by SNILS, once the account has one (gosuslugi)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def parse(self, inp: LoginInput) -> str:
        return parse_snils(inp.snils)

    async def find(self, value: str) -> Account | None:
        return await accounts.detached_by(self._db, Account.snils, value)


def default_finders(db: Database) -> dict[str, IdentifierFinder]:
    return {"phone": PhoneFinder(db), "login": LoginFinder(db), "email": EmailFinder(db), "snils": SnilsFinder(db)}
