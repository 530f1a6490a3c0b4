"""Company profiles over JSON («Список компаний»): the same use-cases as the pages.

Another account's company id answers 404 like an unknown one.  ``onboarding`` is
``"company_required"`` while the preset wants a confirmed company before the cabinet is complete.
"""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from dostup.accounts.companies import CompanyInput
from dostup.selfservice.companies import CompanyView
from dostup.web.api.schemas import CodeIn, ErrorBody
from dostup.web.api.schemas_companies import CompaniesOut, CompanyIn, CompanyOut, ConfirmedOut
from dostup.web.deps import ServicesDep, SessionDep, api_same_origin, make_context

router = APIRouter(prefix="/companies", tags=["companies"], responses={
    401: {"model": ErrorBody}, 403: {"model": ErrorBody}, 404: {"model": ErrorBody}, 409: {"model": ErrorBody},
    422: {"model": ErrorBody}, 429: {"model": ErrorBody},
})
_writes = [Depends(api_same_origin)]


def _out(view: CompanyView) -> CompanyOut:
    return CompanyOut(**asdict(view))


@router.get("")
async def list_companies(services: ServicesDep, rec: SessionDep) -> CompaniesOut:
    """The account's profiles, oldest first, each «confirmed» or «unconfirmed»."""
    items = await services.companies.list(rec.account_id)
    return CompaniesOut(companies=[_out(v) for v in items], onboarding=await services.companies.onboarding(rec.account_id))


@router.post("", status_code=201, dependencies=_writes)
async def add_company(body: CompanyIn, request: Request, services: ServicesDep, rec: SessionDep) -> CompanyOut:
    """Add a profile and send a confirmation code to its email (60 min, 5 tries)."""
    inp = CompanyInput(**body.model_dump())
    return _out(await services.companies.add(rec.account_id, inp, make_context(request, "api")))


@router.get("/{company_id}")
async def get_company(company_id: str, services: ServicesDep, rec: SessionDep) -> CompanyOut:
    return _out(await services.companies.view(rec.account_id, company_id))


@router.post("/{company_id}/confirm", dependencies=_writes)
async def confirm_company(company_id: str, body: CodeIn, request: Request, services: ServicesDep,
                          rec: SessionDep) -> ConfirmedOut:
    """Confirm the profile with the code from the email."""
    view, _completed = await services.companies.confirm(rec.account_id, company_id, body.code,
                                                        make_context(request, "api"))
    return ConfirmedOut(company=_out(view), onboarding=await services.companies.onboarding(rec.account_id))


@router.post("/{company_id}/resend", dependencies=_writes)
async def resend_code(company_id: str, request: Request, services: ServicesDep, rec: SessionDep) -> CompanyOut:
    """A new code after the cool-down; the previous one stops working."""
    return _out(await services.companies.resend(rec.account_id, company_id, make_context(request, "api")))


@router.delete("/{company_id}", status_code=204, dependencies=_writes)
async def delete_company(company_id: str, request: Request, services: ServicesDep, rec: SessionDep) -> Response:
    """«Удалить»: the profile and its pending code go; it can be added again."""
    await services.companies.delete(rec.account_id, company_id, make_context(request, "api"))
    return Response(status_code=204)
