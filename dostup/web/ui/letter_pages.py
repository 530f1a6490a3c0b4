"""«Код подтверждения по почте» (SPEC §4.8; the gosuslugi seed: «закажите код подтверждения через «Почту
России» … нужно указать адрес, на который будет отправлено письмо … После получения кода необходимо ввести его
в специальном поле»): order the letter, cancel it while it waits to be printed, enter its code.  A
:data:`CabinetPage` with the CSRF token, working without JavaScript; the forms parse into the API's
:class:`LetterIn` and :class:`LetterCodeIn`.  Where levels are off the page is 404.
"""

from __future__ import annotations

from functools import partial

from fastapi import APIRouter
from fastapi.responses import Response

from dostup.web.api.letters import LetterCodeIn, LetterIn
from dostup.web.ui.page import CabinetPage, Form, NoFieldsIn, UiPage
from dostup.web.ui.render import redirect

router = APIRouter(include_in_schema=False)
PATH = "/settings/identity/letter"



@router.get(PATH)
async def letter_page(page: UiPage, rec: CabinetPage) -> Response:
    view = await page.services.letters.view(rec.account_id)
    return page.render("settings_letter.html", session=rec, view=view, values=page.values or {},
                       ordered=page.flag("ordered"), cancelled=page.flag("cancelled"),
                       confirmed=page.flag("confirmed"))


@router.post(PATH)
async def letter_order(page: UiPage, form: Form[LetterIn], rec: CabinetPage) -> Response:
    async with page.form(partial(letter_page, page, rec), form) as body:
        await page.services.letters.order(rec.account_id, body.model_dump(), page.ctx)
    return redirect(PATH + "?ordered=1")


@router.post(PATH + "/cancel")
async def letter_cancel(page: UiPage, form: Form[NoFieldsIn], rec: CabinetPage) -> Response:
    async with page.form(partial(letter_page, page, rec), form):
        await page.services.letters.cancel(rec.account_id, page.ctx)
    return redirect(PATH + "?cancelled=1")


@router.post(PATH + "/code")
async def letter_code(page: UiPage, form: Form[LetterCodeIn], rec: CabinetPage) -> Response:
    async with page.form(partial(letter_page, page, rec), form) as body:
        await page.services.letters.enter_code(rec.account_id, body.code, page.ctx)
    return redirect(PATH + "?confirmed=1")
