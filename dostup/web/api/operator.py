"""Operator console over JSON (SPEC §4.14): the customer search.  Staff bearer tokens only
(``OperatorDep``: an operator or an administrator); the use-case audits every search."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from pydantic import BaseModel, Field
from pydantic.dataclasses import dataclass

from dostup.admin.search import FoundAccount, SearchInput
from dostup.web.api.admin import OperatorDep
from dostup.web.api.schemas import errors
from dostup.web.deps import ApiContext, ServicesDep

router = APIRouter(prefix="/admin", tags=["operator"], responses=errors(400, 401, 403, 413, 422))


@dataclass(frozen=True)
class SearchIn(SearchInput):
    by: Annotated[str | None, Field(max_length=16, description="phone, email, login, snils, inn, contract or card")] = None
    value: Annotated[str | None, Field(max_length=256)] = None
    reason: Annotated[str | None, Field(max_length=1000, description="why: written to the audit trail")] = None


class FoundOut(BaseModel):
    items: list[FoundAccount]


@router.post("/accounts/search")
async def search_accounts(body: SearchIn, ctx: ApiContext, services: ServicesDep, staff: OperatorDep) -> FoundOut:
    """Find a customer's account by phone, email, login, SNILS, INN, contract or card number (exact,
    normalised as the customer's forms do); the search and what it showed go to the audit trail.

    An operator or administrator with a bearer token; the value is in the body, never in the URL.
    """
    return FoundOut(items=await services.account_search.find(staff.account_id, body, ctx))
