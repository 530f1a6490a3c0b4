"""Registration over JSON: the same use-cases as the pages."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from dostup.selfservice.registration.flow import RegistrationInput, RegistrationView
from dostup.selfservice.registration.service import Completed
from dostup.web.api.auth import signed_in
from dostup.web.api.schemas import (
    CodeIn,
    EmailLinkIn,
    ErrorBody,
    PasswordIn,
    RegistrationFlowOut,
    RegistrationIn,
    SignedInOut,
)
from dostup.web.deps import ServicesDep, api_same_origin, make_context

router = APIRouter(tags=["registration"], responses={
    422: {"model": ErrorBody}, 429: {"model": ErrorBody}, 409: {"model": ErrorBody}, 404: {"model": ErrorBody},
})


def _out(view: RegistrationView) -> RegistrationFlowOut:
    return RegistrationFlowOut(**{f: getattr(view, f) for f in RegistrationFlowOut.model_fields})


@router.post("/registration", status_code=201, dependencies=[Depends(api_same_origin)])
async def start_registration(body: RegistrationIn, request: Request, services: ServicesDep) -> RegistrationFlowOut:
    """Check the form, send the confirmation code; the account is created when the code is confirmed."""
    view = await services.registration.start(RegistrationInput(**body.model_dump()), make_context(request, "api"))
    return _out(view)


@router.get("/registration/{flow_id}")
async def get_registration(flow_id: str, services: ServicesDep) -> RegistrationFlowOut:
    return _out(await services.registration.view(flow_id))


@router.post("/registration/{flow_id}/resend", dependencies=[Depends(api_same_origin)])
async def resend_code(flow_id: str, request: Request, services: ServicesDep) -> RegistrationFlowOut:
    return _out(await services.registration.resend(flow_id, make_context(request, "api")))


@router.post("/registration/{flow_id}/code", status_code=201, dependencies=[Depends(api_same_origin)],
             responses={200: {"model": RegistrationFlowOut}})
async def confirm_code(flow_id: str, body: CodeIn, request: Request, services: ServicesDep,
                       response: Response) -> SignedInOut | RegistrationFlowOut:
    """Confirm the code: creates the account and returns a bearer session token (201), or — in presets
    that ask for the password after the code — answers 200 with the flow in state ``password_needed``."""
    result = await services.registration.submit_code(flow_id, body.code, make_context(request, "api"))
    if isinstance(result, Completed):
        return signed_in(result.account, result.session, "active")
    response.status_code = 200
    return _out(result)


@router.post("/registration/{flow_id}/password", status_code=201, dependencies=[Depends(api_same_origin)])
async def set_password(flow_id: str, body: PasswordIn, request: Request, services: ServicesDep) -> SignedInOut:
    """The password step (rostelecom, gosuslugi, sber): creates the account, returns a bearer token."""
    done = await services.registration.set_password(flow_id, body.password, body.password_repeat,
                                                    make_context(request, "api"))
    return signed_in(done.account, done.session, "active")


@router.post("/verify-email", status_code=204, dependencies=[Depends(api_same_origin)])
async def verify_email(body: EmailLinkIn, request: Request, services: ServicesDep) -> Response:
    """Confirm the email address with the token from the link in the email."""
    await services.registration.confirm_email(body.token, make_context(request, "api"))
    return Response(status_code=204)
