"""Where an account's notices go, and a notice written in the caller's unit of work.

A notice («Пароль изменён», «Добавлен ключ входа», a level's decision, a support answer …) goes to the
confirmed phone by SMS where the number is a mobile of an SMS country, else to the confirmed email;
an account with neither gets none.  Every flow that tells the customer something asks here, and the
operator console's use-cases get an :data:`AccountNotice` from the composition root.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence

from dostup.core.context import Context
from dostup.core.errors import ValidationFailed
from dostup.courier.outbox import Outbox
from dostup.persistence.db import Adds
from dostup.persistence.models import Account

AccountNotice = Callable[[Adds, Account, str, Context, dt.datetime], None]


def notice_destination(account: Account, sms_countries: Sequence[str]) -> tuple[str, str] | None:
    """Where account notices go: the confirmed phone by SMS, else the confirmed email."""
    found = notice_destinations(account, sms_countries)
    return found[0] if found else None


def notice_destinations(account: Account, sms_countries: Sequence[str]) -> list[tuple[str, str]]:
    """Every (channel, address) a notice may go to, in the order tried: the confirmed phone by SMS (a mobile
    of an SMS country), the confirmed email."""
    from dostup.identity.phone import parse_phone

    found: list[tuple[str, str]] = []
    if account.phone and account.phone_verified_at:
        try:
            if parse_phone(account.phone).sms_capable(sms_countries):
                found.append(("sms", account.phone))
        except ValidationFailed:
            pass
    if account.email and account.email_verified_at:
        found.append(("email", account.email))
    return found


def account_notifier(outbox: Outbox, sms_countries: Sequence[str]) -> AccountNotice:
    """A notice of ``kind`` to the account's confirmed phone (or email), written in the caller's unit
    of work — for use-cases outside these flows (the operator console's)."""

    def notify(batch: Adds, account: Account, kind: str, ctx: Context, now: dt.datetime) -> None:
        dest = notice_destination(account, sms_countries)
        if dest:
            outbox.enqueue(batch, kind=kind, channel=dest[0], to=dest[1], now=now, locale=account.locale or ctx.locale,
                           account_id=account.id)

    return notify
