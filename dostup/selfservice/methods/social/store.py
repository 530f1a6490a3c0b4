"""Social links: one ``credentials`` row per linked provider, its ``provider:subject`` unique in
``credential_identifiers``."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from dostup.core.crypto import random_id
from dostup.federation.providers import Identity
from dostup.persistence.models import Account, Credential, CredentialIdentifier

TYPE = "social"


async def account_of(s: AsyncSession, key: str) -> Account | None:
    """The account a provider account (``provider:subject``) is linked to."""
    return (
        await s.execute(
            select(Account)
            .join(Credential, Credential.account_id == Account.id)
            .join(CredentialIdentifier, CredentialIdentifier.credential_id == Credential.id)
            .where(CredentialIdentifier.type == TYPE, CredentialIdentifier.identifier == key)
        )
    ).scalar_one_or_none()


async def of_account(s: AsyncSession, account_id: str) -> list[Credential]:
    return list(
        (
            await s.execute(
                select(Credential)
                .where(Credential.account_id == account_id, Credential.type == TYPE)
                .order_by(Credential.created_at, Credential.id)
            )
        ).scalars()
    )


def add(s: AsyncSession, account_id: str, identity: Identity, now: dt.datetime) -> Credential:
    row = Credential(
        id=random_id(),
        account_id=account_id,
        type=TYPE,
        name=identity.provider,
        config={"provider": identity.provider, "subject": identity.subject},
        version=1,
        created_at=now,
        updated_at=now,
    )
    s.add(row)
    s.add(CredentialIdentifier(id=random_id(), credential_id=row.id, type=TYPE, identifier=identity.key))
    return row


async def remove(s: AsyncSession, row: Credential) -> None:
    # identifiers first: SQLite enforces the foreign key, but cascades only with PRAGMA foreign_keys
    await s.execute(delete(CredentialIdentifier).where(CredentialIdentifier.credential_id == row.id))
    await s.execute(delete(Credential).where(Credential.id == row.id))


async def other_ways_in(s: AsyncSession, account: Account, but: str) -> int:
    """How many ways into the account remain without the credential ``but``: the password, passkeys
    (a usernameless sign-in) and the other social links."""
    count = (
        await s.execute(
            select(func.count())
            .select_from(Credential)
            .where(Credential.account_id == account.id, Credential.type.in_((TYPE, "passkey")), Credential.id != but)
        )
    ).scalar_one()
    return int(count) + (1 if account.password_hash else 0)


async def erase(s: AsyncSession, account_id: str, now: dt.datetime) -> None:
    """Account deletion (an ``Eraser``): the links go, identifiers first (the provider account is free again)."""
    ids = select(Credential.id).where(Credential.account_id == account_id, Credential.type == TYPE)
    await s.execute(delete(CredentialIdentifier).where(CredentialIdentifier.credential_id.in_(ids)))
    await s.execute(delete(Credential).where(Credential.account_id == account_id, Credential.type == TYPE))
