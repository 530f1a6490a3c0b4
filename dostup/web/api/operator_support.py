"""The operator console's support requests over JSON (SPEC §4.14): the queue, reading one, answering, closing.
Staff bearer tokens of a two-factor sign-in only (``OperatorDep``); reading, answering and closing are
audited with their reason (``dostup.admin.support``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Response
from pydantic import Field

from dostup.admin.support import QueuePage, StaffRequestView
from dostup.web.api.admin import OperatorDep
from dostup.web.api.operator import ReasonIn
from dostup.web.api.schemas import errors
from dostup.web.api.support import SupportReplyIn
from dostup.web.deps import ApiContext, ServicesDep

router = APIRouter(prefix="/admin/support", tags=["operator"], responses=errors(400, 401, 403, 413, 422))


class AnswerIn(SupportReplyIn):
    reason: Annotated[str | None, Field(max_length=1000, description="why: written to the audit trail")] = None


@router.get("/requests")
async def waiting_requests(services: ServicesDep, staff: OperatorDep, after: str | None = None) -> QueuePage:
    """Requests waiting for support, the longest-waiting first, 50 a page (``next`` is the ``after`` of the
    following page): ids, topics and times, no texts."""
    return await services.support_queue.waiting(after)


@router.post("/requests/{request_id}/read", responses=errors(404))
async def read_request(request_id: str, body: ReasonIn, ctx: ApiContext, services: ServicesDep,
                       staff: OperatorDep) -> StaffRequestView:
    """The request with its messages; the view and its reason go to the audit trail."""
    return await services.support_queue.read(staff.account_id, request_id, body.reason, ctx)


@router.post("/requests/{request_id}/answer", responses=errors(404, 409))
async def answer_request(request_id: str, body: AnswerIn, ctx: ApiContext, services: ServicesDep,
                         staff: OperatorDep) -> StaffRequestView:
    """Answer: the text goes to the request's page and the customer is told by SMS or email (409 ``closed``)."""
    return await services.support_queue.answer(staff.account_id, staff.role, request_id, body.text, body.reason, ctx)


@router.post("/requests/{request_id}/close", status_code=204, responses=errors(404, 409))
async def close_request(request_id: str, body: ReasonIn, ctx: ApiContext, services: ServicesDep,
                        staff: OperatorDep) -> Response:
    """Close the request: it takes no more messages (409 when closed already)."""
    await services.support_queue.close(staff.account_id, staff.role, request_id, body.reason, ctx)
    return Response(status_code=204)
