"""«Обращения»: the customer's support requests on the pages (SPEC §4.14; the kit seed's «направьте обращение в
службу поддержки на сайте»): the list with each request's state and the form to write one, and a request's
page with its messages and the reply form.  :data:`CabinetPage`s with the CSRF token, working without
JavaScript; the forms parse into the API's :class:`SupportRequestIn` / :class:`SupportReplyIn`.
"""

from __future__ import annotations

from functools import partial

from fastapi import APIRouter
from fastapi.responses import Response

from dostup.accounts.support import MAX_TEXT, TOPICS
from dostup.web.api.support import SupportReplyIn, SupportRequestIn
from dostup.web.history import page_info
from dostup.web.ui.page import CHECKED, CabinetPage, Form, UiPage
from dostup.web.ui.render import redirect

router = APIRouter(include_in_schema=False)
PATH = "/support"


@router.get(PATH)
async def support_page(page: UiPage, rec: CabinetPage) -> Response:
    support = page.services.support
    listed = await support.list(rec.account_id, before=page.query("before") or None,
                                after=page.query("after") or None, clamp=True)  # a damaged link: the first page
    return page.render("support.html", session=rec, requests=listed.items, pager=page_info(listed), topics=TOPICS,
                       values=page.values or {}, max_text=MAX_TEXT, max_open=support.max_open)


@router.post(PATH)
async def support_submit(page: UiPage, form: Form[SupportRequestIn], rec: CabinetPage) -> Response:
    async with page.form(partial(support_page, page, rec), form) as body:
        view = await page.services.support.create(rec.account_id, body.topic, body.text, page.ctx)
    return redirect(f"{PATH}/{view.id}?sent=1")


@router.get(PATH + "/{request_id}")
async def request_page(page: UiPage, rec: CabinetPage, request_id: str) -> Response:
    view = await page.services.support.view(rec.account_id, request_id)
    return page.render("support_request.html", session=rec, req=view, values=page.values or {}, max_text=MAX_TEXT,
                       max_open=page.services.support.max_open,
                       sent=page.flag("sent"), replied=page.flag("replied"), closed=page.flag("closed"))


@router.post(PATH + "/{request_id}")
async def reply_submit(request_id: str, page: UiPage, form: Form[SupportReplyIn], rec: CabinetPage) -> Response:
    async with page.form(partial(request_page, page, rec, request_id), form) as body:
        await page.services.support.reply(rec.account_id, request_id, body.text, page.ctx)
    return redirect(f"{PATH}/{request_id}?replied=1")


@router.post(PATH + "/{request_id}/close", dependencies=[CHECKED])
async def close(request_id: str, page: UiPage, rec: CabinetPage) -> Response:
    await page.services.support.close(rec.account_id, request_id, page.ctx)
    return redirect(f"{PATH}/{request_id}?closed=1")
