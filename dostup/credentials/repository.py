"""Rows of the ``credentials`` table: recovery codes now, TOTP, passkeys and social links next.

A credential's ``config`` is read, changed and written back under its ``version``
(``UPDATE … WHERE version = :seen``): of two requests spending from one credential at once,
exactly one writes, and the other re-reads and finds what is left.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Select, bindparam, delete, exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dostup.core.crypto import random_id
from dostup.persistence.db import Database, Raw
from dostup.persistence.models import Credential


async def types_of(db: Database, account_id: str, types: Iterable[str]) -> set[str]:
    """Which of ``types`` the account has: one indexed read, an EXISTS per type (sign-in asks this
    after every right password, so it stays on the light read path)."""
    kinds = tuple(sorted(set(types)))
    if not kinds:
        return set()
    if kinds not in _TYPES_OF:  # built once per set of types: SQLAlchemy's statement cache then skips the compiling
        _TYPES_OF[kinds] = select(*(exists().where(Credential.account_id == bindparam("account_id"),
                                                   Credential.type == kind) for kind in kinds))
    row = await db.first(_TYPES_OF[kinds], {"account_id": account_id})
    return {kind for kind, found in zip(kinds, row or (), strict=False) if found}


_TYPES_OF: dict[tuple[str, ...], Select[*tuple[Any, ...]]] = {}


async def of_type(db: AsyncSession, account_id: str, kind: str) -> Credential | None:
    return (await db.execute(
        select(Credential).where(Credential.account_id == account_id, Credential.type == kind).limit(1)
    )).scalar_one_or_none()


async def replace(db: AsyncSession, account_id: str, kind: str, config: dict[str, object], now: dt.datetime,
                  name: str | None = None) -> Credential:
    """Drop the account's credentials of ``kind`` and add one with ``config`` (enrol, regenerate)."""
    await db.execute(delete(Credential).where(Credential.account_id == account_id, Credential.type == kind))
    row = Credential(id=random_id(), account_id=account_id, type=kind, name=name, config=config, version=1,
                     created_at=now, updated_at=now)
    db.add(row)
    return row


async def remove(db: AsyncSession, account_id: str, kind: str) -> bool:
    result = await db.execute(delete(Credential).where(Credential.account_id == account_id, Credential.type == kind))
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def compare_and_set(db: AsyncSession, row: Credential, config: dict[str, object], now: dt.datetime) -> bool:
    """Write ``config`` if nobody changed the row since it was read; False when someone did."""
    result = await db.execute(
        update(Credential)
        .where(Credential.id == row.id, Credential.version == row.version)
        .values(config=config, version=row.version + 1, updated_at=now, last_used_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


async def erase(db: AsyncSession, account_id: str) -> None:
    """Account deletion: every credential goes (identifiers cascade)."""
    await db.execute(delete(Credential).where(Credential.account_id == account_id))


# -- the same in a plain SQL unit of work (a second sign-in step: dostup.persistence.db.Raw) ----

_OF_TYPE = "SELECT id, config, version FROM credentials WHERE account_id = :account_id AND type = :type LIMIT 1"
_SET = ("UPDATE credentials SET config = :config, version = :next, updated_at = :now, last_used_at = :now "
        "WHERE id = :id AND version = :seen")


def of_type_in(raw: Raw, account_id: str, kind: str) -> tuple[str, dict[str, object], int] | None:
    """The account's credential of ``kind``: (id, config, version), or None."""
    row = raw.one(_OF_TYPE, {"account_id": account_id, "type": kind})
    return None if row is None else (row[0], raw.read_json(row[1]), int(row[2]))


def compare_and_set_in(raw: Raw, credential_id: str, version: int, config: dict[str, object],
                       now: dt.datetime) -> bool:
    """:func:`compare_and_set` by plain SQL: ``config`` written if the row is still at ``version``."""
    return raw.run(_SET, {"config": raw.json(config), "next": version + 1, "now": raw.time(now),
                          "id": credential_id, "seen": version}) == 1
