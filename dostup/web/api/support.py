"""«Обращения» over JSON (SPEC §4.14): the customer's support requests, the same use-cases as the pages.

``POST /api/v1/support/requests`` takes the same body as the page's form (:class:`SupportRequestIn`); a reply
takes :class:`SupportReplyIn`.  Another account's request id answers 404 like an unknown one; unknown fields
(``state``, ``account_id`` …) are ignored.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from pydantic import BaseModel, Field

from dostup.accounts.history import DEFAULT_PER_PAGE
from dostup.accounts.support import MAX_TEXT, TOPICS, RequestLine, RequestView
from dostup.web.api.schemas import _In, errors
from dostup.web.deps import ApiContext, SameOrigin, ServicesDep, SessionDep

router = APIRouter(prefix="/support", tags=["support"], responses=errors(401, 403, 404, 422))
# Room for a text of MAX_TEXT characters whose line breaks a browser sent as CR LF; the use-case counts the
# characters and answers «не длиннее 2000 символов» past MAX_TEXT.
_Text = Annotated[str | None, Field(max_length=4 * MAX_TEXT, description=f"1 to {MAX_TEXT} characters")]


class SupportRequestIn(_In):
    """A new request: the topic (``access``, ``profile``, ``contracts``, ``notifications`` or ``other``) and the
    text."""

    topic: Annotated[str | None, Field(max_length=32)] = None
    text: _Text = None


class SupportReplyIn(_In):
    text: _Text = None


class SupportListOut(BaseModel):
    requests: list[RequestLine]  # newest first
    per_page: int
    total: int
    next: str | None = Field(description="cursor of the older page: pass it as ``before``")
    prev: str | None = Field(description="cursor of the newer page: pass it as ``after``")
    topics: list[str]
    max_open: int  # requests not closed yet an account may have
    requests_per_day: int


@router.get("/requests")
async def list_requests(services: ServicesDep, rec: SessionDep, before: str | None = None, after: str | None = None,
                        per_page: int = DEFAULT_PER_PAGE) -> SupportListOut:
    """The account's requests, newest first, each ``open`` (waits for support), ``answered`` or ``closed``; keyset
    pages as the histories' (``per_page`` 1..100, ``next`` → ``before``, ``prev`` → ``after``)."""
    support = services.support
    page = await support.list(rec.account_id, before=before, after=after, per_page=per_page)
    return SupportListOut(requests=page.items, per_page=page.per_page, total=page.total, next=page.next,
                          prev=page.prev, topics=list(TOPICS), max_open=support.max_open,
                          requests_per_day=support.per_day)


@router.post("/requests", status_code=201, dependencies=[SameOrigin], responses=errors(409, 429))
async def create_request(body: SupportRequestIn, ctx: ApiContext, services: ServicesDep,
                         rec: SessionDep) -> RequestView:
    """Write to support.  409 ``too_many_open`` while the account has its limit of requests not closed yet,
    429 past the day's limit (``Retry-After``); 422 names the bad field."""
    return await services.support.create(rec.account_id, body.topic, body.text, ctx)


@router.get("/requests/{request_id}")
async def get_request(request_id: str, services: ServicesDep, rec: SessionDep) -> RequestView:
    """The request with its messages, the customer's and support's, in order."""
    return await services.support.view(rec.account_id, request_id)


@router.post("/requests/{request_id}/messages", dependencies=[SameOrigin], responses=errors(409))
async def reply(request_id: str, body: SupportReplyIn, ctx: ApiContext, services: ServicesDep,
                rec: SessionDep) -> RequestView:
    """Write again: an answered request waits for support again.  409 ``closed`` on a closed one."""
    return await services.support.reply(rec.account_id, request_id, body.text, ctx)


@router.post("/requests/{request_id}/close", dependencies=[SameOrigin], responses=errors(409))
async def close_request(request_id: str, ctx: ApiContext, services: ServicesDep, rec: SessionDep) -> RequestView:
    """«Закрыть обращение»: the question is settled; a closed request no longer counts towards the open limit
    (409 ``closed`` when it is closed already)."""
    return await services.support.close(rec.account_id, request_id, ctx)
