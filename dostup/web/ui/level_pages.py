"""«Стандартная учётная запись»: the full profile's form, saved and sent for the check (SPEC §4.8; the
gosuslugi seed's steps 5–7: «Нет отчества», «пол, дату рождения, место рождения так, как указано в паспорте
и гражданство», «паспортные данные, включая серию, номер, дату выдачи, код подразделения и информацию о
ведомстве, выдавшем документ. Также необходимо указать номер СНИЛС. По заполнению нажмите кнопку
"Сохранить"»).  A :data:`CabinetPage` with the CSRF token, working without JavaScript; the form parses
into the API's :class:`IdentityIn`.  Where levels are off the page is 404.
"""

from __future__ import annotations

from dataclasses import asdict
from functools import partial

from fastapi import APIRouter
from fastapi.responses import Response

from dostup.identity.documents import format_snils
from dostup.identity.person import country_names
from dostup.web.api.levels import IdentityIn
from dostup.web.ui.page import CabinetPage, Form, UiPage
from dostup.web.ui.render import redirect

router = APIRouter(include_in_schema=False)
PATH = "/settings/identity"


@router.get(PATH)
async def identity_form(page: UiPage, rec: CabinetPage) -> Response:
    view = await page.services.verification.view(rec.account_id)
    values = {k: ("" if v is None else v) for k, v in asdict(view.person).items()}
    values["no_middle_name"] = "on" if view.person.no_middle_name else ""
    if view.person.snils:
        values["snils"] = format_snils(view.person.snils)
    return page.render("settings_identity.html", session=rec, view=view, values=page.values or values,
                       citizenships=country_names(page.ctx.locale), sent=page.flag("sent"),
                       saved=page.flag("saved"),
                       lowered=page.flag("lowered"), banks=page.services.bank.banks, esign=page.services.esign.enabled)


@router.post(PATH)
async def identity_submit(page: UiPage, form: Form[IdentityIn], rec: CabinetPage) -> Response:
    async with page.form(partial(identity_form, page, rec), form) as body:
        view = await page.services.verification.submit(rec.account_id, body.model_dump(), page.ctx)
    return redirect(PATH + ("?sent=1" if view.sent else "?saved=1") + ("&lowered=1" if view.level_lowered else ""))
