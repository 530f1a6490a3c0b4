"""Linked contracts over JSON: the same use-cases as the «Лицевые счета» pages.

``POST /contracts`` with ``method="secret"`` links at once (201, ``state="linked"``); with
``method="sms"`` it answers ``state="code_sent"`` and a flow *whether or not the contract exists*
(no oracle), and ``POST /contracts/link/{flow}/confirm`` with the code links it.  A contract linked
to another cabinet is 409 ``linked_elsewhere`` — only after the proof succeeded.
"""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter, Depends, Request, Response

from dostup.selfservice.contracts import LinkedContract, LinkFlowView, LinkInput
from dostup.web.api.schemas import CodeIn, ErrorBody
from dostup.web.api.schemas_contracts import ContractOut, ContractsOut, LinkFlowOut, LinkIn, LinkStartOut
from dostup.web.deps import ServicesDep, SessionDep, api_same_origin, make_context

router = APIRouter(prefix="/contracts", tags=["contracts"], responses={
    401: {"model": ErrorBody}, 403: {"model": ErrorBody}, 404: {"model": ErrorBody}, 409: {"model": ErrorBody},
    410: {"model": ErrorBody}, 422: {"model": ErrorBody}, 429: {"model": ErrorBody}, 503: {"model": ErrorBody},
})
_writes = [Depends(api_same_origin)]


def _contract(view: LinkedContract) -> ContractOut:
    return ContractOut(**asdict(view))


def _flow(request: Request, services: ServicesDep, view: LinkFlowView) -> LinkFlowOut:
    message = services.catalog.text("contracts.code_sent", make_context(request, "api").locale)
    return LinkFlowOut(message=message, **asdict(view))


@router.get("")
async def list_contracts(services: ServicesDep, rec: SessionDep) -> ContractsOut:
    """The contracts and cards linked to this cabinet (cards masked)."""
    return ContractsOut(items=[_contract(v) for v in await services.contracts.list(rec.account_id)])


@router.post("", status_code=201, dependencies=_writes)
async def link_contract(body: LinkIn, request: Request, services: ServicesDep, rec: SessionDep) -> LinkStartOut:
    """Link by number with proof of ownership: the secret at once, or an SMS code to the phone on file."""
    inp = LinkInput(kind=body.kind, number=body.number, method=body.method, secret=body.secret)
    started = await services.contracts.start(rec.account_id, inp, make_context(request, "api"))
    return LinkStartOut(
        state="linked" if started.contract is not None else "code_sent",
        contract=_contract(started.contract) if started.contract else None,
        flow=_flow(request, services, started.flow) if started.flow else None,
    )


@router.get("/link/{flow_id}")
async def get_link_flow(flow_id: str, request: Request, services: ServicesDep, rec: SessionDep) -> LinkFlowOut:
    return _flow(request, services, await services.contracts.flow(rec.account_id, flow_id))


@router.post("/link/{flow_id}/confirm", status_code=201, dependencies=_writes)
async def confirm_link(flow_id: str, body: CodeIn, request: Request, services: ServicesDep,
                       rec: SessionDep) -> ContractOut:
    """The SMS code: links the contract (409 ``linked_elsewhere`` if another cabinet has it)."""
    view = await services.contracts.confirm(rec.account_id, flow_id, body.code, make_context(request, "api"))
    return _contract(view)


@router.post("/link/{flow_id}/resend", dependencies=_writes)
async def resend_link_code(flow_id: str, request: Request, services: ServicesDep, rec: SessionDep) -> LinkFlowOut:
    view = await services.contracts.resend(rec.account_id, flow_id, make_context(request, "api"))
    return _flow(request, services, view)


@router.delete("/{link_id}", status_code=204, dependencies=_writes)
async def unlink_contract(link_id: str, request: Request, services: ServicesDep, rec: SessionDep) -> Response:
    """Unlink; another account's link answers 404 like an unknown id."""
    await services.contracts.unlink(rec.account_id, link_id, make_context(request, "api"))
    return Response(status_code=204)
