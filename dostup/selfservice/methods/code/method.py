"""The code method's mechanism, the same for every flow it serves.

A decoy (an enumeration-safe answer for an identifier that must not be confirmed or denied) is
not a different path: it is the same flow with the same code row — tries counted, expiry moved by
a resend, cool-down and sending limits counted — only undeliverable: its stored hash matches no
code and its message is rendered and dropped (OWASP ASVS 2.5.x / 6.3.x; SECURITY.md: enumeration).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from dostup.core.context import Context
from dostup.core.masking import mask_destination
from dostup.credentials.codes import CodeService, CodeView
from dostup.persistence.db import Adds, Database
from dostup.persistence.models import Flow
from dostup.selfservice.sending import CodeSender, Destination


@dataclass(frozen=True, slots=True)
class Delivery:
    """Where a flow's code goes and how it is filed: what the file for each flow decides."""

    dest: Destination
    purpose: str  # binds the code to what it confirms
    message_kind: str
    account_id: str | None = None  # code and message filed under it (notification history)
    params: Mapping[str, object] = field(default_factory=dict)
    deliverable: bool = True
    limits: Destination | None = None  # what the sending limits count, when not ``dest``

    @property
    def counted(self) -> Destination | None:
        """The destination the limits count; ``None`` when there is nothing to count on."""
        limited = self.limits or self.dest
        return limited if limited.to else None


Check = Callable[[AsyncSession], Awaitable[None]]


class CodeMethod:
    """Start, resend, confirm and show a code step bound to a persisted flow."""

    def __init__(self, *, db: Database, codes: CodeService, sender: CodeSender) -> None:
        self.db = db
        self.codes = codes
        self.sender = sender

    def check_format(self, submitted: str | None) -> str:
        return self.codes.check_format(submitted)

    async def reserve(self, d: Delivery, ctx: Context) -> None:
        if d.counted is not None:
            await self.sender.reserve(d.counted, ctx)

    def send(self, db: Adds, flow: Flow, d: Delivery, ctx: Context, now: dt.datetime) -> CodeView:
        """The flow's first code and its message, in the unit of work that stores the flow."""
        issued = self.sender.new_code(db, dest=d.dest, purpose=d.purpose, kind=d.message_kind, ctx=ctx, now=now,
                                      flow_id=flow.id, account_id=d.account_id, decoy=not d.deliverable,
                                      params=d.params)
        return self._just_sent(d, issued.expires_at)

    def sent(self, d: Delivery) -> None:
        if d.deliverable:
            self.sender.wake_courier()

    async def resend(self, flow: Flow, d: Delivery, ctx: Context, *, check: Check | None = None) -> CodeView:
        """A new code after the cool-down; the flow's previous code dies.  ``check`` runs first in
        the same unit of work (e.g. that what the code confirms still exists)."""
        await self.reserve(d, ctx)
        now = self.sender.clock.now()
        async with self.db.write() as s:
            if check is not None:
                await check(s)
            issued = await self.sender.issue(s, dest=d.dest, purpose=d.purpose, kind=d.message_kind, ctx=ctx,
                                             now=now, flow_id=flow.id, account_id=d.account_id,
                                             decoy=not d.deliverable, params=d.params)
        self.sent(d)
        return self._just_sent(d, issued.expires_at)

    async def verify(self, db: AsyncSession, flow: Flow, d: Delivery, value: str, now: dt.datetime) -> str:
        """Count the try, then use the code if it matches; ``"ok"`` or the failure's code."""
        row = await self.codes.current(db, purpose=d.purpose, flow_id=flow.id)
        outcome = await self.codes.consume(db, code_row=row, value=value, now=now)
        return "code_invalid" if outcome == "ok" and not d.deliverable else outcome  # a decoy never confirms

    async def expiry(self, db: AsyncSession, flow: Flow, d: Delivery) -> dt.datetime | None:
        """When the flow's live code expires (``None``: it has none)."""
        row = await self.codes.current(db, purpose=d.purpose, flow_id=flow.id)
        return row.expires_at if row is not None else None

    async def shown(self, d: Delivery, code_expires_at: dt.datetime | None) -> CodeView:
        """The step as shown, with the cool-down read back (outside any unit of work)."""
        counted = d.counted
        left = await self.sender.cooldown_left(counted) if counted is not None else 0
        return self._view(d, code_expires_at, left)

    async def view(self, flow: Flow, d: Delivery) -> CodeView:
        async with self.db.read() as s:
            expires = await self.expiry(s, flow, d)
        return await self.shown(d, expires)

    def _just_sent(self, d: Delivery, code_expires_at: dt.datetime) -> CodeView:
        """Right after a send its cool-down has just started: nothing to read back."""
        left = self.sender.settings.resend_cooldown_seconds if d.counted is not None else 0
        return self._view(d, code_expires_at, left)

    @staticmethod
    def _view(d: Delivery, code_expires_at: dt.datetime | None, resend_after: int) -> CodeView:
        shown = mask_destination(d.dest.channel, d.dest.to) if d.dest.to else ""
        return CodeView(d.dest.channel, shown, code_expires_at, resend_after)


class CodeStep:
    """The code method bound to one kind of flow (implements :class:`~dostup.selfservice.flows.CodeProof`).

    A subclass — one file per flow — says only what differs: :meth:`delivery`.
    """

    def __init__(self, method: CodeMethod) -> None:
        self.method = method

    def delivery(self, flow: Flow) -> Delivery:
        raise NotImplementedError

    def check_format(self, submitted: str | None) -> str:
        return self.method.check_format(submitted)

    async def reserve(self, flow: Flow, ctx: Context) -> None:
        await self.method.reserve(self.delivery(flow), ctx)

    def send(self, db: Adds, flow: Flow, ctx: Context, now: dt.datetime) -> CodeView:
        return self.method.send(db, flow, self.delivery(flow), ctx, now)

    def sent(self, flow: Flow) -> None:
        self.method.sent(self.delivery(flow))

    async def resend(self, flow: Flow, ctx: Context, *, check: Check | None = None) -> CodeView:
        return await self.method.resend(flow, self.delivery(flow), ctx, check=check)

    async def verify(self, db: AsyncSession, flow: Flow, value: str, now: dt.datetime) -> str:
        return await self.method.verify(db, flow, self.delivery(flow), value, now)

    async def expiry(self, db: AsyncSession, flow: Flow) -> dt.datetime | None:
        return await self.method.expiry(db, flow, self.delivery(flow))

    async def shown(self, flow: Flow, code_expires_at: dt.datetime | None) -> CodeView:
        return await self.method.shown(self.delivery(flow), code_expires_at)

    async def view(self, flow: Flow) -> CodeView:
        return await self.method.view(flow, self.delivery(flow))
