"""The quick passcode («Код для входа») over JSON: bind this device, sign in with it, list and revoke.

An app keeps ``device_id`` and ``device_secret`` (shown once, in the answer that binds it) and
signs in with them and the five digits the user types.
"""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from dostup.selfservice.methods.passcode.settings import BoundDevice
from dostup.web.api.auth import signed_in
from dostup.web.api.schemas import NO_CONTENT, SignedInOut, _In, errors
from dostup.web.deps import ApiContext, SameOrigin, ServicesDep, SessionDep

router = APIRouter(tags=["passcode"], dependencies=[SameOrigin], responses=errors(401, 403, 404, 422, 429))


class PasscodeLoginIn(_In):
    device_id: str = Field(max_length=64)
    device_secret: str = Field(max_length=128)
    passcode: str | None = Field(default=None, max_length=16)
    remember: bool = True


class PasscodeIn(_In):
    passcode: str | None = Field(default=None, max_length=16)
    passcode_repeat: str | None = Field(default=None, max_length=16)
    device_id: str | None = Field(default=None, max_length=64)  # the binding this replaces, if any
    device_secret: str | None = Field(default=None, max_length=128)


class DeviceCredentialOut(BaseModel):
    device_id: str
    device_secret: str = Field(description="shown once; the server keeps only its SHA-256")


@router.post("/login/passcode")
async def passcode_login(body: PasscodeLoginIn, ctx: ApiContext, services: ServicesDep) -> SignedInOut:
    """Sign in on a bound device with its five-digit passcode (aal1; the fifth wrong one revokes the binding)."""
    outcome = await services.passcode_login.login(f"{body.device_id}.{body.device_secret}", body.passcode, ctx,
                                                  remember=body.remember)
    assert outcome.session is not None
    return signed_in(outcome.account, outcome.session)


@router.post("/settings/passcode")
async def set_passcode(body: PasscodeIn, ctx: ApiContext, services: ServicesDep,
                       rec: SessionDep) -> DeviceCredentialOut:
    """Bind this device to a passcode (after a full sign-in within 15 minutes)."""
    current = f"{body.device_id}.{body.device_secret}" if body.device_id and body.device_secret else None
    credential = await services.passcode.set(rec, body.passcode, body.passcode_repeat, ctx, current=current)
    device_id, _, secret = credential.partition(".")
    return DeviceCredentialOut(device_id=device_id, device_secret=secret)


@router.get("/settings/devices")
async def devices(services: ServicesDep, rec: SessionDep) -> list[BoundDevice]:
    return await services.passcode.list(rec.account_id)


@router.delete("/settings/devices/{device_id}", **NO_CONTENT)
async def revoke_device(device_id: str, ctx: ApiContext, services: ServicesDep, rec: SessionDep) -> None:
    await services.passcode.revoke(rec, device_id, ctx)
