"""The delivery worker: claims due messages, sends them, retries with exponential back-off.

Claiming is one guarded UPDATE per message (``claimed_until`` in the past), so any number of
workers — in-process ones in each web process, or ``dostup worker`` — can run side by side and a
message is sent by one of them.  After delivery by a real provider the body and code are
replaced by a redacted text: the database keeps no readable code longer than needed.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging

from sqlalchemy import or_, select, update

from dostup.core.clock import Clock
from dostup.courier.channels import Channel, DeliveryError
from dostup.persistence.db import Database
from dostup.persistence.models import OutboxMessage
from dostup.settings import CourierSettings

log = logging.getLogger("dostup.courier")
CLAIM_SECONDS = 120


class Worker:
    def __init__(
        self, settings: CourierSettings, db: Database, channels: dict[str, Channel], clock: Clock
    ) -> None:
        self.settings = settings
        self._db = db
        self._channels = channels
        self._clock = clock
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    def backoff(self, attempts: int) -> float:
        return float(min(self.settings.backoff_max_seconds, self.settings.backoff_base_seconds * 2 ** (attempts - 1)))

    async def _claim(self, limit: int) -> list[OutboxMessage]:
        now = self._clock.now()
        async with self._db.read() as s:
            ids = (
                await s.execute(
                    select(OutboxMessage.id)
                    .where(OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= now)
                    .where(or_(OutboxMessage.claimed_until.is_(None), OutboxMessage.claimed_until < now))
                    .order_by(OutboxMessage.next_attempt_at)
                    .limit(limit)
                )
            ).scalars().all()
        if not ids:
            return []
        claimed: list[OutboxMessage] = []
        until = now + dt.timedelta(seconds=CLAIM_SECONDS)
        async with self._db.write() as s:
            # The guard repeats every condition of the read: another worker may have tried (and
            # rescheduled) the message in between.  Ids in one global order, so two workers' claims
            # never lock rows in opposite orders (a PostgreSQL deadlock).
            for mid in sorted(ids):
                res = await s.execute(
                    update(OutboxMessage)
                    .where(OutboxMessage.id == mid, OutboxMessage.status == "pending")
                    .where(OutboxMessage.next_attempt_at <= now)
                    .where(or_(OutboxMessage.claimed_until.is_(None), OutboxMessage.claimed_until < now))
                    .values(claimed_until=until)
                )
                if res.rowcount == 1:  # type: ignore[attr-defined]
                    row = await s.get(OutboxMessage, mid)
                    if row is not None:
                        claimed.append(row)
        return claimed

    async def _deliver(self, msg: OutboxMessage) -> None:
        channel = self._channels[msg.channel]
        now = self._clock.now()
        values: dict[str, object]
        try:
            await channel.send(msg)
        except Exception as exc:  # noqa: BLE001 - DeliveryError, or any other failure (a mistyped URL):
            # either way one attempt is counted, so a message that cannot be sent ends as 'failed'
            # instead of aborting the batch and coming back unclaimed every CLAIM_SECONDS forever.
            if not isinstance(exc, DeliveryError):
                exc = DeliveryError(f"{type(exc).__name__}: {exc}")
            attempts = msg.attempts + 1
            failed = attempts >= self.settings.max_attempts
            values = {
                "attempts": attempts,
                "last_error": str(exc)[:255],
                "claimed_until": None,
                "status": "failed" if failed else "pending",
                "next_attempt_at": now + dt.timedelta(seconds=self.backoff(attempts)),
            }
            if failed and msg.code is not None and not channel.keeps_text:
                values.update(body="[not delivered]", code=None)  # a dead message keeps no readable code
            log.warning("delivery of %s (%s) failed, attempt %d: %s", msg.id, msg.kind, attempts, exc)
        else:
            values = {"attempts": msg.attempts + 1, "status": "sent", "sent_at": now, "claimed_until": None}
            if not channel.keeps_text:
                values.update(body="[delivered]", code=None)
        async with self._db.write() as s:
            await s.execute(update(OutboxMessage).where(OutboxMessage.id == msg.id).values(**values))

    async def run_once(self, limit: int = 20) -> int:
        batch = await self._claim(limit)
        for msg in batch:
            await self._deliver(msg)
        return len(batch)

    async def run_forever(self) -> None:
        while True:
            try:
                sent = await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - the worker must outlive any one bad batch
                log.exception("courier batch failed")
                sent = 0
            if sent:
                continue
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self.settings.poll_interval_seconds)
            except TimeoutError:
                pass
