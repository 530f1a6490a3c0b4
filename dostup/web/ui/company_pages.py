"""«Список компаний»: the list, «Добавить компанию» (ЮЛ / ИП / ФЛ), the email code, «Удалить».

No JavaScript: the kind is chosen by a link (``?kind=``) and carried by a hidden field.  While a
required company is not confirmed yet, the «Добавить компанию» page is the registration's last
step, «Добавление компании для завершения регистрации»; confirming the first profile then leads
into the cabinet.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from dostup.accounts.companies import KINDS, LEGAL, CompanyInput
from dostup.core import errors as E
from dostup.selfservice.companies import CompanyView
from dostup.session.reader import SessionRecord
from dostup.web.deps import get_services, make_context
from dostup.web.errors import status_for
from dostup.web.ui.guard import page_session
from dostup.web.ui.pages import _error_headers, _form_errors
from dostup.web.ui.render import read_form, redirect, render

router = APIRouter(include_in_schema=False)

LIST_PATH = "/companies"
FIELDS = ("name", "inn", "kpp", "ogrn", "ogrnip", "address", "email")
_NOTICES = {"confirmed": "companies.notice_confirmed", "deleted": "companies.notice_deleted"}
_FORM_ERRORS = (E.ValidationFailed, E.FormErrors, E.Conflict, E.RateLimited, E.ServiceUnavailable)
_CODE_ERRORS = (E.ValidationFailed, E.Conflict, E.RateLimited, E.StepNotAllowed, E.ServiceUnavailable)


def _kind(value: str | None) -> str:
    return value if value in KINDS else LEGAL


# -- the list --------------------------------------------------------------------------------

@router.get(LIST_PATH)
async def companies_page(request: Request) -> Response:
    rec = await page_session(request)
    if not isinstance(rec, SessionRecord):
        return rec
    services = get_services(request)
    return render(
        request, "companies.html", session=rec, companies=await services.companies.list(rec.account_id),
        onboarding=await services.companies.onboarding(rec.account_id) is not None,
        notice=_NOTICES.get(request.query_params.get("done", "")),
    )


# -- «Добавить компанию» ---------------------------------------------------------------------

async def _new_page(request: Request, rec: SessionRecord, kind: str, values: dict[str, str], status: int = 200,
                    **extra: Any) -> Response:
    onboarding = await get_services(request).companies.onboarding(rec.account_id) is not None
    return render(request, "company_new.html", status=status, session=rec, kind=kind, kinds=KINDS, values=values,
                  onboarding=onboarding, **extra)


@router.get(LIST_PATH + "/new")
async def new_company_form(request: Request, kind: str = "") -> Response:
    rec = await page_session(request)
    if not isinstance(rec, SessionRecord):
        return rec
    return await _new_page(request, rec, _kind(kind), {})


@router.post(LIST_PATH + "/new")
async def new_company_submit(request: Request) -> Response:
    form = await read_form(request)
    rec = await page_session(request)
    if not isinstance(rec, SessionRecord):
        return rec
    values = {name: form.get(name, "") for name in FIELDS}
    inp = CompanyInput(kind=form.get("kind"), **{name: form.get(name) for name in FIELDS})
    try:
        view = await get_services(request).companies.add(rec.account_id, inp, make_context(request, "ui"))
    except _FORM_ERRORS as exc:
        return await _new_page(request, rec, _kind(form.get("kind")), values, status=status_for(exc),
                               headers=_error_headers(exc), **_form_errors(request, exc))
    return redirect(f"{LIST_PATH}/{view.id}/confirm")


# -- the code --------------------------------------------------------------------------------

def _confirm_page(request: Request, rec: SessionRecord, view: CompanyView, status: int = 200,
                  **extra: Any) -> Response:
    return render(request, "company_confirm.html", status=status, session=rec, company=view, **extra)


@router.get(LIST_PATH + "/{company_id}/confirm")
async def confirm_form(request: Request, company_id: str) -> Response:
    rec = await page_session(request)
    if not isinstance(rec, SessionRecord):
        return rec
    view = await get_services(request).companies.view(rec.account_id, company_id)
    if view.confirmed:
        return redirect(LIST_PATH)
    return _confirm_page(request, rec, view, notice=request.query_params.get("sent") == "1")


@router.post(LIST_PATH + "/{company_id}/confirm")
async def confirm_submit(request: Request, company_id: str) -> Response:
    form = await read_form(request)
    rec = await page_session(request)
    if not isinstance(rec, SessionRecord):
        return rec
    services = get_services(request)
    try:
        view, completed = await services.companies.confirm(rec.account_id, company_id, form.get("code"),
                                                           make_context(request, "ui"))
    except _CODE_ERRORS as exc:
        view = await services.companies.view(rec.account_id, company_id)
        if view.confirmed:
            return redirect(LIST_PATH)
        return _confirm_page(request, rec, view, status=status_for(exc), headers=_error_headers(exc),
                             **_form_errors(request, exc))
    return redirect("/cabinet" if completed else f"{LIST_PATH}?done=confirmed")


@router.post(LIST_PATH + "/{company_id}/resend")
async def resend(request: Request, company_id: str) -> Response:
    await read_form(request)
    rec = await page_session(request)
    if not isinstance(rec, SessionRecord):
        return rec
    services = get_services(request)
    try:
        view = await services.companies.resend(rec.account_id, company_id, make_context(request, "ui"))
    except (E.RateLimited, E.StepNotAllowed, E.ServiceUnavailable) as exc:
        view = await services.companies.view(rec.account_id, company_id)
        if view.confirmed:
            return redirect(LIST_PATH)
        return _confirm_page(request, rec, view, status=status_for(exc), headers=_error_headers(exc),
                             **_form_errors(request, exc))
    return redirect(f"{LIST_PATH}/{view.id}/confirm?sent=1")


# -- «Удалить» -------------------------------------------------------------------------------

@router.post(LIST_PATH + "/{company_id}/delete")
async def delete(request: Request, company_id: str) -> Response:
    await read_form(request)
    rec = await page_session(request)
    if not isinstance(rec, SessionRecord):
        return rec
    await get_services(request).companies.delete(rec.account_id, company_id, make_context(request, "ui"))
    return redirect(f"{LIST_PATH}?done=deleted")
