"""Levels of assurance over JSON (SPEC §4.8): the full profile and its check, the service catalogue, and the
external registry's callback.  Only where levels are on (the gosuslugi preset, or ``DOSTUP_LEVELS__ENABLED``);
elsewhere every endpoint is 404.

``PUT /api/v1/account/identity`` takes the same body as the page «Заполнить профиль» posts
(:class:`IdentityIn`), saves it and sends it for the check; the answer comes later (the level in
``GET /api/v1/account/status`` and ``…/identity``, and a message by SMS or email).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request, Response
from pydantic import Field

from dostup.accounts.catalogue import Catalogue
from dostup.core.signatures import SIGNATURE_HEADER, TIMESTAMP_HEADER
from dostup.selfservice.verification.service import IdentityView
from dostup.web.api.schemas import _In, errors
from dostup.web.deps import ApiContext, SameOrigin, ServicesDep, SessionDep

router = APIRouter(tags=["levels"], responses=errors(401, 404, 422))
_S = Annotated[str | None, Field(max_length=200)]


class IdentityIn(_In):
    """Every field of «Стандартная учётная запись»: names («Нет отчества» instead of a middle name), gender
    (``male``/``female``), birth date (``YYYY-MM-DD`` or ``DD.MM.YYYY``) and place, citizenship (ISO 3166-1
    alpha-2), the passport (series, number, issue date, division code ``NNN-NNN``, issuer) and the SNILS."""

    family_name: _S = None
    given_name: _S = None
    middle_name: _S = None
    no_middle_name: bool = False
    gender: Annotated[str | None, Field(max_length=16)] = None
    birth_date: Annotated[str | None, Field(max_length=32)] = None
    birth_place: Annotated[str | None, Field(max_length=400)] = None
    citizenship: Annotated[str | None, Field(max_length=8)] = None
    passport_series: Annotated[str | None, Field(max_length=32)] = None
    passport_number: Annotated[str | None, Field(max_length=32)] = None
    passport_issued_on: Annotated[str | None, Field(max_length=32)] = None
    passport_division_code: Annotated[str | None, Field(max_length=32)] = None
    passport_issuer: Annotated[str | None, Field(max_length=400)] = None
    snils: Annotated[str | None, Field(max_length=32)] = None


@router.get("/account/identity")
async def get_identity(services: ServicesDep, rec: SessionDep) -> IdentityView:
    """The full profile, the level and the latest check (``status.verification``: ``submitted``,
    ``approved``, ``rejected`` with the verifier's reason, or ``cancelled`` after a change)."""
    return await services.verification.view(rec.account_id)


@router.put("/account/identity", dependencies=[SameOrigin], responses=errors(409, 429))
async def put_identity(body: IdentityIn, ctx: ApiContext, services: ServicesDep, rec: SessionDep) -> IdentityView:
    """Save the full profile and send it for the check (``sent: true``; the same data while it is checked or
    waits is not sent again).  422 names the bad fields (``errors`` on the page), 409 ``snils_taken``.
    Changing a checked field of a «Стандартная» account lowers it (``level_lowered: true``)."""
    return await services.verification.submit(rec.account_id, body.model_dump(), ctx)


@router.get("/account/services")
async def get_services_catalogue(services: ServicesDep, rec: SessionDep) -> Catalogue:
    """The service catalogue at the account's level: what is available, what the next level unlocks."""
    return await services.verification.catalogue(rec.account_id)


@router.post("/verification/registry/callback", status_code=204, responses=errors(400, 409, 413))
async def registry_callback(request: Request, ctx: ApiContext, services: ServicesDep) -> Response:
    """The external registry's answer to a request Dostup sent it, signed with the shared secret
    (``X-Dostup-Timestamp``, ``X-Dostup-Signature``; 401 if the signature or its time is wrong, 409 if
    the request is answered already).  No session: the signature is the authentication."""
    await services.verification.registry_answer(await request.body(), request.headers.get(TIMESTAMP_HEADER),
                                                request.headers.get(SIGNATURE_HEADER), ctx)
    return Response(status_code=204)
