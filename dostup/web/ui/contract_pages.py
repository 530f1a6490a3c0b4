"""«Лицевые счета»: the list, «Привязать лицевой счёт» (number + proof) and the SMS code page.

Every form carries the CSRF token and works without JavaScript.  A conflict with another cabinet
is shown only after the proof succeeded, with a link to «Восстановить доступ».
"""

from __future__ import annotations

from functools import partial

from fastapi import APIRouter
from fastapi.responses import Response

from dostup.core.errors import Conflict
from dostup.selfservice.contracts import LinkedElsewhere
from dostup.web.api.contracts import LinkIn
from dostup.web.ui.page import CHECKED, CabinetPage, FlowCodeIn, FlowIn, Form, UiPage
from dostup.web.ui.render import redirect

router = APIRouter(include_in_schema=False)

LIST_PATH = "/contracts"
_NOTICES = {"linked": "contracts.linked", "unlinked": "contracts.unlinked"}


@router.get(LIST_PATH)
async def contracts_page(page: UiPage, rec: CabinetPage) -> Response:
    items = await page.services.contracts.list(rec.account_id)
    return page.render("contracts.html", session=rec, items=items, notice=_NOTICES.get(page.query("done")))


@router.get(LIST_PATH + "/link")
async def link_form(page: UiPage, rec: CabinetPage) -> Response:
    values = page.values or {"kind": page.services.preset.contracts_kind, "method": "sms"}  # sber: a card
    if values.get("kind") == "card":
        values = {**values, "number": ""}  # a card number is never written into a page, not even back to its typist
    return page.render("contract_link.html", session=rec, values=values,
                       conflict=isinstance(page.shown.get("failure"), LinkedElsewhere))


@router.post(LIST_PATH + "/link")
async def link_submit(page: UiPage, form: Form[LinkIn], rec: CabinetPage) -> Response:
    async with page.form(partial(link_form, page, rec), form) as body:
        started = await page.services.contracts.start(rec.account_id, body, page.ctx)
    if started.flow is not None:
        return redirect(f"{LIST_PATH}/confirm?flow={started.flow.flow_id}")
    return redirect(f"{LIST_PATH}?done=linked")


@router.get(LIST_PATH + "/confirm")
async def confirm_form(page: UiPage, rec: CabinetPage, flow: str = "") -> Response:
    if isinstance(page.shown.get("failure"), Conflict):
        # The proof succeeded and the flow is over: say where the contract is, on the link form.
        page.values, page.shown["headers"] = None, None
        return await link_form(page, rec)
    view = await page.services.contracts.flow(rec.account_id, flow)
    if view.state != "code_sent":
        return redirect(LIST_PATH)
    return page.render("contract_confirm.html", session=rec, view=view, notice=page.flag("sent"))


@router.post(LIST_PATH + "/confirm")
async def confirm_submit(page: UiPage, form: Form[FlowCodeIn], rec: CabinetPage) -> Response:
    async with page.form(partial(confirm_form, page, rec, form.get("flow")), form) as body:
        await page.services.contracts.confirm(rec.account_id, body.flow, body.code, page.ctx)
    return redirect(f"{LIST_PATH}?done=linked")


@router.post(LIST_PATH + "/resend")
async def resend(page: UiPage, form: Form[FlowIn], rec: CabinetPage) -> Response:
    async with page.form(partial(confirm_form, page, rec, form.get("flow")), form) as body:
        view = await page.services.contracts.resend(rec.account_id, body.flow, page.ctx)
    return redirect(f"{LIST_PATH}/confirm?flow={view.flow_id}&sent=1")


@router.post(LIST_PATH + "/{link_id}/unlink", dependencies=[CHECKED])
async def unlink(link_id: str, page: UiPage, rec: CabinetPage) -> Response:
    await page.services.contracts.unlink(rec.account_id, link_id, page.ctx)
    return redirect(f"{LIST_PATH}?done=unlinked")
