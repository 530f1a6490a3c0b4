"""Passkey rows: one ``credentials`` row each (``type = passkey``), its credential id in
``credential_identifiers`` (unique: one passkey opens one cabinet, and a sign-in finds it by id
with one indexed join).  The sign-in's reads and writes are plain SQL in the unit of
work (``login.ceremony.Work``); the settings pages' use an ORM session."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Connection, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dostup.core.crypto import random_id
from dostup.credentials.passkeys import TYPE, NewPasskey
from dostup.identity.repository import AccountSummary
from dostup.persistence.db import Adds, Raw
from dostup.persistence.models import Credential, CredentialIdentifier


@dataclass(frozen=True, slots=True)
class PasskeyRow:
    id: str
    account_id: str
    config: dict[str, object]
    version: int
    account: AccountSummary


_BY_ID = ("SELECT c.id, c.account_id, c.config, c.version, a.phone, a.email, a.login, a.segment, a.state, a.created_at "
          "FROM credential_identifiers i JOIN credentials c ON c.id = i.credential_id JOIN accounts a ON a.id = c.account_id "
          "WHERE i.type = :type AND i.identifier = :identifier")


def by_credential_id(raw: Raw, credential_id: str) -> PasskeyRow | None:
    """The passkey with this credential id, and its account (what the sign-in answers about it):
    one statement, each table read by its primary key or unique index."""
    row = raw.one(_BY_ID, {"type": TYPE, "identifier": credential_id})
    if row is None:
        return None
    account = AccountSummary(row[1], row[4], row[5], row[6], row[7], row[8], raw.read_time(row[9]))
    return PasskeyRow(row[0], row[1], raw.read_json(row[2]), int(row[3]), account)


async def of_account(s: AsyncSession, account_id: str) -> list[Credential]:
    return list((await s.execute(
        select(Credential).where(Credential.account_id == account_id, Credential.type == TYPE)
        .order_by(Credential.created_at, Credential.id)
    )).scalars())


async def ids_of(s: AsyncSession, account_id: str) -> list[str]:
    return list((await s.execute(
        select(CredentialIdentifier.identifier)
        .join(Credential, CredentialIdentifier.credential_id == Credential.id)
        .where(Credential.account_id == account_id, CredentialIdentifier.type == TYPE)
    )).scalars())


def taken(conn: Connection, credential_id: str) -> bool:
    return conn.execute(select(CredentialIdentifier.id).where(
        CredentialIdentifier.type == TYPE, CredentialIdentifier.identifier == credential_id)).first() is not None


def add(batch: Adds, account_id: str, new: NewPasskey, name: str, now: dt.datetime) -> Credential:
    row = Credential(id=random_id(), account_id=account_id, type=TYPE, name=name, config=new.config, version=1,
                     created_at=now, updated_at=now)
    batch.add(row)  # before its identifier: the batch inserts in order
    batch.add(CredentialIdentifier(id=random_id(), credential_id=row.id, type=TYPE, identifier=new.credential_id))
    return row


_USED = ("UPDATE credentials SET config = :config, version = :next, last_used_at = :at "
         "WHERE id = :id AND version = :seen")


def used(raw: Raw, row: PasskeyRow, config: dict[str, object], now: dt.datetime) -> bool:
    """Store the new sign count under the row's version: of two parallel sign-ins with one
    counter value, one writes and the other is refused."""
    return raw.run(_USED, {"config": raw.json(config), "next": row.version + 1, "at": raw.time(now), "id": row.id,
                           "seen": row.version}) == 1


async def rename(s: AsyncSession, account_id: str, passkey_id: str, name: str, now: dt.datetime) -> bool:
    result = await s.execute(
        update(Credential).where(Credential.id == passkey_id, Credential.account_id == account_id,
                                 Credential.type == TYPE)
        .values(name=name, updated_at=now).execution_options(synchronize_session=False))
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


async def remove(s: AsyncSession, account_id: str, passkey_id: str) -> bool:
    owned = (await s.execute(select(Credential.id).where(
        Credential.id == passkey_id, Credential.account_id == account_id, Credential.type == TYPE))).first()
    if owned is None:
        return False
    # identifiers first: SQLite enforces the foreign key, but cascades only with PRAGMA foreign_keys
    await s.execute(delete(CredentialIdentifier).where(CredentialIdentifier.credential_id == passkey_id))
    await s.execute(delete(Credential).where(Credential.id == passkey_id))
    return True


async def erase(s: AsyncSession, account_id: str, now: dt.datetime) -> None:
    """Account deletion (an ``accounts.deletion.Eraser``): the account's passkeys go, identifiers first."""
    ids = select(Credential.id).where(Credential.account_id == account_id, Credential.type == TYPE)
    await s.execute(delete(CredentialIdentifier).where(CredentialIdentifier.credential_id.in_(ids)))
    await s.execute(delete(Credential).where(Credential.account_id == account_id, Credential.type == TYPE))
