"""«Подтвердить личность онлайн через банк» (SPEC §4.8; the gosuslugi seed: «Как зарегистрироваться, если вы
клиент Сбербанка … вы сможете подтвердить личность онлайн … После проверки данных вы сразу получите
подтверждённую учётную запись»): the page lists the banks the operator marked ``confirms_identity``; a posted
form (CSRF token) sends the browser to the bank, and the bank sends it back to the callback, which needs the
same signed-in session that started it.  Where levels are off the pages are 404.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from dostup.core.errors import DostupError
from dostup.web.ui.page import CabinetPage, Form, NoFieldsIn, UiPage
from dostup.web.ui.render import redirect

router = APIRouter(include_in_schema=False)
PATH = "/settings/identity/bank"



@router.get(PATH)
async def bank_page(page: UiPage, rec: CabinetPage) -> Response:
    view = await page.services.bank.view(rec.account_id)
    return page.render("settings_bank.html", session=rec, view=view, confirmed=page.flag("confirmed"))


@router.post(PATH + "/{provider_id}/start")
async def bank_start(provider_id: str, page: UiPage, form: Form[NoFieldsIn], rec: CabinetPage) -> Response:
    async with page.form(lambda: bank_page(page, rec), form):
        started = await page.services.bank.start(rec.account_id, rec.id, provider_id, page.ctx)
    return redirect(started.authorization_url)


@router.get(PATH + "/{provider_id}/callback")
async def bank_callback(provider_id: str, page: UiPage, rec: CabinetPage, state: str = "", code: str = "",
                        error: str = "") -> Response:
    """Where the bank sends the browser back; a refusal is shown on the bank page with its status."""
    try:
        await page.services.bank.callback(rec.account_id, rec.id, provider_id, state[:64] or None, code or None,
                                          error[:128] or None, page.ctx)
    except DostupError as exc:
        page.shown = page.shown_for(exc)
        return await bank_page(page, rec)
    return redirect(PATH + "?confirmed=1")
