"""«Подтвердить личность онлайн через банк» over JSON (SPEC §4.8), for a mobile app: the same use-cases as the
page ``/settings/identity/bank``.  Only where levels are on; elsewhere every endpoint is 404.

1. ``POST /account/identity/bank/{id}/start`` answers ``flow_id`` and ``authorization_url``; the app opens the
   URL in a browser tab, where the customer signs in at the bank and agrees to share their data;
2. the bank sends the browser to ``{DOSTUP_PUBLIC_URL}/settings/identity/bank/{id}/callback?state=…&code=…``;
   the app takes ``state`` and ``code`` (or ``error``) from that URL and
3. posts them to ``POST /account/identity/bank/{id}/callback`` with the same bearer token: the account is
   «Подтверждённая» when the bank's data match the checked profile.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from pydantic import Field

from dostup.selfservice.verification.bank import BankStarted, BankView
from dostup.web.api.schemas import _In, errors
from dostup.web.deps import ApiContext, SameOrigin, ServicesDep, SessionDep

router = APIRouter(tags=["levels"], responses=errors(401, 404))
URL = "/account/identity/bank"


class BankCallbackIn(_In):
    state: Annotated[str | None, Field(max_length=64, description="the `flow_id` the bank sends back")] = None
    code: Annotated[str | None, Field(max_length=2048)] = None
    error: Annotated[str | None, Field(max_length=128, description="the bank's `error`, e.g. access_denied")] = None


@router.get(URL)
async def banks(services: ServicesDep, rec: SessionDep) -> BankView:
    """The banks that confirm identity and whether confirmation may start now (``may_start``: a «Стандартная»
    account and at least one bank)."""
    return await services.bank.view(rec.account_id)


@router.post(URL + "/{provider_id}/start", dependencies=[SameOrigin], responses=errors(409, 503))
async def start(provider_id: str, ctx: ApiContext, services: ServicesDep, rec: SessionDep) -> BankStarted:
    """Start confirmation at the bank (10 minutes, bound to this session).  404 ``provider_unknown`` for a
    provider that does not confirm identity; 409 ``not_standard`` unless the account is «Стандартная»."""
    return await services.bank.start(rec.account_id, rec.id, provider_id, ctx)


@router.post(URL + "/{provider_id}/callback", dependencies=[SameOrigin],
             responses=errors(400, 403, 409, 410, 422, 503))
async def callback(provider_id: str, body: BankCallbackIn, ctx: ApiContext, services: ServicesDep,
                   rec: SessionDep) -> BankView:
    """The bank's answer: ``level`` ``confirmed`` when its names, birth date and (where it gives them) SNILS and
    passport match the checked profile.  409 ``claims_mismatch`` / ``claims_missing`` (the level unchanged),
    404 ``state_invalid``, 409 ``ceremony_spent`` (answered already), 410 ``flow_expired``, 403
    ``access_denied`` (refused at the bank), 400 ``provider_refused``, 503 ``provider_unavailable``."""
    return await services.bank.callback(rec.account_id, rec.id, provider_id, body.state, body.code, body.error, ctx)
