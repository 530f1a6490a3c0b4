"""Company profiles of an account («Список компаний», SPEC §4.6).

A profile is a legal entity (ЮЛ), a sole trader (ИП) or a private person (ФЛ) that the account acts
for.  It is usable once a code sent to its email is confirmed (``confirmed_at``).  One account may
hold several profiles, and may add the same INN again (the seed's way out when the code went to a
mistyped address), but may *confirm* an INN only once: the partial unique index below decides, so
two parallel confirmations cannot both win.  Unconfirmed profiles (and private persons without an
INN, whose ``inn`` is NULL) are outside that index.

Names and addresses are stored exactly as typed (at most 300 characters) and escaped on output.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from dostup.persistence.models import Base

CONFIRMED = "confirmed_at IS NOT NULL"


class Company(Base):
    __tablename__ = "companies"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # legal | entrepreneur | individual
    name: Mapped[str] = mapped_column(String(300))
    inn: Mapped[str | None] = mapped_column(String(12), index=True)  # operators search by it
    kpp: Mapped[str | None] = mapped_column(String(9))
    ogrn: Mapped[str | None] = mapped_column(String(15))  # OGRN (ЮЛ) or OGRNIP (ИП)
    address: Mapped[str | None] = mapped_column(String(300))
    email: Mapped[str] = mapped_column(String(254))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    confirmed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)

    __table_args__ = (
        Index(
            "uq_companies_account_inn_confirmed", "account_id", "inn", unique=True,
            sqlite_where=text(CONFIRMED), postgresql_where=text(CONFIRMED),
        ),
    )
