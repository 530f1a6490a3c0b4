"""The verification request: a persisted state machine (SPEC §4.8, «Стандартная учётная запись»).

``submitted`` → ``approved`` | ``rejected`` by the verifier's answer, or → ``cancelled`` when a checked
field changes first (:func:`dostup.accounts.levels.cancel_pending`).  Every move is a guarded
``UPDATE … WHERE id = :id AND state = 'submitted'``, as the flows' (:mod:`dostup.selfservice.flows`):
of two answers racing (an operator's and a replayed callback, two operators) exactly one lands, and the
other is told the request is no longer waiting.

The flow declares what a **verifier** does and imports none (the Kratos habit of flows and methods):
``submit`` runs in the submission's unit of work and hands the request over — the operators' queue needs
nothing (the table is the queue), the external registry gets an outbox message — and the answer comes
later, through :meth:`dostup.selfservice.verification.service.VerificationService.answer_in`.
"""

from __future__ import annotations

import datetime as dt
from typing import Protocol

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from dostup.core.errors import Conflict, NotFound
from dostup.persistence.db import Adds
from dostup.persistence.models_levels import VerificationRequest

SUBMITTED, APPROVED, REJECTED, CANCELLED = "submitted", "approved", "rejected", "cancelled"
STATES = (SUBMITTED, APPROVED, REJECTED, CANCELLED)
MAX_ANSWER = 300


class Verifier(Protocol):
    """A way to check the full profile that answers later (built in: the operators' review queue;
    pluggable: an external registry over HTTP)."""

    name: str  # stored with each request: "operator", "registry"

    def submit(self, db: Adds, request: VerificationRequest, now: dt.datetime) -> None:
        """Hand the request over, inside the unit of work that stores it."""


async def answer(s: AsyncSession, request_id: str, *, approved: bool, reason: str | None, by: str,
                 now: dt.datetime) -> VerificationRequest:
    """Move a waiting request to its answer (one of two racing answers wins; the other gets 409)."""
    req = await s.get(VerificationRequest, request_id) if 0 < len(request_id) <= 32 else None
    if req is None:
        raise NotFound("verification.not_found")
    done = await s.execute(
        update(VerificationRequest)
        .where(VerificationRequest.id == request_id, VerificationRequest.state == SUBMITTED)
        .values(state=APPROVED if approved else REJECTED, answer=reason, answered_by=by[:32], answered_at=now,
                updated_at=now)
        .execution_options(synchronize_session=False))
    if done.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict("verification.not_waiting", code="not_waiting")
    await s.refresh(req)
    return req
