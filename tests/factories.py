"""One set of factories for the flow tests: an account, and a surface signed in to one.

Plain functions taking the ``services`` fixture, so a test file imports them instead of defining its own
``_user`` / ``_account`` / ``signed_in``.  The account is written straight through the service's own
database and hasher: what ``dostup admin create-user`` stores (confirmed phone and email, a checked
password), without running the migrations and starting a hasher for every account (the command itself
is tested in ``tests/cli``).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from dostup.credentials.password import PasswordPolicy
from dostup.identity import repository as accounts
from dostup.identity.email import parse_email
from dostup.identity.login import normalize_login
from dostup.identity.phone import parse_phone
from tests.flows.helpers import PASSWORD, phone_e164
from tests.support import Surface


class Made(NamedTuple):
    phone: str | None
    id: str


async def make_account(services: Any, who: int | str | None = None, email: str | None = None, *,
                       login: str | None = None, password: str = PASSWORD, verify_phone: bool = True,
                       country: str = "RU", segment: str | None = None) -> Made:
    """A customer account.  ``who`` is a number (``+7912…`` made from it), a phone as typed, or None;
    ``verify_phone=False`` leaves the phone unconfirmed."""
    phone = parse_phone(phone_e164(who) if isinstance(who, int) else who, country).e164 if who is not None else None
    mail = parse_email(email) if email else None
    name = normalize_login(login) if login else None
    PasswordPolicy(services.settings.passwords, services.preset.operator_names).validate(
        password, personal=(phone or "", name or "", mail or ""))
    now = services.clock.now()
    password_hash = await services.hasher.hash(password)
    async with services.db.write() as s:
        account = accounts.new_account(
            now, phone=phone, phone_verified_at=now if phone and verify_phone else None, email=mail,
            email_verified_at=now if mail else None, login=name, password_hash=password_hash,
            password_changed_at=now, role="customer", segment=segment,
        )
        s.add(account)
    return Made(phone, account.id)


async def make_user(services: Any, n: int, *, login: str | None = None, email: str | None = None) -> str:
    """An account with a confirmed phone (and email, if given); returns the phone."""
    phone = (await make_account(services, n, login=login, email=email)).phone
    assert phone is not None
    return phone


async def sign_in(surface: Surface, phone: str, password: str = PASSWORD) -> Surface:
    r = await surface.login(method="phone", phone=phone, password=password)
    assert r.ok, (r.status, r.message)
    return surface


async def signed_in(surface: Surface, services: Any, n: int, **kw: Any) -> Surface:
    """A new account (see :func:`make_user`) signed in on ``surface``."""
    return await sign_in(surface, await make_user(services, n, **kw))
