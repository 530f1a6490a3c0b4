"""Social sign-in over JSON (issue 11), for a mobile app: the same use-cases as the pages.

1. ``POST /social/{id}/start`` (``purpose``: ``login``; ``link`` or ``reauth`` with a bearer
   token) answers ``flow_id`` and ``authorization_url``; the app opens the URL in a browser tab;
2. the provider sends the browser to ``{DOSTUP_PUBLIC_URL}/social/{id}/callback?state=…&code=…``;
   the app takes ``state``, ``code`` (or ``error``, and VK ID's ``device_id``) from that URL and
3. posts them to ``POST /social/{id}/callback``: a session (or the second step to take), a
   registration to complete (``registration.flow_id`` with the provider's data to prefill), the
   link made, or — for ``reauth`` — the rotated session.
"""

from __future__ import annotations

from dataclasses import fields

from fastapi import APIRouter
from fastapi.responses import Response
from pydantic import BaseModel, Field

from dostup.core.clock import UtcTime
from dostup.selfservice.login.flow import LoginOutcome
from dostup.selfservice.methods.social.service import Linked, Reauthenticated, SignupNeeded
from dostup.selfservice.registration.flow import RegistrationInput, RegistrationView
from dostup.selfservice.registration.service import Completed
from dostup.web.api.auth import signed_in
from dostup.web.api.schemas import (
    PendingOut,
    RegistrationIn,
    SecondFactorNeeded,
    SessionOut,
    SignedInOut,
    _In,
    errors,
    session_out,
)
from dostup.web.deps import ApiContext, OptionalSessionDep, SameOrigin, ServicesDep, SessionDep

router = APIRouter(tags=["social"], responses=errors(401, 403, 404, 409, 410, 422, 429, 503))


class ProviderOut(BaseModel):
    id: str
    kind: str
    name: str
    icon: str


class StartIn(_In):
    purpose: str = Field(default="login", max_length=16, description="login, link or reauth")
    return_to: str | None = Field(default=None, max_length=512)
    remember: bool = False


class StartOut(BaseModel):
    flow_id: str = Field(description="the `state` the provider sends back")
    authorization_url: str


class CallbackIn(_In):
    state: str | None = Field(default=None, max_length=64)
    code: str | None = Field(default=None, max_length=2048)
    error: str | None = Field(default=None, max_length=128)
    device_id: str | None = Field(default=None, max_length=256, description="VK ID's device_id from the callback")


class SignupOut(BaseModel):
    flow_id: str
    provider: str
    prefill: dict[str, str]


class RegistrationNeeded(BaseModel):
    registration: SignupOut


class LinkedOut(BaseModel):
    linked: str


class ReauthOut(BaseModel):
    session: SessionOut


class MethodOut(BaseModel):
    provider: str
    name: str
    icon: str
    linked_at: UtcTime | None


class MethodsOut(BaseModel):
    has_password: bool
    providers: list[MethodOut]


@router.get("/social/providers")
async def providers(services: ServicesDep) -> list[ProviderOut]:
    """The configured providers («Войти через {name}»)."""
    return [ProviderOut(id=p.id, kind=p.kind, name=p.name, icon=p.icon) for p in services.social.providers]


@router.post("/social/{provider_id}/start", dependencies=[SameOrigin])
async def start(
    provider_id: str, body: StartIn, ctx: ApiContext, services: ServicesDep, session: OptionalSessionDep
) -> StartOut:
    started = await services.social.start(
        provider_id, body.purpose, ctx, session if body.purpose != "login" else None, body.return_to, body.remember
    )
    return StartOut(flow_id=started.flow_id, authorization_url=started.url)


@router.post("/social/{provider_id}/callback", dependencies=[SameOrigin])
async def callback(
    provider_id: str, body: CallbackIn, ctx: ApiContext, services: ServicesDep, session: OptionalSessionDep
) -> SignedInOut | SecondFactorNeeded | RegistrationNeeded | LinkedOut | ReauthOut:
    answered = await services.social.callback(
        provider_id, body.state, body.code, body.error, ctx, session, body.device_id
    )
    result = answered.result
    if isinstance(result, LoginOutcome):
        if result.session is None:
            assert result.flow_id is not None and result.expires_at is not None
            return SecondFactorNeeded(
                second_factor=PendingOut(
                    flow_id=result.flow_id, methods=list(result.methods), expires_at=result.expires_at
                )
            )
        return signed_in(result.account, result.session)
    if isinstance(result, SignupNeeded):
        signup = await services.social_registration.view(result.flow_id)
        return RegistrationNeeded(
            registration=SignupOut(flow_id=result.flow_id, provider=result.provider, prefill=signup.prefill)
        )
    if isinstance(result, Linked):
        return LinkedOut(linked=result.provider)
    assert isinstance(result, Reauthenticated)
    return ReauthOut(session=session_out(result.session))


@router.get("/registration/social/{flow_id}")
async def signup(flow_id: str, services: ServicesDep) -> SignupOut:
    s = await services.social_registration.view(flow_id)
    return SignupOut(flow_id=s.flow_id, provider=s.provider.id, prefill=s.prefill)


def social_input(body: RegistrationInput) -> RegistrationInput:
    """The posted form as the use-case takes it: no password (the provider proved the person)."""
    return RegistrationInput(**{f.name: getattr(body, f.name) for f in fields(RegistrationInput)
                                if f.name not in ("password", "password_repeat")})


@router.post(
    "/registration/social/{flow_id}",
    status_code=201,
    dependencies=[SameOrigin],
    responses={200: {"model": RegistrationView}},
)
async def register(
    flow_id: str, body: RegistrationIn, ctx: ApiContext, services: ServicesDep, response: Response
) -> SignedInOut | RegistrationView:
    """The preset's form without a password: signed in at once (201) when the trusted provider proved
    the contact, else 200 with the flow waiting for the code (``POST /registration/{flow_id}/code``).
    Where the preset names a taken phone or email (not enumeration-safe), ``captcha`` is required as on
    ``POST /registration``."""
    result = await services.social_registration.register(flow_id, social_input(body), ctx)
    if isinstance(result, Completed):
        return signed_in(result.account, result.session)
    response.status_code = 200
    return result


@router.get("/settings/social")
async def methods(rec: SessionDep, services: ServicesDep) -> MethodsOut:
    """«Способы входа»: the password and each provider, linked or not."""
    m = await services.social_settings.methods(rec.account_id)
    return MethodsOut(
        has_password=m.has_password,
        providers=[
            MethodOut(provider=v.provider, name=v.name, icon=v.icon, linked_at=v.linked_at) for v in m.providers
        ],
    )


@router.delete("/settings/social/{provider_id}", status_code=204, dependencies=[SameOrigin])
async def unlink(provider_id: str, rec: SessionDep, ctx: ApiContext, services: ServicesDep) -> Response:
    """«Отвязать {name}» (re-authentication within 15 minutes; never the last way in)."""
    await services.social_settings.unlink(rec, provider_id, ctx)
    return Response(status_code=204)
