"""The second sign-in step and recovery codes over JSON (SPEC §4.9).

``POST /login`` answers ``second_factor`` (a flow id and the methods on offer) instead of a
session when the account has a second factor; the client then posts the code to
``/login/{flow_id}/second-factor``.  Recovery codes are created after a recent re-authentication
(``POST /reauth``) and shown in that one answer only.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from pydantic.dataclasses import dataclass

from dostup.selfservice.methods.totp.settings import Enrolment
from dostup.web.api.auth import signed_in, signed_in_json
from dostup.web.api.plain import posted_json
from dostup.web.api.plain_passkey import FAST_ERROR, api_context
from dostup.web.api.schemas import NO_CONTENT, PendingOut, SignedInOut, _In, errors
from dostup.web.deps import ApiContext, SameOrigin, ServicesDep, SessionDep, get_services

router = APIRouter(tags=["second factor"], dependencies=[SameOrigin], responses=errors(401, 403, 404, 422, 429))


class SecondFactorIn(_In):
    method: str = Field(default="recovery_code", max_length=32)
    code: str | None = Field(default=None, max_length=256)
    captcha: str | None = None


class RecoveryCodesOut(BaseModel):
    remaining: int | None = Field(description="unused codes left; null when the account has none")


class NewRecoveryCodesOut(BaseModel):
    codes: list[str] = Field(description="shown once: only their keyed hashes are stored")


async def second_factor_fast(request: Request) -> Response:
    """The second step as the plain route, and before the middleware stack (``api/plain_passkey.py``,
    as the passkey sign-in): a refusal there is raised again here, where the handlers answer it."""
    failed = request.scope.pop(FAST_ERROR, None)
    if failed is not None:
        raise failed
    body = await posted_json(request, SecondFactorIn)
    outcome = await get_services(request).login.second_factor(request.path_params["flow_id"], body.method, body.code,
                                                              api_context(request), captcha=body.captcha)
    assert outcome.session is not None
    return Response(signed_in_json(outcome.account, outcome.session), media_type="application/json")


# The second step on a plain Starlette route (``api/plain.py``); the FastAPI route below documents it.
PLAIN = [("/login/{flow_id}/second-factor", second_factor_fast, ["POST"])]


@router.get("/login/{flow_id}/second-factor")
async def second_factor_pending(flow_id: str, services: ServicesDep) -> PendingOut:
    """The sign-in waiting for its second step: the methods on offer and until when."""
    _, methods, expires_at = await services.login.pending(flow_id)
    return PendingOut(flow_id=flow_id, methods=list(methods), expires_at=expires_at)


@router.post("/login/{flow_id}/second-factor")
async def second_factor(flow_id: str, body: SecondFactorIn, ctx: ApiContext, services: ServicesDep) -> SignedInOut:
    """Finish a sign-in with a second factor (5 tries per flow; throttled per account)."""
    outcome = await services.login.second_factor(flow_id, body.method, body.code, ctx, captcha=body.captcha)
    assert outcome.session is not None
    return signed_in(outcome.account, outcome.session)


@router.get("/settings/recovery-codes")
async def recovery_codes(services: ServicesDep, rec: SessionDep) -> RecoveryCodesOut:
    return RecoveryCodesOut(remaining=await services.recovery_codes.remaining(rec.account_id))


@router.post("/settings/recovery-codes")
async def new_recovery_codes(ctx: ApiContext, services: ServicesDep, rec: SessionDep) -> NewRecoveryCodesOut:
    """A new set of 10 codes (re-authentication within 15 minutes first); the old set stops working."""
    return NewRecoveryCodesOut(codes=await services.recovery_codes.generate(rec, ctx))


@router.delete("/settings/recovery-codes", **NO_CONTENT)
async def remove_recovery_codes(ctx: ApiContext, services: ServicesDep, rec: SessionDep) -> None:
    await services.recovery_codes.remove(rec, ctx)


class TotpStatusOut(BaseModel):
    enabled: bool


@dataclass(frozen=True)
class TotpEnrolmentOut(Enrolment):
    secret: Annotated[str, Field(description="base32 seed, for apps that cannot scan the QR code")]


class TotpConfirmIn(_In):
    flow_id: str = Field(max_length=64)
    code: str | None = Field(default=None, max_length=32)


class TotpDisableIn(_In):
    code: str | None = Field(default=None, max_length=32)
    captcha: str | None = None


@router.get("/settings/totp")
async def totp_status(services: ServicesDep, rec: SessionDep) -> TotpStatusOut:
    return TotpStatusOut(enabled=await services.totp.enabled(rec.account_id))


@router.post("/settings/totp")
async def totp_begin(ctx: ApiContext, services: ServicesDep, rec: SessionDep) -> TotpEnrolmentOut:
    """Start enrolment (re-authentication within 15 minutes first): a new seed, as QR code and text."""
    return TotpEnrolmentOut(**asdict(await services.totp.begin(rec, ctx)))


@router.post("/settings/totp/confirm")
async def totp_confirm(body: TotpConfirmIn, ctx: ApiContext, services: ServicesDep,
                       rec: SessionDep) -> NewRecoveryCodesOut:
    """Turn TOTP on with the first code from the app; answers the ten recovery codes, shown once."""
    return NewRecoveryCodesOut(codes=await services.totp.confirm(rec, body.flow_id, body.code, ctx))


@router.post("/settings/totp/disable", **NO_CONTENT)
async def totp_disable(body: TotpDisableIn, ctx: ApiContext, services: ServicesDep, rec: SessionDep) -> None:
    """Turn TOTP off: re-authentication within 15 minutes and a current code from the app."""
    await services.totp.disable(rec, body.code, ctx, captcha=body.captcha)
