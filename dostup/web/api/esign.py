"""«Подтверждённая учётная запись» by a qualified electronic signature, over JSON (SPEC §4.8): ask for the
statement, sign it with the signature tool (CryptoPro's browser plugin, or its desktop program), send the
detached CMS signature back.  Only where levels are on and a check is configured; elsewhere every endpoint
is 404.  The page «Подтверждение электронной подписью» (``/settings/identity/signature``) posts the same
:class:`SignatureIn`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from pydantic import Field

from dostup.selfservice.verification.esign.service import MAX_SIGNATURE, Confirmed, SignatureView, Statement
from dostup.web.api.schemas import _In, errors
from dostup.web.deps import ApiContext, SameOrigin, ServicesDep, SessionDep

router = APIRouter(tags=["levels"], responses=errors(401, 404, 422))
URL = "/account/identity/signature"


class SignatureIn(_In):
    """The statement's detached CMS/PKCS#7 signature (``SignedData``, DER) in base64; line breaks and a
    ``-----BEGIN PKCS7-----`` armour are allowed."""

    signature: Annotated[str | None, Field(max_length=2 * MAX_SIGNATURE)] = None


@router.get(URL)
async def get_signature(services: ServicesDep, rec: SessionDep, flow: str | None = None) -> SignatureView:
    """The account's level, whether it may ask for a statement (``may_start``: «Стандартная»), and the
    statement of ``?flow=`` while it may be signed."""
    return await services.esign.view(rec.account_id, flow)


@router.post(URL, status_code=201, dependencies=[SameOrigin], responses=errors(409))
async def start_signature(ctx: ApiContext, services: ServicesDep, rec: SessionDep) -> Statement:
    """A new «Заявление на подтверждение учётной записи»: sign ``text``'s UTF-8 bytes exactly (a detached
    signature) before ``expires_at``.  409 ``not_standard`` unless the account is «Стандартная»."""
    return await services.esign.start(rec.account_id, ctx)


@router.post(URL + "/{flow_id}", dependencies=[SameOrigin], responses=errors(409, 410, 503))
async def sign_statement(flow_id: str, body: SignatureIn, ctx: ApiContext, services: ServicesDep,
                         rec: SessionDep) -> Confirmed:
    """The signed statement: the account becomes «Подтверждённая» when the certificate is valid, trusted,
    meant for signing and names the profile's person (SNILS, surname, «Имя Отчество»).  422 says what is
    wrong (``signature_<reason>``, ``other_person``, ``bad_base64``…), 409 ``statement_used`` /
    ``statement_exhausted`` (five refused signatures), 410 the statement expired, 503 the verification
    service could not answer."""
    return await services.esign.sign(rec.account_id, flow_id, body.signature, ctx)
