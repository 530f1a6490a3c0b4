"""«Подтверждение личности электронной подписью» (SPEC §4.8; the gosuslugi seed: «С помощью электронной
подписи … понадобится: физический носитель с подписью …; «КриптоПро» — программа для считывания электронной
подписи или плагин для браузера … ввести PIN-код и подписать заявление на подтверждение учётной записи»).

The page asks for a statement (POST, then ``?flow=``), shows it with a link to download its exact bytes, and
takes the detached signature in base64 in a text field: it works without JavaScript (the signature is made
in CryptoPro's program or plugin and pasted).  The form parses into the API's :class:`SignatureIn`.  Where
levels are off or no check is configured the page is 404.
"""

from __future__ import annotations

from functools import partial

from fastapi import APIRouter
from fastapi.responses import Response

from dostup.web.api.esign import SignatureIn
from dostup.web.ui.page import CabinetPage, Form, NoFieldsIn, UiPage
from dostup.web.ui.render import redirect

router = APIRouter(include_in_schema=False)
PATH = "/settings/identity/signature"


class _SignIn(SignatureIn):
    flow: str | None = None



@router.get(PATH)
async def signature_page(page: UiPage, rec: CabinetPage) -> Response:
    flow = (page.values or {}).get("flow") or page.query("flow")
    view = await page.services.esign.view(rec.account_id, flow or None)
    return page.render("settings_signature.html", session=rec, view=view, values=page.values or {},
                       stale=bool(flow) and view.statement is None and not page.values,
                       confirmed=page.flag("confirmed"))


@router.post(PATH)
async def signature_start(page: UiPage, form: Form[NoFieldsIn], rec: CabinetPage) -> Response:
    async with page.form(partial(signature_page, page, rec), form):
        statement = await page.services.esign.start(rec.account_id, page.ctx)
    return redirect(PATH + "?flow=" + statement.flow_id)


@router.get(PATH + "/statement")
async def signature_statement(page: UiPage, rec: CabinetPage) -> Response:
    """The statement's exact bytes, to sign with the desktop program (a detached signature of this file)."""
    statement = await page.services.esign.statement(rec.account_id, page.query("flow"))
    return Response(statement.text.encode(), media_type="text/plain; charset=utf-8", headers={
        "Content-Disposition": 'attachment; filename="zayavlenie.txt"', "Cache-Control": "no-store"})


@router.post(PATH + "/sign")
async def signature_sign(page: UiPage, form: Form[_SignIn], rec: CabinetPage) -> Response:
    async with page.form(partial(signature_page, page, rec), form) as body:
        await page.services.esign.sign(rec.account_id, body.flow, body.signature, page.ctx)
    return redirect(PATH + "?confirmed=1")
