"""Passkeys over JSON, so a mobile app can use platform passkeys (WebAuthn §5; SPEC §4.9).

Each ceremony is two calls: ``…/options`` answers ``flow_id`` and ``options`` (the
``publicKey`` member for ``navigator.credentials.get``/``create``, base64url-encoded as in
``PublicKeyCredential.toJSON()``; valid 5 minutes, single-use), then the client posts the
``PublicKeyCredential`` as JSON with that ``flow_id``.  A usernameless sign-in's ``flow_id`` is
signed, not stored (``login/ceremony.py``: ``SignedFlows``); its per-IP bound is counted when it
is answered, so its options never answer 429.

- sign-in: ``POST /login/passkey/options`` (usernameless; with ``flow_id`` of a sign-in waiting
  for its second step, the passkeys of that account), then ``POST /login/passkey``;
- re-authentication: ``POST /reauth/passkey/options``, ``POST /reauth/passkey`` (raises the
  session to ``aal2`` and rotates its token);
- settings: list, add (after re-authentication), rename, delete (after re-authentication).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from pydantic.dataclasses import dataclass

from dostup.core.clock import UtcTime, utc_text
from dostup.core.errors import ValidationFailed
from dostup.selfservice.login.ceremony import Pending
from dostup.selfservice.methods.passkey.settings import PasskeyView
from dostup.web.api.auth import signed_in, signed_in_json
from dostup.web.api.plain_passkey import FAST_ERROR, api_context
from dostup.web.api.schemas import NO_CONTENT, SessionOut, SignedInOut, _In, errors, session_out
from dostup.web.deps import (
    AnySessionDep,
    ApiContext,
    SameOrigin,
    ServicesDep,
    SessionDep,
    api_same_origin,
    get_services,
    require_unrestricted,
)

router = APIRouter(tags=["passkeys"], dependencies=[SameOrigin], responses=errors(401, 403, 404, 409, 410, 422, 429))

METHOD = "passkey"


class OptionsIn(_In):
    flow_id: str | None = Field(default=None, max_length=64,
                                description="a sign-in waiting for its second step (from POST /login)")


class CeremonyOut(BaseModel):
    flow_id: str = Field(description="post the answer with this id (single-use)")
    options: dict[str, Any] = Field(description="the WebAuthn `publicKey` options, binary members base64url")
    expires_at: UtcTime


class AnswerIn(_In):
    flow_id: str = Field(max_length=64)
    credential: Any = Field(description="the PublicKeyCredential as JSON (toJSON())")
    remember: bool = False


class AddIn(_In):
    flow_id: str = Field(max_length=64)
    credential: Any = Field(description="the PublicKeyCredential from navigator.credentials.create, as JSON")
    name: str | None = Field(default=None, max_length=200)


class RenameIn(_In):
    name: str | None = Field(default=None, max_length=200)


@dataclass(frozen=True)
class PasskeyOut(PasskeyView):
    device_type: Annotated[str, Field(description="single_device (hwk) or multi_device (a synced passkey: swk)")]
    attachment: Annotated[str | None,
                          Field(description="platform, cross-platform, or null when the browser did not say")]


class PasskeysOut(BaseModel):
    items: list[PasskeyOut]


def _ceremony(p: Pending) -> CeremonyOut:
    return CeremonyOut(flow_id=p.flow_id, options=p.options, expires_at=p.expires_at)


# -- the sign-in's two calls on plain Starlette routes -------------------------------------------
# As whoami (``api/auth.py``): a passkey sign-in is two small requests, and FastAPI's per-request
# machinery (dependency solving, body models, exit stack) cost more CPU than the ceremony itself.
# These routes (``PLAIN``) come first in the app, so they answer; the FastAPI routes below document the
# same calls in OpenAPI (and are never reached).  Errors go through the same handlers.

_encode = json.JSONEncoder(ensure_ascii=False).encode


async def _body(request: Request) -> dict[str, Any]:
    failed = request.scope.pop(FAST_ERROR, None)
    if failed is not None:  # the fast path (``api/plain_passkey.py``) ran this call: its refusal, answered here
        raise failed
    await api_same_origin(request)
    raw = await request.body()
    try:
        body = json.loads(raw) if raw.strip() else {}
    except ValueError:
        raise ValidationFailed("error.invalid") from None
    if not isinstance(body, dict):
        raise ValidationFailed("error.invalid")
    flow_id = body.get("flow_id")
    if flow_id is not None and (not isinstance(flow_id, str) or len(flow_id) > 64 or not (flow_id.isascii() and flow_id.isprintable())):
        raise ValidationFailed("error.invalid", field="flow_id")
    return body


async def _login_options_fast(request: Request) -> Response:
    body = await _body(request)
    p = await get_services(request).login.begin(METHOD, api_context(request), body.get("flow_id"))
    return Response(_encode({"flow_id": p.flow_id, "options": p.options, "expires_at": utc_text(p.expires_at)}),
                    media_type="application/json")


async def _login_fast(request: Request) -> Response:
    body = await _body(request)
    if not isinstance(body.get("flow_id"), str) or not isinstance(body.get("remember", False), bool):
        raise ValidationFailed("error.invalid", field="flow_id")
    outcome = await get_services(request).login.finish(body["flow_id"], body.get("credential"),
                                                       api_context(request),
                                                       remember=bool(body.get("remember", False)))
    assert outcome.session is not None
    return Response(signed_in_json(outcome.account, outcome.session), media_type="application/json")


PLAIN = [("/login/passkey/options", _login_options_fast, ["POST"]), ("/login/passkey", _login_fast, ["POST"])]


@router.post("/login/passkey/options")
async def login_options(ctx: ApiContext, services: ServicesDep, body: OptionsIn | None = None) -> CeremonyOut:
    """Start a passkey sign-in (usernameless), or the passkey step of a sign-in waiting for it."""
    return _ceremony(await services.login.begin(METHOD, ctx, body.flow_id if body else None))


@router.post("/login/passkey")
async def login(body: AnswerIn, ctx: ApiContext, services: ServicesDep) -> SignedInOut:
    """Finish a passkey sign-in: a session with ``aal`` 2 and ``amr`` [hwk|swk, user, mfa]."""
    outcome = await services.login.finish(body.flow_id, body.credential, ctx, remember=body.remember)
    assert outcome.session is not None
    return signed_in(outcome.account, outcome.session)


@router.post("/reauth/passkey/options")
async def reauth_options(ctx: ApiContext, services: ServicesDep, rec: AnySessionDep) -> CeremonyOut:
    require_unrestricted(rec)
    return _ceremony(await services.reauth.begin_ceremony(rec, METHOD, ctx))


@router.post("/reauth/passkey")
async def reauth(body: AnswerIn, ctx: ApiContext, services: ServicesDep, rec: AnySessionDep) -> SessionOut:
    """Re-authenticate with a passkey; returns the rotated token (``aal`` 2)."""
    require_unrestricted(rec)
    return session_out(await services.reauth.finish_ceremony(rec, body.flow_id, body.credential, ctx))


@router.get("/settings/passkeys")
async def passkeys(services: ServicesDep, rec: SessionDep) -> PasskeysOut:
    return PasskeysOut(items=[PasskeyOut(**asdict(v)) for v in await services.passkeys.list(rec.account_id)])


@router.post("/settings/passkeys/options")
async def add_options(ctx: ApiContext, services: ServicesDep, rec: SessionDep) -> CeremonyOut:
    """Options for ``navigator.credentials.create`` (re-authentication within 15 minutes first)."""
    return _ceremony(await services.passkeys.begin_add(rec, ctx))


@router.post("/settings/passkeys", status_code=201)
async def add(body: AddIn, ctx: ApiContext, services: ServicesDep, rec: SessionDep) -> PasskeyOut:
    """Keep the new passkey; the user's contacts are told."""
    return PasskeyOut(**asdict(await services.passkeys.finish_add(rec, body.flow_id, body.credential, body.name, ctx)))


@router.patch("/settings/passkeys/{passkey_id}", **NO_CONTENT)
async def rename(passkey_id: str, body: RenameIn, ctx: ApiContext, services: ServicesDep, rec: SessionDep) -> None:
    await services.passkeys.rename(rec, passkey_id, body.name, ctx)


@router.delete("/settings/passkeys/{passkey_id}", **NO_CONTENT)
async def remove(passkey_id: str, ctx: ApiContext, services: ServicesDep, rec: SessionDep) -> None:
    """Delete a passkey (re-authentication within 15 minutes first)."""
    await services.passkeys.remove(rec, passkey_id, ctx)
