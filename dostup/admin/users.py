"""Creating accounts from the command line (no default administrator exists: SECURITY.md)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.exc import IntegrityError

from dostup.core.catalog_errors import describe
from dostup.core.errors import DostupError
from dostup.credentials.password import PasswordHasher, PasswordPolicy
from dostup.identity import repository as accounts
from dostup.identity.documents import parse_snils
from dostup.identity.email import parse_email
from dostup.identity.login import normalize_login
from dostup.identity.phone import parse_phone
from dostup.persistence.db import Database
from dostup.presets import get_preset
from dostup.settings import Settings

ROLES = ("customer", "operator", "admin")


async def create_user(
    settings: Settings,
    *,
    phone: str | None,
    password: str,
    login: str | None,
    email: str | None,
    country: str,
    role: str,
    now: dt.datetime,
    snils: str | None = None,
) -> str:
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if not (phone or login or email):
        raise ValueError("give at least one of --phone, --login, --email")
    try:
        e164 = parse_phone(phone, country).e164 if phone else None
        mail = parse_email(email) if email else None
        name = normalize_login(login) if login else None
        snils_value = parse_snils(snils) if snils else None
        policy = PasswordPolicy(settings.passwords, get_preset(settings.preset).operator_names)
        policy.validate(password, personal=(e164 or "", name or "", mail or ""))
    except DostupError as exc:
        raise ValueError(describe(exc)) from None
    hasher = PasswordHasher(settings.passwords)
    try:
        password_hash = await hasher.hash(password)
    finally:
        hasher.close()
    from dostup.persistence.migrate import migrate  # Alembic only where it runs

    await migrate(settings.database_url)
    db = Database(settings.database_url)
    try:
        async with db.write() as s:
            account = accounts.new_account(
                now, phone=e164, phone_verified_at=now if e164 else None, email=mail,
                email_verified_at=now if mail else None, login=name, password_hash=password_hash,
                password_changed_at=now, role=role, snils=snils_value,
            )
            s.add(account)
        return account.id
    except IntegrityError:
        raise ValueError("phone, email, login or SNILS is already used by another account") from None
    finally:
        await db.dispose()
