"""Persisted flows: create, load, and move between states with a guarded UPDATE.

A transition is ``UPDATE flows SET state = :to WHERE id = :id AND state = :from``; when two
requests race, one moves the flow and the other sees zero rows and stops (no double completion).

A flow proves things through *methods* (Ory Kratos: flows × methods).  :class:`CodeProof` is what
every flow that sends a one-time code asks of the code method; each flow declares its own
protocol on it and imports no method, and the wiring (``dostup.app``) passes the method in.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Protocol

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dostup.core.context import Context
from dostup.core.crypto import random_token
from dostup.core.errors import FlowExpired, NotFound, RateLimited, StepNotAllowed
from dostup.credentials.codes import CodeView
from dostup.persistence.db import Adds, Raw
from dostup.persistence.models import Flow


def flow_values(
    *, kind: str, state: str, data: dict[str, object], now: dt.datetime, ttl_seconds: int, ip: str,
    account_id: str | None = None, flow_id: str | None = None,
) -> dict[str, object]:
    """The columns of a new flow row."""
    return {"id": flow_id or random_token(24), "kind": kind, "state": state, "data": data, "account_id": account_id,
            "created_at": now, "updated_at": now, "expires_at": now + dt.timedelta(seconds=ttl_seconds), "ip": ip[:64]}


def make_flow(
    *, kind: str, state: str, data: dict[str, object], now: dt.datetime, ttl_seconds: int, ip: str,
    account_id: str | None = None, flow_id: str | None = None,
) -> Flow:
    """A flow not yet stored: what a method may look at before the flow's unit of work opens."""
    return Flow(**flow_values(kind=kind, state=state, data=data, now=now, ttl_seconds=ttl_seconds, ip=ip,
                              account_id=account_id, flow_id=flow_id))


def new_flow(
    db: Adds, *, kind: str, state: str, data: dict[str, object], now: dt.datetime, ttl_seconds: int, ip: str,
    account_id: str | None = None,
) -> Flow:
    flow = make_flow(kind=kind, state=state, data=data, now=now, ttl_seconds=ttl_seconds, ip=ip,
                     account_id=account_id)
    db.add(flow)
    return flow


_FLOW_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


async def within_live_limit(s: AsyncSession, account_id: str, *, kind: str, state: str, now: dt.datetime, limit: int,
                            message_id: str) -> None:
    """At most ``limit`` live flows of ``kind`` in ``state`` per account — each a row, so a loop of starts
    cannot fill the table: the next one is 429 until the oldest expires.  Call it with the account's row
    locked (``with_for_update``), so racing starts are counted in turn."""
    live = sorted((await s.execute(select(Flow.expires_at).where(
        Flow.account_id == account_id, Flow.kind == kind, Flow.state == state, Flow.expires_at > now))).scalars())
    if len(live) >= limit:
        raise RateLimited(int((live[0] - now).total_seconds()) + 1, message_id)


async def load_flow(db: AsyncSession, flow_id: str | None, *, kind: str, now: dt.datetime) -> Flow:
    if not flow_id or not _FLOW_ID.fullmatch(flow_id):
        raise NotFound("flow.not_found")
    flow = await db.get(Flow, flow_id)
    if flow is None or flow.kind != kind:
        raise NotFound("flow.not_found")
    if flow.expires_at <= now:
        raise FlowExpired()
    return flow


async def transition(
    db: AsyncSession,
    flow: Flow,
    *,
    from_state: str,
    to_state: str,
    now: dt.datetime,
    data: dict[str, object] | None = None,
) -> None:
    values: dict[str, object] = {"state": to_state, "updated_at": now}
    if data is not None:
        values["data"] = data
    result = await db.execute(
        update(Flow)
        .where(Flow.id == flow.id, Flow.state == from_state)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise StepNotAllowed()
    flow.state = to_state


def checked_id(flow_id: str | None) -> str:
    """A flow id as it can be (anything else names no flow)."""
    if not flow_id or not _FLOW_ID.fullmatch(flow_id):
        raise NotFound("flow.not_found")
    return flow_id


# The same moves in a plain SQL unit of work (dostup.persistence.db.Raw), for hot paths.
_TAKE = ("UPDATE flows SET state = :to_state, updated_at = :now WHERE id = :id AND kind = :kind "
         "AND state = :from_state AND expires_at > :now RETURNING account_id, data")
_SEEN = "SELECT expires_at FROM flows WHERE id = :id AND kind = :kind"
_SET_STATE = "UPDATE flows SET state = :state WHERE id = :id"


def take_in(raw: Raw, flow_id: str, *, kind: str, from_state: str, to_state: str,
            now: dt.datetime) -> tuple[str | None, dict[str, object]]:
    """Move a live flow of ``kind`` from ``from_state`` to ``to_state`` by one guarded
    ``UPDATE … RETURNING`` and return its account and data: of parallel callers exactly one
    takes it.  The reason for a refusal is read only when there is one (as :func:`load_flow`)."""
    n = raw.time(now)
    row = raw.one(_TAKE, {"to_state": to_state, "now": n, "id": flow_id, "kind": kind, "from_state": from_state})
    if row is not None:
        return row[0], raw.read_json(row[1])
    seen = raw.one(_SEEN, {"id": flow_id, "kind": kind})
    if seen is not None and raw.read_time(seen[0]) <= now:
        raise FlowExpired()
    raise NotFound("flow.not_found")


def set_state_in(raw: Raw, flow_id: str, state: str) -> None:
    """Put a flow this unit of work took (:func:`take_in`) in ``state``: back where it was when
    the step failed, or on to its end.  Nobody else saw the state between (the row is the unit's)."""
    raw.run(_SET_STATE, {"state": state, "id": flow_id})


class CodeProof(Protocol):
    """A one-time code proving the flow's destination: sent, resent, checked, shown.

    ``send`` runs inside the unit of work that stores the flow (code and message commit with it);
    ``verify`` inside the one that acts on the answer, and returns the outcome (``"ok"`` or a
    :func:`~dostup.credentials.codes.code_error` code) so that a counted wrong try commits.
    """

    def check_format(self, submitted: str | None) -> str: ...

    async def reserve(self, flow: Flow, ctx: Context) -> None:
        """Count the send against the limits (before the unit of work; may raise RateLimited)."""

    def send(self, db: Adds, flow: Flow, ctx: Context, now: dt.datetime) -> CodeView: ...

    def sent(self, flow: Flow) -> None:
        """After the unit of work of :meth:`send` committed: hand the message to the courier."""

    async def resend(self, flow: Flow, ctx: Context) -> CodeView: ...

    async def verify(self, db: AsyncSession, flow: Flow, value: str, now: dt.datetime) -> str: ...

    async def view(self, flow: Flow) -> CodeView: ...

    async def expiry(self, db: AsyncSession, flow: Flow) -> dt.datetime | None:
        """When the flow's live code expires, read in the caller's unit of work (None: no live code)."""

    async def shown(self, flow: Flow, code_expires_at: dt.datetime | None) -> CodeView:
        """The step as shown for an expiry read by :meth:`expiry` (outside the unit of work)."""
