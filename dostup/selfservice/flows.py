"""Persisted flows: create, load, and move between states with a guarded UPDATE.

A transition is ``UPDATE flows SET state = :to WHERE id = :id AND state = :from``; when two
requests race, one moves the flow and the other sees zero rows and stops (no double completion).
"""

from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from dostup.core.crypto import random_token
from dostup.core.errors import FlowExpired, NotFound, StepNotAllowed
from dostup.persistence.db import Adds
from dostup.persistence.models import Flow


def new_flow(
    db: Adds, *, kind: str, state: str, data: dict[str, object], now: dt.datetime, ttl_seconds: int, ip: str
) -> Flow:
    flow = Flow(
        id=random_token(24),
        kind=kind,
        state=state,
        data=data,
        created_at=now,
        updated_at=now,
        expires_at=now + dt.timedelta(seconds=ttl_seconds),
        ip=ip[:64],
    )
    db.add(flow)
    return flow


_FLOW_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


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
