"""Linked service contracts (SPEC §4.7): the company's registry and the cabinet's links to it.

Numbers are found by a keyed hash (``number_hash`` = HMAC of kind and normalised number, see
``dostup.accounts.contracts.number_key``), so a card number is never stored whole: a card row
keeps only that hash and its masked form (``2202 **** **** 1234``); a contract row also keeps
the plain number, which is not secret and which operators search by.  The customer's secret
(PIN, amount of the last bill) is kept only as a keyed hash bound to the number.

One contract links to one cabinet: ``contract_links.registry_key`` (the registry's
``number_hash``; the same value whichever registry answered, table or HTTP) is unique, so of
two accounts linking one contract at the same moment the database lets exactly one win.
Unlinking deletes the link (the security events keep the history), which frees the contract.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from dostup.persistence.models import Base


class RegistryContract(Base):
    """One contract or card of the company, as imported from its billing system."""

    __tablename__ = "contract_registry"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # "contract" | "card"
    number_hash: Mapped[str] = mapped_column(String(64), unique=True)
    number: Mapped[str | None] = mapped_column(String(64))  # contracts only; never a card number
    display: Mapped[str] = mapped_column(String(64))  # the number as shown (cards masked)
    owner_phone: Mapped[str | None] = mapped_column(String(20))  # E.164
    secret_hash: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime)


class ContractLink(Base):
    """A contract linked to a cabinet after its ownership was proven."""

    __tablename__ = "contract_links"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    registry_key: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    display: Mapped[str] = mapped_column(String(64))
    method: Mapped[str] = mapped_column(String(8))  # how ownership was proven: "sms" | "secret"
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
