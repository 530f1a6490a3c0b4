"""Linked contracts over JSON: the same use-cases as the «Лицевые счета» pages.

``POST /contracts`` with ``method="secret"`` links at once (201, ``state="linked"``); with
``method="sms"`` it answers ``state="code_sent"`` and a flow *whether or not the contract exists*
(no oracle), and ``POST /contracts/link/{flow}/confirm`` with the code links it.  A contract linked
to another cabinet is 409 ``linked_elsewhere`` — only after the proof succeeded.  Unknown fields in
a body are ignored (no mass assignment).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field
from pydantic.dataclasses import dataclass

from dostup.core.context import Context
from dostup.selfservice.contracts import LinkedContract, LinkFlowView, LinkInput
from dostup.services import Services
from dostup.web.api.schemas import NO_CONTENT, CodeIn, errors
from dostup.web.deps import ApiContext, SameOrigin, ServicesDep, SessionDep

router = APIRouter(prefix="/contracts", tags=["contracts"], responses=errors(401, 403, 404, 409, 410, 422, 429, 503))


@dataclass(frozen=True)
class LinkIn(LinkInput):
    """``method="sms"``: a code goes to the phone on file; ``"secret"``: the PIN or last bill's amount."""

    kind: Annotated[str | None, Field(max_length=16, description='"contract" or "card"')] = None
    number: Annotated[str | None, Field(max_length=256)] = None
    method: Annotated[str | None, Field(max_length=16, description='"sms" or "secret"')] = "sms"
    secret: Annotated[str | None, Field(max_length=256)] = None


@dataclass(frozen=True)
class ContractOut(LinkedContract):
    number: Annotated[str, Field(description="A contract number as it is; a card number masked (2202 **** **** 1234)")]


class ContractsOut(BaseModel):
    items: list[ContractOut]


@dataclass(frozen=True)
class LinkFlowOut(LinkFlowView):
    message: str = Field(description="«Если договор найден, код отправлен на телефон, указанный в договоре»")


class LinkStartOut(BaseModel):
    state: Literal["linked", "code_sent"]
    contract: ContractOut | None = None
    flow: LinkFlowOut | None = None


def _flow(ctx: Context, services: Services, view: LinkFlowView) -> LinkFlowOut:
    return LinkFlowOut(message=services.catalog.text("contracts.code_sent", ctx.locale), **asdict(view))


@router.get("")
async def list_contracts(services: ServicesDep, rec: SessionDep) -> ContractsOut:
    """The contracts and cards linked to this cabinet (cards masked)."""
    return ContractsOut(items=[ContractOut(**asdict(c)) for c in await services.contracts.list(rec.account_id)])


@router.post("", status_code=201, dependencies=[SameOrigin])
async def link_contract(body: LinkIn, ctx: ApiContext, services: ServicesDep, rec: SessionDep) -> LinkStartOut:
    """Link by number with proof of ownership: the secret at once, or an SMS code to the phone on file."""
    started = await services.contracts.start(rec.account_id, body, ctx)
    return LinkStartOut(
        state="linked" if started.contract is not None else "code_sent",
        contract=ContractOut(**asdict(started.contract)) if started.contract else None,
        flow=_flow(ctx, services, started.flow) if started.flow else None,
    )


@router.get("/link/{flow_id}")
async def get_link_flow(flow_id: str, ctx: ApiContext, services: ServicesDep, rec: SessionDep) -> LinkFlowOut:
    return _flow(ctx, services, await services.contracts.flow(rec.account_id, flow_id))


@router.post("/link/{flow_id}/confirm", status_code=201, dependencies=[SameOrigin])
async def confirm_link(flow_id: str, body: CodeIn, ctx: ApiContext, services: ServicesDep,
                       rec: SessionDep) -> ContractOut:
    """The SMS code: links the contract (409 ``linked_elsewhere`` if another cabinet has it)."""
    return ContractOut(**asdict(await services.contracts.confirm(rec.account_id, flow_id, body.code, ctx)))


@router.post("/link/{flow_id}/resend", dependencies=[SameOrigin])
async def resend_link_code(flow_id: str, ctx: ApiContext, services: ServicesDep, rec: SessionDep) -> LinkFlowOut:
    return _flow(ctx, services, await services.contracts.resend(rec.account_id, flow_id, ctx))


@router.delete("/{link_id}", **NO_CONTENT, dependencies=[SameOrigin])
async def unlink_contract(link_id: str, ctx: ApiContext, services: ServicesDep, rec: SessionDep) -> None:
    """Unlink; another account's link answers 404 like an unknown id."""
    await services.contracts.unlink(rec.account_id, link_id, ctx)
