"""Access recovery over JSON."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from dostup.selfservice.recovery.flow import RecoveryInput
from dostup.web.api.schemas import ErrorBody, _In
from dostup.web.deps import ServicesDep, api_same_origin, make_context

router = APIRouter(tags=["recovery"], responses={422: {"model": ErrorBody}, 429: {"model": ErrorBody}})


class RecoveryIn(_In):
    phone: str | None = None
    country: str = Field(default="RU", max_length=3)
    email: str | None = None
    captcha: str | None = None


class RecoveryOut(BaseModel):
    """In enumeration-safe mode only ``status`` is filled, for known and unknown accounts alike."""

    status: str
    channel: str | None
    destination: str | None
    valid_minutes: int | None


@router.post("/recovery", dependencies=[Depends(api_same_origin)])
async def request_recovery(body: RecoveryIn, request: Request, services: ServicesDep) -> RecoveryOut:
    """Send a temporary 6-digit password; sign in with it on /api/v1/login, then change the password."""
    result = await services.recovery.request(RecoveryInput(**body.model_dump()), make_context(request, "api"))
    return RecoveryOut(status="sent", channel=result.channel, destination=result.destination,
                       valid_minutes=result.valid_minutes)
