"""Sending a one-time code: every SECURITY.md sending limit, then code + outbox in one transaction.

Limits (defaults): one per destination per 60 s, 5 per hour, 10 per day; 10 per IP per hour;
SMS only to mobile numbers of the allowed countries (checked by the caller when it picks the
channel); a daily SMS budget that alerts the operator and, by default, stops SMS beyond it.

The code method (:mod:`dostup.selfservice.methods.code`) sends every flow's codes through this;
recovery sends its temporary password through it as well.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from dostup.core.clock import Clock
from dostup.core.context import Context
from dostup.core.crypto import random_id
from dostup.core.errors import RateLimited
from dostup.courier.outbox import Outbox
from dostup.credentials.codes import CodeService, IssuedCode
from dostup.guards.limits import Count, Limiter, Rule
from dostup.persistence.db import Adds, Database
from dostup.settings import CodeSettings

log = logging.getLogger("dostup.sending")


@dataclass(frozen=True, slots=True)
class Destination:
    channel: str  # "sms" | "email" (or "decoy": the limits of a destination that does not exist)
    to: str


class CodeSender:
    def __init__(self, settings: CodeSettings, *, codes: CodeService, limiter: Limiter, outbox: Outbox,
                 db: Database, clock: Clock, wake_courier: Callable[[], None],
                 operator_email: str | None = None) -> None:
        self.settings = settings
        self.codes = codes
        self.limiter = limiter
        self.outbox = outbox
        self.db = db
        self.clock = clock
        self.wake_courier = wake_courier
        self.operator_email = operator_email
        self.cooldown = Rule("send-cooldown", 1, settings.resend_cooldown_seconds)
        self.hourly = Rule("send-hour", settings.per_destination_per_hour, 3600)
        self.daily = Rule("send-day", settings.per_destination_per_day, 86400)
        self.per_ip = Rule("send-ip", settings.per_ip_per_hour, 3600)
        self.budget = Rule("sms-budget", settings.sms_daily_budget, 86400)

    async def reserve(self, dest: Destination, ctx: Context) -> None:
        """Count this send against every limit; raise :class:`RateLimited` if one is full.

        All in one round trip to the counter store; counting stops at the first full limit
        (a send refused by the cool-down does not use up the hourly allowance).
        """
        subject = f"{dest.channel}:{dest.to}"
        counts = [
            Count(self.cooldown, subject, "code.cooldown"),
            Count(self.hourly, subject, "code.too_many"),
            Count(self.daily, subject, "code.too_many"),
            Count(self.per_ip, ctx.ip, "code.too_many"),
        ]
        day = self.clock.now().strftime("%Y%m%d")
        if dest.channel == "sms":
            counts.append(Count(self.budget, day))
        over, _ = await self.limiter.count(counts)
        if over is None:
            return
        if over.count.rule is not self.budget:
            raise over.error()
        await self._alert_budget(day)
        if self.settings.sms_budget_hard_stop:
            raise RateLimited(3600, "code.unavailable")

    async def _alert_budget(self, day: str) -> None:
        if not await self.limiter.store.add_once(f"sms-budget-alert:{day}", 86400):
            return
        log.error("daily SMS budget of %d reached", self.settings.sms_daily_budget)
        if self.operator_email:
            async with self.db.write() as s:
                self.outbox.enqueue(
                    s, kind="sms_budget_alert", channel="email", to=self.operator_email, now=self.clock.now(),
                    params={"budget": self.settings.sms_daily_budget},
                )
            self.wake_courier()

    async def cooldown_left(self, dest: Destination) -> int:
        return await self.limiter.store.ttl(f"{self.cooldown.name}:{dest.channel}:{dest.to}")

    async def issue(
        self,
        db: AsyncSession,
        *,
        dest: Destination,
        purpose: str,
        kind: str,
        ctx: Context,
        now: dt.datetime,
        flow_id: str | None = None,
        account_id: str | None = None,
        decoy: bool = False,
        params: Mapping[str, object] | None = None,
    ) -> IssuedCode:
        """Issue the code and its message inside the caller's unit of work; the owner's (flow's or
        account's) earlier live code dies.

        A *decoy* (an enumeration-safe answer for an unknown identifier) does the same work, but
        its code matches nothing and its message is rendered and dropped instead of queued.  Bound
        to a flow it is that flow's code (tries counted, expiry moved by a resend); without one it
        is filed under an id of its own.
        """
        owner_flow = flow_id or (random_id() if decoy else None)
        owner_account = None if decoy else account_id
        issued = await self.codes.issue(
            db, purpose=purpose, channel=dest.channel, destination=dest.to, now=now,
            flow_id=owner_flow, account_id=owner_account, decoy=decoy,
        )
        self._message(db, issued, dest=dest, kind=kind, ctx=ctx, now=now, account_id=owner_account, decoy=decoy,
                      params=params)
        return issued

    def new_code(
        self,
        db: Adds,
        *,
        dest: Destination,
        purpose: str,
        kind: str,
        ctx: Context,
        now: dt.datetime,
        flow_id: str,
        account_id: str | None = None,
        decoy: bool = False,
        params: Mapping[str, object] | None = None,
    ) -> IssuedCode:
        """As :meth:`issue`, for a flow made in this same unit of work (no earlier code to kill):
        it only adds rows, so it can run in the lighter append-only unit of work."""
        owner_account = None if decoy else account_id
        issued = self.codes.add(db, purpose=purpose, channel=dest.channel, destination=dest.to, now=now,
                                flow_id=flow_id, account_id=owner_account, decoy=decoy)
        self._message(db, issued, dest=dest, kind=kind, ctx=ctx, now=now, account_id=owner_account, decoy=decoy,
                      params=params)
        return issued

    def _message(self, db: Adds, issued: IssuedCode, *, dest: Destination, kind: str, ctx: Context,
                 now: dt.datetime, account_id: str | None, decoy: bool,
                 params: Mapping[str, object] | None) -> None:
        minutes = int((issued.expires_at - now).total_seconds()) // 60
        values: dict[str, object] = {"minutes": max(1, minutes), **(params or {})}
        if decoy:
            self.outbox.render(kind, dest.channel, ctx.locale, {**values, "code": issued.code})
        else:
            self.outbox.enqueue(
                db, kind=kind, channel=dest.channel, to=dest.to, now=now, locale=ctx.locale,
                account_id=account_id, code=issued.code, params=values,
            )
