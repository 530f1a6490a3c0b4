"""Sending a one-time code: every SECURITY.md sending limit, then code + outbox in one transaction.

Limits (defaults): one per destination per 60 s, 5 per hour, 10 per day; 10 per IP per hour;
SMS only to mobile numbers of the allowed countries (checked by the caller when it picks the
channel); a daily SMS budget that alerts the operator and, by default, stops SMS beyond it.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from dostup.core.context import Context
from dostup.core.crypto import random_id
from dostup.core.errors import RateLimited
from dostup.credentials.codes import IssuedCode
from dostup.guards.limits import Count, Rule
from dostup.persistence.db import Adds
from dostup.selfservice.deps import FlowDeps

log = logging.getLogger("dostup.sending")


@dataclass(frozen=True, slots=True)
class Destination:
    channel: str  # "sms" | "email"
    to: str


class CodeSender:
    def __init__(self, deps: FlowDeps) -> None:
        self.d = deps
        c = deps.settings.codes
        self.cooldown = Rule("send-cooldown", 1, c.resend_cooldown_seconds)
        self.hourly = Rule("send-hour", c.per_destination_per_hour, 3600)
        self.daily = Rule("send-day", c.per_destination_per_day, 86400)
        self.per_ip = Rule("send-ip", c.per_ip_per_hour, 3600)
        self.budget = Rule("sms-budget", c.sms_daily_budget, 86400)

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
        day = self.d.clock.now().strftime("%Y%m%d")
        if dest.channel == "sms":
            counts.append(Count(self.budget, day))
        over, _ = await self.d.limiter.count(counts)
        if over is None:
            return
        if over.count.rule is not self.budget:
            raise over.error()
        await self._alert_budget(day)
        if self.d.settings.codes.sms_budget_hard_stop:
            raise RateLimited(3600, "code.unavailable")

    async def _alert_budget(self, day: str) -> None:
        if not await self.d.limiter.store.add_once(f"sms-budget-alert:{day}", 86400):
            return
        log.error("daily SMS budget of %d reached", self.d.settings.codes.sms_daily_budget)
        operator = self.d.settings.courier.operator_email
        if operator:
            async with self.d.db.write() as s:
                self.d.outbox.enqueue(
                    s, kind="sms_budget_alert", channel="email", to=operator, now=self.d.clock.now(),
                    params={"budget": self.d.settings.codes.sms_daily_budget},
                )
            self.d.wake_courier()

    async def cooldown_left(self, dest: Destination) -> int:
        return await self.d.limiter.store.ttl(f"{self.cooldown.name}:{dest.channel}:{dest.to}")

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
    ) -> IssuedCode:
        """Issue the code and its message inside the caller's unit of work; the owner's (flow's or
        account's) earlier live code dies.

        A *decoy* (an enumeration-safe answer for an unknown identifier) does the same work, but
        its code matches nothing, it is filed under a flow id of its own, and its message is
        rendered and dropped instead of queued.
        """
        owner_flow = random_id() if decoy else flow_id
        owner_account = None if decoy else account_id
        issued = await self.d.codes.issue(
            db, purpose=purpose, channel=dest.channel, destination=dest.to, now=now,
            flow_id=owner_flow, account_id=owner_account, decoy=decoy,
        )
        self._message(db, issued, dest=dest, kind=kind, ctx=ctx, now=now, account_id=owner_account, decoy=decoy)
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
        flow_id: str | None = None,
        decoy: bool = False,
    ) -> IssuedCode:
        """As :meth:`issue`, for a flow made in this same unit of work (no earlier code to kill):
        it only adds rows, so it can run in the lighter append-only unit of work."""
        issued = self.d.codes.add(db, purpose=purpose, channel=dest.channel, destination=dest.to, now=now,
                                  flow_id=random_id() if decoy else flow_id, decoy=decoy)
        self._message(db, issued, dest=dest, kind=kind, ctx=ctx, now=now, account_id=None, decoy=decoy)
        return issued

    def _message(self, db: Adds, issued: IssuedCode, *, dest: Destination, kind: str, ctx: Context,
                 now: dt.datetime, account_id: str | None, decoy: bool) -> None:
        params: dict[str, object] = {"minutes": max(1, self.d.codes.ttl(dest.channel) // 60)}
        if decoy:
            self.d.outbox.render(kind, dest.channel, ctx.locale, {**params, "code": issued.code})
        else:
            self.d.outbox.enqueue(
                db, kind=kind, channel=dest.channel, to=dest.to, now=now, locale=ctx.locale,
                account_id=account_id, code=issued.code, params=params,
            )
