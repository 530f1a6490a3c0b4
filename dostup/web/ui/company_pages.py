"""«Список компаний»: the list, «Добавить компанию» (ЮЛ / ИП / ФЛ), the email code, «Удалить».

No JavaScript: the kind is chosen by a link (``?kind=``) and carried by a hidden field.  While a
required company is not confirmed yet, the «Добавить компанию» page is the registration's last
step, «Добавление компании для завершения регистрации»; confirming the first profile then leads
into the cabinet.
"""

from __future__ import annotations

from functools import partial

from fastapi import APIRouter
from fastapi.responses import Response

from dostup.accounts.companies import KINDS, LEGAL
from dostup.web.api.companies import CompanyIn
from dostup.web.api.schemas import CodeIn
from dostup.web.ui.page import CHECKED, CabinetPage, FlowIn, Form, UiPage
from dostup.web.ui.render import redirect

router = APIRouter(include_in_schema=False)

LIST_PATH = "/companies"
_NOTICES = {"confirmed": "companies.notice_confirmed", "deleted": "companies.notice_deleted"}


@router.get(LIST_PATH)
async def companies_page(page: UiPage, rec: CabinetPage) -> Response:
    companies = page.services.companies
    return page.render("companies.html", session=rec, companies=await companies.list(rec.account_id),
                       onboarding=await companies.onboarding(rec.account_id) is not None,
                       notice=_NOTICES.get(page.query("done")))


@router.get(LIST_PATH + "/new")
async def new_company_form(page: UiPage, rec: CabinetPage, kind: str = "") -> Response:
    onboarding = await page.services.companies.onboarding(rec.account_id) is not None
    values = page.values or {"kind": kind}
    return page.render("company_new.html", session=rec, kind=values["kind"] if values.get("kind") in KINDS else LEGAL,
                       kinds=KINDS, values=values, onboarding=onboarding)


@router.post(LIST_PATH + "/new")
async def new_company_submit(page: UiPage, form: Form[CompanyIn], rec: CabinetPage) -> Response:
    async with page.form(partial(new_company_form, page, rec), form) as body:
        view = await page.services.companies.add(rec.account_id, body, page.ctx)
    return redirect(f"{LIST_PATH}/{view.id}/confirm")


@router.get(LIST_PATH + "/{company_id}/confirm")
async def confirm_form(page: UiPage, rec: CabinetPage, company_id: str) -> Response:
    view = await page.services.companies.view(rec.account_id, company_id)
    if view.confirmed:
        return redirect(LIST_PATH)
    return page.render("company_confirm.html", session=rec, company=view, notice=page.flag("sent"))


@router.post(LIST_PATH + "/{company_id}/confirm")
async def confirm_submit(company_id: str, page: UiPage, form: Form[CodeIn], rec: CabinetPage) -> Response:
    async with page.form(partial(confirm_form, page, rec, company_id), form) as body:
        _view, completed = await page.services.companies.confirm(rec.account_id, company_id, body.code, page.ctx)
    return redirect("/cabinet" if completed else f"{LIST_PATH}?done=confirmed")


@router.post(LIST_PATH + "/{company_id}/resend")
async def resend(company_id: str, page: UiPage, form: Form[FlowIn], rec: CabinetPage) -> Response:
    async with page.form(partial(confirm_form, page, rec, company_id), form):
        view = await page.services.companies.resend(rec.account_id, company_id, page.ctx)
    return redirect(f"{LIST_PATH}/{view.id}/confirm?sent=1")


@router.post(LIST_PATH + "/{company_id}/delete", dependencies=[CHECKED])
async def delete(company_id: str, page: UiPage, rec: CabinetPage) -> Response:
    await page.services.companies.delete(rec.account_id, company_id, page.ctx)
    return redirect(f"{LIST_PATH}?done=deleted")
