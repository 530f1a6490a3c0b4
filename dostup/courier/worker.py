"""The delivery worker: claims due messages, sends them, retries with exponential back-off.

A claim is short — the longest send plus a margin (:func:`claim_seconds`) — and kept alive
while the batch is sent: after each send through a real provider one write transaction records
its outcome and extends the claim of the rest of the batch.  So a slow gateway never lets a
second worker take (and send again) messages this worker still holds, and a worker killed
mid-batch re-sends at most the one message in flight while the rest of its batch goes out once
the short claim runs out (seconds, not minutes).  Messages to the dev outbox are recorded
together at the end of the batch (no provider: two write transactions per batch, whatever its
size).  The HTTP gateway gets the message id as an idempotency key.
Any number of workers — in-process ones in each web process, or ``dostup worker`` — can run
side by side and a message is sent by one of them.  After delivery by a real provider the body
and code are replaced by a redacted text: the database keeps no readable code longer than needed.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import Any

from sqlalchemy import ColumnElement, DateTime, Select, any_, bindparam, func, or_, select, update

from dostup.core.clock import Clock
from dostup.courier.channels import Channel, DeliveryError
from dostup.persistence.db import Database
from dostup.persistence.models import OutboxMessage
from dostup.settings import CourierSettings

log = logging.getLogger("dostup.courier")


def _due(now: ColumnElement[dt.datetime]) -> tuple[ColumnElement[bool], ...]:
    """A message a worker may take at ``now``: pending, due, and not claimed by a live claim."""
    m = OutboxMessage
    return (
        m.status == "pending",
        m.next_attempt_at <= now,
        or_(m.claimed_until.is_(None), m.claimed_until < now),
    )


def _among(ids: Select[str]) -> ColumnElement[bool]:
    """PostgreSQL: ``id = ANY(ARRAY(<ids>))``, the subquery run once as an InitPlan."""
    return OutboxMessage.id == any_(func.array(ids.scalar_subquery()))


CLAIM_MARGIN_SECONDS = 3.0


def claim_seconds(courier: CourierSettings, send_timeouts: list[float]) -> float:
    """How long a claim lasts: ``DOSTUP_COURIER__CLAIM_SECONDS``, or by default the longest send
    timeout plus :data:`CLAIM_MARGIN_SECONDS` (13 s with the 10 s timeouts): a send always ends
    inside the claim it was started under, and a dead worker's batch waits no longer than that."""
    if courier.claim_seconds is not None:
        return courier.claim_seconds
    return max(send_timeouts) + CLAIM_MARGIN_SECONDS


class Worker:
    def __init__(
        self, settings: CourierSettings, db: Database, channels: dict[str, Channel], clock: Clock,
        claim: float = 13.0,
    ) -> None:
        self.settings = settings
        self.claim_seconds = claim
        self._db = db
        self._channels = channels
        self._clock = clock
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    def backoff(self, attempts: int) -> float:
        return float(min(self.settings.backoff_max_seconds, self.settings.backoff_base_seconds * 2 ** (attempts - 1)))

    async def _claim(self, limit: int) -> list[OutboxMessage]:
        """Claim up to ``limit`` due messages, oldest first: one write transaction, one statement.

        ``UPDATE outbox SET claimed_until=:until WHERE id IN (<picked>) AND <due> RETURNING *``.
        On SQLite ``<picked>`` is the ids of the ``limit`` oldest due messages; the write
        transaction is ``BEGIN IMMEDIATE``, so claims are serialised outright.  On PostgreSQL
        ``id IN (<picked>)`` is ``id = ANY(ARRAY(SELECT id FROM outbox WHERE id =
        ANY(ARRAY(<oldest>)) AND <due> ORDER BY id FOR UPDATE))``: what used to be a read of due
        ids followed by guarded UPDATEs in sorted id order, as one statement.

        * Exactly one sender.  A row is taken only if it is still due and unclaimed when it is
          locked: a row another transaction is writing (a concurrent claim, or an outcome) is
          waited for, and after that commit PostgreSQL re-checks ``<due>`` on the row's new
          version (the READ COMMITTED re-check of a locking read), so a message just claimed by
          another worker — or tried and rescheduled by it — is dropped, never sent twice nor
          retried before its back-off ends.
        * No deadlocks.  Rows are locked in one global order, by id (the plan is LockRows over a
          Sort), never in the oldest-first order the batch is picked in, which two workers
          could see differently.  A claim locks only rows that are due and unclaimed, so it
          holds none that another worker's outcome transaction writes (unless a claim ran out).
        * ``ARRAY(subquery)`` is an InitPlan: run once, before the UPDATE, then the rows are
          found by primary key.  (With ``IN (subquery)`` the planner may join and rescan the
          locking subquery once per due row.)
        * Not ``SKIP LOCKED``, although it would be safe too (a skipped row is not claimed): a
          row locked by a transaction that leaves it due (an account erasure masking ``to``)
          would wait for the next poll instead of going in this batch.  Waiting costs no CPU,
          and every lock on the outbox is held by one short transaction with no I/O inside.

        No read transaction first: the candidate ids are read inside the statement.
        """
        now = self._clock.now()
        until = now + dt.timedelta(seconds=self.claim_seconds)
        at = bindparam("now", now, type_=DateTime())
        m = OutboxMessage
        picked = select(m.id).where(*_due(at)).order_by(m.next_attempt_at, m.id).limit(limit)
        if not self._db.is_sqlite:
            picked = select(m.id).where(_among(picked), *_due(at)).order_by(m.id).with_for_update()
        stmt = (
            update(m)
            .where(m.id.in_(picked) if self._db.is_sqlite else _among(picked), *_due(at))
            .values(claimed_until=until)
            .returning(m)
            .execution_options(synchronize_session=False)
        )
        async with self._db.write() as s:
            claimed = list((await s.scalars(stmt)).all())
        # RETURNING has no order: deliver oldest first.
        claimed.sort(key=lambda msg: (msg.next_attempt_at, msg.id))
        return claimed

    async def _send(self, msg: OutboxMessage) -> dict[str, Any]:
        """Send one message; the values that record the outcome (its row is written later)."""
        channel = self._channels.get(msg.channel)
        now = self._clock.now()
        values: dict[str, Any]
        if channel is None:  # a channel no longer configured (the identity registry turned off): it cannot go
            return {"attempts": msg.attempts + 1, "last_error": f"no channel '{msg.channel}' is configured",
                    "claimed_until": None, "status": "failed", "body": "[not delivered]", "code": None}
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
            if failed and (msg.code is not None or getattr(channel, "personal", False)) and not channel.keeps_text:
                # a dead message keeps no readable code, nor a registry request's passport data
                values.update(body="[not delivered]", code=None)
            log.warning("delivery of %s (%s) failed, attempt %d: %s", msg.id, msg.kind, attempts, exc)
        else:
            values = {"attempts": msg.attempts + 1, "status": "sent", "sent_at": now, "claimed_until": None}
            if not channel.keeps_text:
                values.update(body="[delivered]", code=None)
        return values

    async def _record(self, outcomes: list[dict[str, Any]]) -> None:
        """All the outcomes of a batch in one write transaction.

        An ORM bulk UPDATE by primary key, which runs one executemany per run of records that
        set the same columns: sorted so that those runs are as long as possible (usually one
        statement for the whole batch).  The order of the rows does not matter for deadlocks:
        they are claimed by this worker, and no claim locks a claimed row.
        """
        if not outcomes:
            return
        async with self._db.write() as s:
            await self._write(s, outcomes)

    @staticmethod
    async def _write(s: Any, outcomes: list[dict[str, Any]]) -> None:
        outcomes = sorted(outcomes, key=lambda v: (sorted(v), v["id"]))
        await s.execute(update(OutboxMessage), outcomes)

    async def _extend(self, s: Any, ids: list[str], held: dt.datetime) -> tuple[set[str], dt.datetime]:
        """Move the claim of ``ids`` (still held until ``held``) to now + the claim length; the
        ids still held by this worker (all of them, unless a claim ran out and another took it)."""
        until = self._clock.now() + dt.timedelta(seconds=self.claim_seconds)
        m = OutboxMessage
        stmt = (update(m).where(m.id.in_(ids), m.status == "pending",
                                m.claimed_until == bindparam("held", held, type_=DateTime()))
                .values(claimed_until=until).returning(m.id).execution_options(synchronize_session=False))
        return set((await s.scalars(stmt)).all()), until

    async def run_once(self, limit: int | None = None) -> int:
        """Claim a batch and send it message by message, recording each outcome as it happens.

        After a send through a real provider its outcome is written at once, with the claim of the
        rest of the batch extended in the same transaction (:meth:`_extend`): the next send starts
        under a fresh claim, longer than any send.  If the process dies, what it sent is recorded
        (only the message in flight is sent again) and the rest of its batch is free within one
        claim length.  The outcomes not yet written (the dev outbox's) are written at the end, even
        when the batch is cut short (cancelled at shutdown, or an error).
        """
        batch = await self._claim(limit or self.settings.batch_size)
        if not batch:
            return 0
        held = batch[0].claimed_until
        assert held is not None  # just claimed
        outcomes: list[dict[str, Any]] = []
        try:
            for i, msg in enumerate(batch):
                outcomes.append({"id": msg.id, **await self._send(msg)})
                rest = [m.id for m in batch[i + 1:]]
                channel = self._channels.get(msg.channel)
                if (channel is not None and channel.keeps_text) or not rest:
                    continue  # the dev outbox: recorded with the batch
                async with self._db.write() as s:
                    await self._write(s, outcomes)
                    outcomes = []
                    ours, held = await self._extend(s, rest, held)
                for lost in [m for m in batch[i + 1:] if m.id not in ours]:
                    batch.remove(lost)  # another worker holds it now: it sends it
        finally:
            await self._record(outcomes)
        return len(batch)

    async def run_forever(self, limit: int | None = None) -> None:
        limit = limit or self.settings.batch_size
        while True:
            self._wake.clear()  # before the claim: a wake-up during it is not lost
            try:
                handled = await self.run_once(limit)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - the worker must outlive any one bad batch
                log.exception("courier batch failed")
                handled = 0
            if handled >= limit:
                continue  # a full batch: more may be due
            if not self._wake.is_set():
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout=self.settings.poll_interval_seconds)
                except TimeoutError:
                    continue
            await asyncio.sleep(self.settings.gather_seconds)
