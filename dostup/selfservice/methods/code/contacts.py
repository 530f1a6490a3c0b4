"""The code method for a contact change: the code goes to the new phone or email (a landline is
proven through the account's confirmed email); one live code per account and contact, so a new
request supersedes the one before."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from dostup.persistence.models import Flow, OneTimeCode
from dostup.selfservice.methods.code.method import CodeStep, Delivery
from dostup.selfservice.sending import Destination

MESSAGE_KIND = "contact_code"


def purpose(contact: str) -> str:
    return f"contact_{contact}"


class ContactCode(CodeStep):
    """Implements :class:`dostup.selfservice.settings.contact_flow.ContactProof`."""

    def delivery(self, flow: Flow) -> Delivery:
        data = flow.data
        return Delivery(Destination(str(data["channel"]), str(data["to"])), purpose(str(data["contact"])),
                        MESSAGE_KIND, account_id=flow.account_id)

    async def supersede(self, db: AsyncSession, account_id: str, contact: str, now: dt.datetime) -> None:
        """An earlier change of the same contact still waiting for its code dies."""
        await db.execute(
            update(OneTimeCode)
            .where(OneTimeCode.account_id == account_id, OneTimeCode.purpose == purpose(contact))
            .where(OneTimeCode.used_at.is_(None), OneTimeCode.invalidated_at.is_(None))
            .values(invalidated_at=now)
        )
