"""Company profiles over JSON («Список компаний»): the same use-cases as the pages.

Another account's company id answers 404 like an unknown one.  ``onboarding`` is
``"company_required"`` while the preset wants a confirmed company before the cabinet is complete.
Unknown fields in a body (``confirmed_at``, ``account_id`` …) are ignored.
"""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel
from pydantic.dataclasses import dataclass

from dostup.accounts.companies import CompanyInput
from dostup.selfservice.companies import CompanyView, Onboarding
from dostup.web.api.schemas import NO_CONTENT, CodeIn, errors
from dostup.web.deps import ApiContext, SameOrigin, ServicesDep, SessionDep

router = APIRouter(prefix="/companies", tags=["companies"], responses=errors(401, 403, 404, 409, 422, 429))


@dataclass(frozen=True)
class CompanyIn(CompanyInput):
    """A new profile.  ``legal`` (ЮЛ): name, inn, kpp, ogrn, address, email; ``entrepreneur`` (ИП):
    name, inn, ogrnip, email; ``individual`` (ФЛ): name, optional inn, email."""


class CompaniesOut(BaseModel):
    companies: list[CompanyView]
    onboarding: Onboarding | None


class ConfirmedOut(BaseModel):
    company: CompanyView
    onboarding: Onboarding | None


@router.get("")
async def list_companies(services: ServicesDep, rec: SessionDep) -> CompaniesOut:
    """The account's profiles, oldest first, each «confirmed» or «unconfirmed»."""
    items = await services.companies.list(rec.account_id)
    return CompaniesOut(companies=items, onboarding=await services.companies.onboarding(rec.account_id))


@router.post("", status_code=201, dependencies=[SameOrigin])
async def add_company(body: CompanyIn, ctx: ApiContext, services: ServicesDep, rec: SessionDep) -> CompanyView:
    """Add a profile and send a confirmation code to its email (10 min, 5 tries)."""
    return await services.companies.add(rec.account_id, body, ctx)


@router.get("/{company_id}")
async def get_company(company_id: str, services: ServicesDep, rec: SessionDep) -> CompanyView:
    return await services.companies.view(rec.account_id, company_id)


@router.post("/{company_id}/confirm", dependencies=[SameOrigin])
async def confirm_company(company_id: str, body: CodeIn, ctx: ApiContext, services: ServicesDep,
                          rec: SessionDep) -> ConfirmedOut:
    """Confirm the profile with the code from the email."""
    view, _completed = await services.companies.confirm(rec.account_id, company_id, body.code, ctx)
    return ConfirmedOut(company=view, onboarding=await services.companies.onboarding(rec.account_id))


@router.post("/{company_id}/resend", dependencies=[SameOrigin])
async def resend_code(company_id: str, ctx: ApiContext, services: ServicesDep, rec: SessionDep) -> CompanyView:
    """A new code after the cool-down; the previous one stops working."""
    return await services.companies.resend(rec.account_id, company_id, ctx)


@router.delete("/{company_id}", **NO_CONTENT, dependencies=[SameOrigin])
async def delete_company(company_id: str, ctx: ApiContext, services: ServicesDep, rec: SessionDep) -> None:
    """«Удалить»: the profile and its pending code go; it can be added again."""
    await services.companies.delete(rec.account_id, company_id, ctx)
