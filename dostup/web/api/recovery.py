"""Access recovery over JSON."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter
from pydantic import Field
from pydantic.dataclasses import dataclass

from dostup.selfservice.recovery.flow import RecoveryInput, RecoveryResult
from dostup.web.api.schemas import errors
from dostup.web.deps import ApiContext, SameOrigin, ServicesDep

router = APIRouter(tags=["recovery"], responses=errors(422, 429))


@dataclass(frozen=True)
class RecoveryIn(RecoveryInput):
    country: Annotated[str, Field(max_length=3)] = "RU"


@dataclass(frozen=True)
class RecoveryOut(RecoveryResult):
    """In enumeration-safe mode only ``status`` is filled, for known and unknown accounts alike."""

    status: str


@router.post("/recovery", dependencies=[SameOrigin])
async def request_recovery(body: RecoveryIn, ctx: ApiContext, services: ServicesDep) -> RecoveryOut:
    """Send a temporary 6-digit password; sign in with it on /api/v1/login, then change the password."""
    result = await services.recovery.request(body, ctx)
    return RecoveryOut(status="sent", **asdict(result))
