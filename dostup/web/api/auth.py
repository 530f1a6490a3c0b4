"""Sign-in, sign-out, whoami and the captcha challenge over JSON."""

from __future__ import annotations

import json

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from dostup.accounts.events import record_event
from dostup.core.errors import Forbidden, Unauthenticated, ValidationFailed
from dostup.guards.captcha import ACTIONS
from dostup.persistence.models import Account
from dostup.selfservice.companies import ONBOARDING
from dostup.selfservice.login.flow import LoginInput
from dostup.session.service import IssuedSession
from dostup.web.api.schemas import AccountOut, ErrorBody, LoginIn, SessionOut, SignedInOut
from dostup.web.deps import ServicesDep, api_same_origin, get_services, make_context, token_from

router = APIRouter(tags=["auth"], responses={401: {"model": ErrorBody}, 422: {"model": ErrorBody},
                                             429: {"model": ErrorBody}})
_encode = json.JSONEncoder(ensure_ascii=False).encode  # json.dumps(..., ensure_ascii=False) builds one per call


async def _whoami(request: Request) -> Response:
    if request.scope["method"] != "GET":  # HEAD: Starlette routes add it to GET; FastAPI's route answers 405
        raise StarletteHTTPException(status_code=405, headers={"Allow": "GET"})
    services = get_services(request)
    token, _ = token_from(request, services)
    rec = await services.sessions.authenticate(token)
    if rec is None:
        raise Unauthenticated()
    if rec.state != "active":
        raise Forbidden("session.password_change_required", code="password_change_required")
    # CompanyService.onboarding(), answered from the session look-up itself (it reads whether the
    # account has a confirmed company in the same indexed query): no second query per whoami.
    onboarding = None if not services.companies.required or rec.company_confirmed else ONBOARDING
    body = {
        "account": {
            "id": rec.account_id, "phone": rec.phone, "email": rec.email, "login": rec.login,
            "segment": rec.segment, "state": rec.account_state, "created_at": rec.account_created_at.isoformat(),
        },
        "session": {"id": rec.id, "state": rec.state, "expires_at": rec.expires_at.isoformat(),
                    "authenticated_at": rec.authenticated_at.isoformat(), "remember": rec.remember},
        "onboarding": onboarding,
    }
    return Response(_encode(body), media_type="application/json")


# whoami is the hot path (every page and API client asks it), so GET /whoami is served by a plain
# Starlette route placed first in this router: it is matched before the others and skips FastAPI's
# per-request machinery (dependency solving, exit stack), which cost more than the session check
# itself.  Behaviour is the same: the same function answers, errors go through the same exception
# handlers, and HEAD still gets 405 as from FastAPI's GET-only route.  The FastAPI route declared
# further down documents it in OpenAPI (it is never reached for GET).
router.add_route("/whoami", _whoami, methods=["GET"], name="whoami_fast", include_in_schema=False)


def signed_in(account: Account, session: IssuedSession, state: str) -> SignedInOut:
    return SignedInOut(
        account=AccountOut(id=account.id, phone=account.phone, email=account.email, login=account.login,
                           segment=account.segment, state=account.state, created_at=account.created_at),
        session=SessionOut(token=session.token, expires_at=session.expires_at, state=state),
    )


@router.post("/login", dependencies=[Depends(api_same_origin)])
async def login(body: LoginIn, request: Request, services: ServicesDep) -> SignedInOut:
    """Sign in by phone or login and password; returns a bearer session token."""
    account, session = await services.login.login(LoginInput(**body.model_dump()), make_context(request, "api"))
    return signed_in(account, session, "active")


@router.post("/logout", status_code=204, dependencies=[Depends(api_same_origin)])
async def logout(request: Request, services: ServicesDep) -> Response:
    token, _ = token_from(request, services)
    account_id = await services.sessions.revoke_token(token) if token else None
    if not account_id:
        raise Unauthenticated()
    async with services.db.write() as s:
        record_event(s, kind="logout", outcome="success", ctx=make_context(request, "api"),
                     now=services.clock.now(), account_id=account_id)
    return Response(status_code=204)


@router.get("/whoami", response_model=None, responses={200: {"model": AccountOut}})
async def whoami(request: Request) -> Response:
    """The account behind the session cookie or bearer token (the hot path: one indexed read)."""
    return await _whoami(request)


@router.get("/captcha/challenge")
async def captcha_challenge(action: str, services: ServicesDep) -> dict[str, object]:
    """An ALTCHA challenge bound to one action (register, login, recover, code)."""
    if action not in ACTIONS:
        raise ValidationFailed("captcha.action_invalid", field="action")
    return services.deps.captcha.challenge(action)
