"""Sign-in, sign-out, whoami and the captcha challenge over JSON."""

from __future__ import annotations

import json

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from dostup.core.errors import Forbidden, Unauthenticated, ValidationFailed
from dostup.guards.captcha import ACTIONS
from dostup.persistence.models import Account
from dostup.selfservice.login.flow import LoginInput
from dostup.session.service import IssuedSession
from dostup.web.api.schemas import AccountOut, ErrorBody, LoginIn, SessionOut, SignedInOut
from dostup.web.deps import ServicesDep, api_same_origin, get_services, make_context, token_from

router = APIRouter(tags=["auth"], responses={401: {"model": ErrorBody}, 422: {"model": ErrorBody},
                                             429: {"model": ErrorBody}})


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
    if not token or not await services.sessions.revoke_token(token):
        raise Unauthenticated()
    return Response(status_code=204)


@router.get("/whoami", response_model=None, responses={200: {"model": AccountOut}})
async def whoami(request: Request) -> Response:
    """The account behind the session cookie or bearer token (the hot path: one indexed read)."""
    services = get_services(request)
    token, _ = token_from(request, services)
    rec = await services.sessions.authenticate(token)
    if rec is None:
        raise Unauthenticated()
    if rec.state != "active":
        raise Forbidden("session.password_change_required", code="password_change_required")
    body = {
        "account": {
            "id": rec.account_id, "phone": rec.phone, "email": rec.email, "login": rec.login,
            "segment": rec.segment, "state": rec.account_state, "created_at": rec.account_created_at.isoformat(),
        },
        "session": {"id": rec.id, "state": rec.state, "expires_at": rec.expires_at.isoformat(),
                    "authenticated_at": rec.authenticated_at.isoformat(), "remember": rec.remember},
    }
    return Response(json.dumps(body, ensure_ascii=False), media_type="application/json")


@router.get("/captcha/challenge")
async def captcha_challenge(action: str, services: ServicesDep) -> dict[str, object]:
    """An ALTCHA challenge bound to one action (register, login, recover, code)."""
    if action not in ACTIONS:
        raise ValidationFailed("captcha.action_invalid", field="action")
    return services.deps.captcha.challenge(action)
