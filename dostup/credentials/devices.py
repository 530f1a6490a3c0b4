"""Device bindings for the quick passcode («Код для входа», the Sberbank seed).

The device's credential is ``<device id>.<secret>``: 256 random bits, of which the server keeps
only the SHA-256 (like session tokens).  The passcode is five digits — far too few to stand
alone, which is why it signs in only together with the device secret, why it is hashed like a
password (argon2id), and why the fifth wrong one revokes the binding (NIST 800-63B §5.1.1.2 on
short secrets: throttling is what makes them acceptable).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dostup.core.crypto import random_id, random_token, sha256_hex
from dostup.persistence.models import Device

PASSCODE_DIGITS = 5
MAX_FAILURES = 5


def normalize_passcode(value: str | None) -> str | None:
    text = (value or "").strip()
    return text if len(text) == PASSCODE_DIGITS and text.isascii() and text.isdigit() else None


def new_credential() -> tuple[str, str]:
    """A new device id and its secret (shown once, kept by the device)."""
    return random_id(), random_token(32)


def split_credential(value: str | None) -> tuple[str, str] | None:
    device_id, _, secret = (value or "").partition(".")
    if len(device_id) != 32 or not secret or len(secret) > 128:
        return None
    return device_id, secret


def secret_matches(device: Device, secret: str) -> bool:
    import hmac

    return hmac.compare_digest(device.secret_hash, sha256_hex(secret))


async def live(db: AsyncSession, device_id: str) -> Device | None:
    return (await db.execute(
        select(Device).where(Device.id == device_id, Device.revoked_at.is_(None))
    )).scalar_one_or_none()


async def of_account(db: AsyncSession, account_id: str) -> list[Device]:
    return list((await db.execute(
        select(Device).where(Device.account_id == account_id, Device.revoked_at.is_(None))
        .order_by(Device.created_at.desc())
    )).scalars())


async def count_try(db: AsyncSession, device_id: str) -> int | None:
    """Count one passcode try before it is checked (parallel tries are all counted)."""
    return (await db.execute(
        update(Device).where(Device.id == device_id, Device.revoked_at.is_(None))
        .values(failures=Device.failures + 1).returning(Device.failures)
    )).scalar_one_or_none()


async def revoke(db: AsyncSession, account_id: str, now: dt.datetime, device_id: str | None = None) -> int:
    """End the account's device bindings (one, or all: password change, «выйти на всех устройствах»)."""
    stmt = update(Device).where(Device.account_id == account_id, Device.revoked_at.is_(None))
    if device_id is not None:
        stmt = stmt.where(Device.id == device_id)
    result = await db.execute(stmt.values(revoked_at=now))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
