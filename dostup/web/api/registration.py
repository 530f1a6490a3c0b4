"""Registration over JSON: the same use-cases as the pages."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from dostup.selfservice.registration.flow import RegistrationView
from dostup.selfservice.registration.service import Completed
from dostup.web.api.auth import signed_in
from dostup.web.api.schemas import NO_CONTENT, CodeIn, EmailLinkIn, PasswordIn, RegistrationIn, SignedInOut, errors
from dostup.web.deps import ApiContext, SameOrigin, ServicesDep

router = APIRouter(tags=["registration"], responses=errors(422, 429, 409, 404))


@router.post("/registration", status_code=201, dependencies=[SameOrigin])
async def start_registration(body: RegistrationIn, ctx: ApiContext, services: ServicesDep) -> RegistrationView:
    """Check the form, send the confirmation code; the account is created when the code is confirmed."""
    return await services.registration.start(body, ctx)


@router.get("/registration/{flow_id}")
async def get_registration(flow_id: str, services: ServicesDep) -> RegistrationView:
    return await services.registration.view(flow_id)


@router.post("/registration/{flow_id}/resend", dependencies=[SameOrigin])
async def resend_code(flow_id: str, ctx: ApiContext, services: ServicesDep) -> RegistrationView:
    return await services.registration.resend(flow_id, ctx)


@router.post("/registration/{flow_id}/code", status_code=201, dependencies=[SameOrigin],
             responses={200: {"model": RegistrationView}})
async def confirm_code(flow_id: str, body: CodeIn, ctx: ApiContext, services: ServicesDep,
                       response: Response) -> SignedInOut | RegistrationView:
    """Confirm the code: creates the account and returns a bearer session token (201), or — in presets
    that ask for the password after the code — answers 200 with the flow in state ``password_needed``."""
    result = await services.registration.submit_code(flow_id, body.code, ctx)
    if isinstance(result, Completed):
        return signed_in(result.account, result.session)
    response.status_code = 200
    return result


@router.post("/registration/{flow_id}/password", status_code=201, dependencies=[SameOrigin])
async def set_password(flow_id: str, body: PasswordIn, ctx: ApiContext, services: ServicesDep) -> SignedInOut:
    """The password step (rostelecom, gosuslugi, sber): creates the account, returns a bearer token."""
    done = await services.registration.set_password(flow_id, body.password, body.password_repeat, ctx)
    return signed_in(done.account, done.session)


@router.post("/verify-email", **NO_CONTENT, dependencies=[SameOrigin])
async def verify_email(body: EmailLinkIn, ctx: ApiContext, services: ServicesDep) -> None:
    """Confirm the email address with the token from the link in the email."""
    await services.registration.confirm_email(body.token, ctx)
