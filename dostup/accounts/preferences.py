"""Notification preferences («Настройка уведомлений»): which kinds of message go on which channel.

Kinds: ``security`` (password and contact changes, recovery, new keys and factors) is mandatory — a
user must always hear about their account being touched; ``signin`` («Вход в личный кабинет», a notice
of every completed sign-in) is optional and off by default; ``service`` (news about orders and services)
is optional and on by default; ``marketing`` is optional and goes out only while the marketing
consent is in force (38-ФЗ «О рекламе» ст. 18, 152-ФЗ ст. 9): withdrawing the consent turns every
marketing channel off at once, whatever the channel choices say.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from dostup.accounts.consents import MARKETING, latest_consent
from dostup.persistence.models import NotificationPreference

SECURITY = "security"
SIGNIN = "signin"
SERVICE = "service"
KINDS = (SECURITY, SIGNIN, SERVICE, MARKETING)
CHANNELS = ("sms", "email")
MANDATORY = frozenset({SECURITY})
DEFAULTS = {SECURITY: True, SIGNIN: False, SERVICE: True, MARKETING: True}


@dataclass(frozen=True, slots=True)
class Preferences:
    marketing_consent: bool
    chosen: dict[tuple[str, str], bool]

    def choice(self, kind: str, channel: str) -> bool:
        """What the user ticked (or the default), before the consent is applied."""
        if kind in MANDATORY:
            return True
        return self.chosen.get((kind, channel), DEFAULTS[kind])

    def enabled(self, kind: str, channel: str) -> bool:
        """Whether a message of this kind may go to this channel now."""
        if kind == MARKETING and not self.marketing_consent:
            return False
        return self.choice(kind, channel)


async def load_preferences(db: AsyncSession, account_id: str) -> Preferences:
    rows = (
        await db.execute(select(NotificationPreference).where(NotificationPreference.account_id == account_id))
    ).scalars().all()
    consent = await latest_consent(db, account_id=account_id, kind=MARKETING)
    return Preferences(
        marketing_consent=bool(consent and consent.granted),
        chosen={(r.kind, r.channel): r.enabled for r in rows},
    )


async def channels_on(db: AsyncSession, account_id: str, kind: str) -> frozenset[str]:
    """The channels a message of ``kind`` may go to this account on now: for a kind other than marketing only
    that kind's choices are read (the primary key), not the consent history."""
    if kind == MARKETING:
        prefs = await load_preferences(db, account_id)
        return frozenset(c for c in CHANNELS if prefs.enabled(kind, c))
    if kind in MANDATORY:
        return frozenset(CHANNELS)
    p = NotificationPreference
    rows = (await db.execute(select(p.channel, p.enabled).where(p.account_id == account_id, p.kind == kind))).all()
    chosen = {channel: enabled for channel, enabled in rows}
    return frozenset(c for c in CHANNELS if chosen.get(c, DEFAULTS[kind]))


async def wants(db: AsyncSession, account_id: str, kind: str, channel: str) -> bool:
    """For senders of optional messages: may this account get ``kind`` on ``channel``?"""
    return (await load_preferences(db, account_id)).enabled(kind, channel)


async def save_choices(
    db: AsyncSession, account_id: str, choices: dict[tuple[str, str], bool], now: dt.datetime
) -> None:
    """Store channel choices; mandatory kinds are never stored (they cannot be turned off)."""
    for (kind, channel), enabled in choices.items():
        if kind in MANDATORY:
            continue
        row = await db.get(NotificationPreference, (account_id, kind, channel))
        if row is None:
            db.add(NotificationPreference(account_id=account_id, kind=kind, channel=channel,
                                          enabled=enabled, updated_at=now))
        elif row.enabled != enabled:
            row.enabled = enabled
            row.updated_at = now
