"""Support requests in «Консоль оператора» (SPEC §4.14): the queue of requests waiting for support, a request
read with a reason, the answer and «Закрыть» — the staff API's use-cases and input models
(``web/api/operator_support.py``) as pages, for the console's staff (two factors; a customer gets 404).

The queue shows topics and times only, so it is a plain GET with ``?after=`` pages; reading a request shows what
the customer wrote, so it is a POST with its reason, audited, and that reason travels with the page's forms.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from dostup.session.reader import SessionRecord
from dostup.web.api.operator import ReasonIn
from dostup.web.api.operator_support import AnswerIn
from dostup.web.ui.operator_pages import StaffPage
from dostup.web.ui.page import Form, Page, UiPage
from dostup.web.ui.render import redirect

router = APIRouter(include_in_schema=False)
QUEUE = "/operator/support"


@router.get(QUEUE)
async def queue_page(page: UiPage, rec: StaffPage) -> Response:
    queue = await page.services.support_queue.waiting(page.query("after") or None)
    return page.render("operator_support_queue.html", session=rec, queue=queue, closed=page.flag("closed"))


async def _request_page(page: Page, rec: SessionRecord, request_id: str, reason: str, view: Any = None,
                        answered: bool = False) -> Response:
    view = view or await page.services.support_queue.read(rec.account_id, request_id, reason, page.ctx)
    return page.render("operator_support_request.html", session=rec, req=view, reason=reason, answered=answered,
                       values=page.values or {})


@router.post(QUEUE + "/{request_id}")
async def request_page(request_id: str, page: UiPage, form: Form[ReasonIn], rec: StaffPage) -> Response:
    async with page.form(lambda: queue_page(page, rec), form) as body:
        return await _request_page(page, rec, request_id, body.reason or "")


@router.post(QUEUE + "/{request_id}/answer")
async def answer(request_id: str, page: UiPage, form: Form[AnswerIn], rec: StaffPage) -> Response:
    async with page.form(lambda: _request_page(page, rec, request_id, form.get("reason")), form) as body:
        view = await page.services.support_queue.answer(rec.account_id, rec.role, request_id, body.text, body.reason,
                                                        page.ctx)
    return await _request_page(page, rec, request_id, body.reason or "", view=view, answered=True)


@router.post(QUEUE + "/{request_id}/close")
async def close(request_id: str, page: UiPage, form: Form[ReasonIn], rec: StaffPage) -> Response:
    async with page.form(lambda: _request_page(page, rec, request_id, form.get("reason")), form) as body:
        await page.services.support_queue.close(rec.account_id, rec.role, request_id, body.reason, page.ctx)
    return redirect(QUEUE + "?closed=1")
