"""«Настройка уведомлений»: channels per kind of message, and the marketing consent.

The marketing consent is given and withdrawn here as a decision of its own, each one a new
consent record (kind, document version, SHA-256 of the exact text shown, time, IP, user agent,
channel) — the same record registration writes (SECURITY.md: registration and consent).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from dostup.accounts import preferences as P
from dostup.accounts.consents import MARKETING, latest_consent, record_consent
from dostup.accounts.events import record_event
from dostup.core.clock import Clock
from dostup.core.context import Context
from dostup.core.errors import Conflict, ValidationFailed
from dostup.core.i18n import Catalog
from dostup.courier.outbox import Outbox
from dostup.identity import repository as accounts
from dostup.persistence.db import Database
from dostup.persistence.models import Account
from dostup.selfservice.notices import notice_destination, notice_destinations

FIELD = "preferences"

OptionalNotice = Callable[[AsyncSession, Account, str, Context, dt.datetime], Awaitable[None]]


def preferred_notifier(outbox: Outbox, sms_countries: Sequence[str], preference: str = P.SERVICE) -> OptionalNotice:
    """A notice of an optional kind (``preference``, one of :data:`dostup.accounts.preferences.KINDS`: ``service``
    for news about the customer's own requests) in the caller's unit of work: to the confirmed phone by SMS, or
    else the confirmed email — the first whose channel the customer left on for that kind in «Настройка
    уведомлений»; nothing when every one is off (a mandatory kind is never off)."""

    async def notify(s: AsyncSession, account: Account, kind: str, ctx: Context, now: dt.datetime) -> None:
        on = await P.channels_on(s, account.id, preference)
        for channel, to in notice_destinations(account, sms_countries):
            if channel in on:
                outbox.enqueue(s, kind=kind, channel=channel, to=to, now=now, locale=account.locale or ctx.locale,
                               account_id=account.id)
                return

    return notify


@dataclass(frozen=True, slots=True)
class NotificationItem:
    kind: str
    channel: str
    enabled: bool  # whether such messages go out now (marketing: only with the consent in force)
    selected: bool  # what the user ticked; kept while the marketing consent is withdrawn
    mandatory: bool
    available: bool  # the account has a confirmed address for this channel


@dataclass(frozen=True, slots=True)
class NotificationsView:
    marketing_consent: bool
    items: list[NotificationItem]

    def item(self, kind: str, channel: str) -> NotificationItem:
        return next(i for i in self.items if i.kind == kind and i.channel == channel)


class NotificationSettingsService:
    """``sms_countries``: where SMS go (``codes`` settings); ``consent_version``: the preset's consent text."""

    def __init__(self, db: Database, clock: Clock, catalog: Catalog, *, sms_countries: list[str],
                 consent_version: str) -> None:
        self.db = db
        self.clock = clock
        self.catalog = catalog
        self.sms_countries = sms_countries
        self.consent_version = consent_version

    async def view(self, account_id: str) -> NotificationsView:
        async with self.db.read() as s:
            prefs = await P.load_preferences(s, account_id)
            account = await accounts.by_id(s, account_id)
        assert account is not None
        sms = notice_destination(account, self.sms_countries)
        available = {"sms": sms is not None and sms[0] == "sms",
                     "email": bool(account.email and account.email_verified_at)}
        items = [
            NotificationItem(kind, channel, prefs.enabled(kind, channel), prefs.choice(kind, channel),
                             kind in P.MANDATORY, available[channel])
            for kind in P.KINDS
            for channel in P.CHANNELS
        ]
        return NotificationsView(marketing_consent=prefs.marketing_consent, items=items)

    @staticmethod
    def _choices(raw: Mapping[str, object] | None) -> dict[tuple[str, str], bool]:
        """``{"service": {"sms": true}}`` → ``{("service", "sms"): True}``; unknown names are refused."""
        choices: dict[tuple[str, str], bool] = {}
        for kind, channels in (raw or {}).items():
            if kind not in P.KINDS or not isinstance(channels, Mapping):
                raise ValidationFailed("notifications.unknown", field=FIELD)
            for channel, enabled in channels.items():
                if channel not in P.CHANNELS or not isinstance(enabled, bool):
                    raise ValidationFailed("notifications.unknown", field=FIELD)
                if kind in P.MANDATORY and not enabled:
                    raise ValidationFailed("notifications.security_mandatory", field=FIELD, code="mandatory")
                choices[(kind, channel)] = enabled
        return choices

    async def update(
        self,
        account_id: str,
        *,
        choices: Mapping[str, object] | None,
        marketing_consent: bool | None,
        ctx: Context,
    ) -> NotificationsView:
        """Store the ticked channels and, when it changed, the marketing decision."""
        parsed = self._choices(choices)
        for attempt in range(2):
            try:
                await self._write(account_id, parsed, marketing_consent, ctx)
                break
            except IntegrityError:  # two saves raced to create the same row: the second one retries
                if attempt:
                    raise Conflict("error.conflict") from None
        return await self.view(account_id)

    async def _write(self, account_id: str, parsed: dict[tuple[str, str], bool], marketing_consent: bool | None,
                     ctx: Context) -> None:
        now = self.clock.now()
        async with self.db.write() as s:
            await P.save_choices(s, account_id, parsed, now)
            if marketing_consent is None:
                return
            latest = await latest_consent(s, account_id=account_id, kind=MARKETING)
            if latest is not None and latest.granted == marketing_consent:
                return
            # The newest row is the decision in force, so rows of one account never share a time.
            at = now if latest is None or latest.created_at < now else latest.created_at + dt.timedelta(microseconds=1)
            record_consent(
                s, account_id=account_id, kind=MARKETING, granted=marketing_consent,
                version=self.consent_version, text=self.catalog.text("consent.marketing", ctx.locale),
                ctx=ctx, now=at,
            )
            if not marketing_consent:
                record_event(s, kind="consent_withdrawn", outcome="success", ctx=ctx, now=now,
                             account_id=account_id, consent=MARKETING)
            await s.flush()
