"""Sign-in, sign-out, whoami and the captcha challenge over JSON."""

from __future__ import annotations

import json
from json.encoder import encode_basestring

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from dostup.core.clock import utc_text
from dostup.core.errors import Unauthenticated, ValidationFailed
from dostup.guards.captcha import ACTIONS
from dostup.identity.repository import AccountSummary
from dostup.persistence.models import Account
from dostup.selfservice.companies import ONBOARDING
from dostup.selfservice.login.flow import LoginOutcome
from dostup.session.reader import SessionRecord
from dostup.session.service import IssuedSession
from dostup.session.strength import state_name
from dostup.web.api.plain import posted_json
from dostup.web.api.plain_passkey import FAST_ERROR
from dostup.web.api.schemas import AccountOut, LoginIn, PendingOut, SecondFactorNeeded, SignedInOut, errors, session_out
from dostup.web.deps import (
    ApiContext,
    SameOrigin,
    ServicesDep,
    get_services,
    make_context,
    require_unrestricted,
    token_from,
)

router = APIRouter(tags=["auth"], responses=errors(401, 422, 429))
_encode = json.JSONEncoder(ensure_ascii=False).encode  # json.dumps(..., ensure_ascii=False) builds one per call


#: Where whoami's fast path (``plain_session.py``) leaves the error its session look-up raised, so the route
#: raises it instead of asking the database again (a frozen database would cost two timeouts before the 503).
FAST_FAILURE = "dostup.whoami_failure"


async def _whoami(request: Request) -> Response:
    if request.scope["method"] != "GET":  # HEAD: Starlette routes add it to GET; FastAPI's route answers 405
        raise StarletteHTTPException(status_code=405, headers={"Allow": "GET"})
    failure = request.scope.pop(FAST_FAILURE, None)
    if failure is not None:
        raise failure
    services = get_services(request)
    token, _ = token_from(request, services)
    rec = await services.sessions.authenticate(token)
    if rec is None:
        raise Unauthenticated()
    require_unrestricted(rec)
    return Response(whoami_body(rec, services.companies.required), media_type="application/json")


def whoami_body(rec: SessionRecord, companies_required: bool) -> str:
    """whoami's answer for an unrestricted session (also sent by ``web/api/plain_session.py``).

    The JSON is written by hand, each string escaped by the ``json`` module's own C escaper: the
    same bytes as ``json.JSONEncoder(ensure_ascii=False).encode`` of the same dict (a unit test
    compares them), at a fraction of its cost on the hottest call."""
    # CompanyService.onboarding(), answered from the session look-up itself (it reads whether the
    # account has a confirmed company in the same indexed query): no second query per whoami.
    onboarding = None if not companies_required or rec.company_confirmed else ONBOARDING
    strength = rec.strength
    return _WHOAMI % (
        _str(rec.account_id), _str(rec.phone), _str(rec.email), _str(rec.login), _str(rec.segment),
        _str(rec.account_state), _str(utc_text(rec.account_created_at)),
        _str(rec.id), _str(state_name(strength)), int(strength.aal), ", ".join(map(_str, strength.amr)),
        _str(utc_text(rec.expires_at)), _str(utc_text(rec.authenticated_at)),
        "true" if rec.remember else "false", _str(onboarding),
    )


_WHOAMI = (
    '{"account": {"id": %s, "phone": %s, "email": %s, "login": %s, "segment": %s, "state": %s, "created_at": %s}, '
    '"session": {"id": %s, "state": %s, "aal": %d, "amr": [%s], "expires_at": %s, "authenticated_at": %s, '
    '"remember": %s}, "onboarding": %s}'
)


def _str(value: str | None) -> str:
    return "null" if value is None else encode_basestring(value)


async def _login(request: Request) -> Response:
    """``POST /login`` as the FastAPI route below answers it (which documents it and is never reached)."""
    failed = request.scope.pop(FAST_ERROR, None)
    if failed is not None:  # the fast call (``api/plain_passkey.py``) was refused: its error, answered here
        raise failed
    body = await posted_json(request, LoginIn)
    outcome = await get_services(request).login.login(body, make_context(request, "api"))
    if outcome.session is None:
        return Response(_second_step(outcome).model_dump_json(), media_type="application/json")
    return Response(signed_in_json(outcome.account, outcome.session), media_type="application/json")


# Hot calls (``plain.py``): whoami (every page and API client asks it) and the password sign-in (FastAPI's
# layers were half of its CPU besides the hash, py-spy) are answered by these plain routes, which
# ``create_app`` puts before every router (the sign-in before the middleware stack, as the passkey one);
# the FastAPI routes below only document them in OpenAPI.
PLAIN = [("/whoami", _whoami, ["GET"]), ("/login", _login, ["POST"])]


def signed_in(account: Account | AccountSummary, session: IssuedSession) -> SignedInOut:
    return SignedInOut(account=AccountOut.model_validate(account, from_attributes=True), session=session_out(session))


def signed_in_json(account: Account | AccountSummary, session: IssuedSession) -> str:
    """:func:`signed_in` as ``SignedInOut`` serialises it, written without the models (the plain
    routes' answer: a sign-in is a hot call, as whoami is)."""
    return _encode({
        "account": {"id": account.id, "phone": account.phone, "email": account.email, "login": account.login,
                    "segment": account.segment, "state": account.state, "created_at": utc_text(account.created_at)},
        "session": {"token": session.token, "expires_at": utc_text(session.expires_at),
                    "state": state_name(session.strength), "aal": session.strength.aal,
                    "amr": list(session.strength.amr)},
    })


@router.post("/login", dependencies=[SameOrigin])
async def login(body: LoginIn, ctx: ApiContext, services: ServicesDep) -> SignedInOut | SecondFactorNeeded:
    """Sign in with an identifier and password; returns a bearer session token, or the second
    step to take when the account has a second factor."""
    outcome = await services.login.login(body, ctx)
    return _second_step(outcome) if outcome.session is None else signed_in(outcome.account, outcome.session)


def _second_step(outcome: LoginOutcome) -> SecondFactorNeeded:
    assert outcome.flow_id is not None and outcome.expires_at is not None
    return SecondFactorNeeded(second_factor=PendingOut(flow_id=outcome.flow_id, methods=list(outcome.methods),
                                                       expires_at=outcome.expires_at))


@router.post("/logout", status_code=204, dependencies=[SameOrigin])
async def logout(request: Request, ctx: ApiContext, services: ServicesDep) -> Response:
    if not await services.sign_out(token_from(request, services)[0], ctx):
        raise Unauthenticated()
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
    return services.captcha.challenge(action)
