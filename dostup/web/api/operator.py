"""Operator console over JSON (SPEC §4.14): the customer search, the account card, block and unblock, and the
review queue of verification requests (SPEC §4.8).
Staff bearer tokens only (``OperatorDep``: an operator or an administrator); the use-cases audit
every call with its reason."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field
from pydantic.dataclasses import dataclass

from dostup.admin.accounts import AccountCard
from dostup.admin.audit import ActionsPage, operator_actions
from dostup.admin.search import FoundAccount, SearchInput
from dostup.admin.verifications import PendingPage
from dostup.web.api.admin import AdminDep, OperatorDep
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


class ReasonIn(BaseModel):
    reason: Annotated[str | None, Field(max_length=1000, description="why: written to the audit trail")] = None


@router.post("/accounts/{account_id}/card")
async def account_card(account_id: str, body: ReasonIn, ctx: ApiContext, services: ServicesDep,
                       staff: OperatorDep) -> AccountCard:
    """The account's card: identifiers, names, state, live sessions and its latest security events.
    The view and its reason go to the audit trail."""
    return await services.account_actions.card(staff.account_id, account_id, body.reason, ctx)


@router.post("/accounts/{account_id}/block", status_code=204, responses=errors(404, 409))
async def block_account(account_id: str, body: ReasonIn, ctx: ApiContext, services: ServicesDep,
                        staff: OperatorDep) -> Response:
    """Block the account: no sign-in by any method, its sessions ended at once (partners told).
    An operator blocks customers; an administrator also operators."""
    await services.account_actions.block(staff.account_id, staff.role, account_id, body.reason, ctx)
    return Response(status_code=204)


@router.post("/accounts/{account_id}/unblock", status_code=204, responses=errors(404, 409))
async def unblock_account(account_id: str, body: ReasonIn, ctx: ApiContext, services: ServicesDep,
                          staff: OperatorDep) -> Response:
    """Give a blocked account back as it was (its owner signs in again)."""
    await services.account_actions.unblock(staff.account_id, staff.role, account_id, body.reason, ctx)
    return Response(status_code=204)


@router.post("/accounts/{account_id}/second-factor/reset", status_code=204, responses=errors(404, 409))
async def reset_second_factor(account_id: str, body: ReasonIn, ctx: ApiContext, services: ServicesDep,
                              staff: OperatorDep) -> Response:
    """The customer lost their second factor: TOTP, recovery codes, passkeys and passcode devices are
    removed, every session ends, and the customer is told by SMS or email (409 when there is none)."""
    await services.account_actions.reset_second_factor(staff.account_id, staff.role, account_id, body.reason, ctx)
    return Response(status_code=204)


@router.get("/operator-actions")
async def list_operator_actions(services: ServicesDep, admin: AdminDep, operator_id: str = "",
                                before: str | None = None) -> ActionsPage:
    """The audit trail of one operator (or administrator), newest first, 50 a page; ``next`` is the
    ``before`` of the older page.  Administrators only."""
    return await operator_actions(services.db, operator_id, before)


# -- the review queue of «Стандартная учётная запись» (SPEC §4.8) --------------------------------

@router.post("/verifications/pending")
async def pending_verifications(body: ReasonIn, ctx: ApiContext, services: ServicesDep, staff: OperatorDep,
                                after: str | None = None) -> PendingPage:
    """The requests waiting for an operator's check, oldest first, 50 a page (``next`` is the ``after`` of
    the following page), with the profile as sent.  The view and its reason go to the audit trail."""
    return await services.verification_queue.pending(staff.account_id, body.reason, after, ctx)


@router.post("/verifications/{request_id}/approve", status_code=204, responses=errors(404, 409))
async def approve_verification(request_id: str, body: ReasonIn, ctx: ApiContext, services: ServicesDep,
                               staff: OperatorDep) -> Response:
    """The documents match: the account becomes «Стандартная» and its owner is told (409 when the request
    is no longer waiting: answered, or cancelled by a change)."""
    await services.verification_queue.decide(staff.account_id, staff.role, request_id, approved=True,
                                             reason=body.reason, ctx=ctx)
    return Response(status_code=204)


@router.post("/verifications/{request_id}/reject", status_code=204, responses=errors(404, 409))
async def reject_verification(request_id: str, body: ReasonIn, ctx: ApiContext, services: ServicesDep,
                              staff: OperatorDep) -> Response:
    """The data does not match: the level stays, and the owner is told the reason (write it for them)."""
    await services.verification_queue.decide(staff.account_id, staff.role, request_id, approved=False,
                                             reason=body.reason, ctx=ctx)
    return Response(status_code=204)


@router.post("/accounts/{account_id}/confirm-identity", status_code=204, responses=errors(404, 409))
async def confirm_identity(account_id: str, body: ReasonIn, ctx: ApiContext, services: ServicesDep,
                           staff: OperatorDep) -> Response:
    """The customer showed the passport and SNILS in a service centre and they match the checked profile:
    «Стандартная» becomes «Подтверждённая» (409 ``not_standard`` below it or when confirmed already); the
    customer is told by SMS or email."""
    await services.verification_queue.confirm_identity(staff.account_id, staff.role, account_id, body.reason, ctx)
    return Response(status_code=204)
