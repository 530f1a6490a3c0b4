"""Where an account's notices go, and a notice written in the caller's unit of work.

A notice («Пароль изменён», «Добавлен ключ входа», a level's decision, a support answer …) goes to the
confirmed phone by SMS where the number is a mobile of an SMS country, else to the confirmed email;
an account with neither gets none.  Every flow that tells the customer something asks here, and the
operator console's use-cases get an :data:`AccountNotice` from the composition root.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import tzinfo
from typing import Protocol

from dostup.accounts import preferences as P
from dostup.core.context import Context
from dostup.core.errors import ValidationFailed
from dostup.courier.outbox import Outbox
from dostup.persistence.db import Adds, Raw
from dostup.persistence.models import Account

AccountNotice = Callable[[Adds, Account, str, Context, dt.datetime], None]
SignInWanted = tuple[str, str, str | None]  # (channel, address, locale) of a sign-in notice


def notice_destination(account: Account, sms_countries: Sequence[str]) -> tuple[str, str] | None:
    """Where account notices go: the confirmed phone by SMS, else the confirmed email."""
    found = notice_destinations(account, sms_countries)
    return found[0] if found else None


def notice_destinations(account: Contacts, sms_countries: Sequence[str]) -> list[tuple[str, str]]:
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


class Contacts(Protocol):
    """What :func:`notice_destinations` reads of an account (an :class:`Account`, or the columns alone)."""

    @property
    def phone(self) -> str | None: ...
    @property
    def phone_verified_at(self) -> object: ...
    @property
    def email(self) -> str | None: ...
    @property
    def email_verified_at(self) -> object: ...


@dataclass(frozen=True, slots=True)
class _Recipient:
    phone: str | None
    phone_verified_at: object
    email: str | None
    email_verified_at: object
    locale: str | None


# The account's «Вход в личный кабинет» choices (``signin``, by the primary key's prefix); its contacts only
# when a channel is on (most accounts: no row, and the sign-in reads the account no second time).
_SIGNIN_CHOICES = "SELECT channel, enabled FROM notification_preferences WHERE account_id = :id AND kind = :kind"
_CONTACTS = "SELECT phone, phone_verified_at, email, email_verified_at, locale FROM accounts WHERE id = :id"


class SignInNotice:
    """«Вход в личный кабинет»: every completed sign-in told to the customer, if they asked for it in
    «Настройка уведомлений» (kind ``signin``, off by default: an SMS at every sign-in costs the company and
    annoys most people).  It goes where the other optional notices go — the confirmed phone by SMS, else the
    confirmed email, the first whose channel is ticked — in the sign-in's own unit of work, with the time,
    the address and (by email) the browser, and what to do if it was not them."""

    def __init__(self, outbox: Outbox, sms_countries: Sequence[str], zone: tzinfo) -> None:
        self._outbox = outbox
        self._sms_countries = sms_countries
        self._zone = zone

    def wanted(self, raw: Raw, account_id: str) -> SignInWanted | None:
        """(channel, address, locale) of the notice this account wants at a sign-in, or None."""
        chosen = {channel: bool(on) for channel, on in raw.all(_SIGNIN_CHOICES, {"id": account_id, "kind": P.SIGNIN})}
        on = {channel for channel in P.CHANNELS if chosen.get(channel, P.DEFAULTS[P.SIGNIN])}
        row = raw.one(_CONTACTS, {"id": account_id}) if on else None
        if row is None:
            return None
        recipient = _Recipient(*row)
        for channel, to in notice_destinations(recipient, self._sms_countries):
            if channel in on:
                return channel, to, recipient.locale
        return None

    def write(self, batch: Adds, account_id: str, wanted: SignInWanted, ctx: Context,
              now: dt.datetime) -> None:
        channel, to, locale = wanted
        when = now.replace(tzinfo=dt.UTC).astimezone(self._zone)
        self._outbox.enqueue(batch, kind="signin", channel=channel, to=to, now=now, locale=locale or ctx.locale,
                             account_id=account_id,
                             params={"when": f"{when:%d.%m.%Y %H:%M} ({when.tzname()})", "ip": ctx.ip,
                                     "device": " ".join(ctx.user_agent.split())[:160] or "—"})
