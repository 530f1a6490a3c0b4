"""«Лицевые счета»: the list, «Привязать лицевой счёт» (number + proof) and the SMS code page.

Every form carries the CSRF token and works without JavaScript.  A conflict with another cabinet
is shown only after the proof succeeded, with a link to «Восстановить доступ».
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from dostup.core import errors as E
from dostup.selfservice.contracts import LinkedElsewhere, LinkInput
from dostup.session.reader import SessionRecord
from dostup.web.deps import get_services, make_context
from dostup.web.errors import status_for
from dostup.web.ui.guard import page_session
from dostup.web.ui.pages import _error_headers, _form_errors
from dostup.web.ui.render import read_form, redirect, render

router = APIRouter(include_in_schema=False)

LIST_PATH = "/contracts"
_NOTICES = {"linked": "contracts.linked", "unlinked": "contracts.unlinked"}
_FORM_ERRORS = (E.ValidationFailed, E.FormErrors, E.Conflict, E.RateLimited, E.ServiceUnavailable)


def _shown(request: Request, exc: E.DostupError) -> dict[str, Any]:
    shown = _form_errors(request, exc)
    shown["conflict"] = isinstance(exc, LinkedElsewhere)
    return shown


@router.get(LIST_PATH)
async def contracts_page(request: Request) -> Response:
    rec = await page_session(request)
    if not isinstance(rec, SessionRecord):
        return rec
    items = await get_services(request).contracts.list(rec.account_id)
    notice = _NOTICES.get(request.query_params.get("done", ""))
    return render(request, "contracts.html", session=rec, items=items, notice=notice)


def _link_page(request: Request, rec: SessionRecord, values: dict[str, str], status: int = 200,
               **extra: Any) -> Response:
    return render(request, "contract_link.html", status=status, session=rec, values=values, **extra)


@router.get(LIST_PATH + "/link")
async def link_form(request: Request) -> Response:
    rec = await page_session(request)
    if not isinstance(rec, SessionRecord):
        return rec
    return _link_page(request, rec, {"kind": "contract", "method": "sms"})


@router.post(LIST_PATH + "/link")
async def link_submit(request: Request) -> Response:
    form = await read_form(request)
    rec = await page_session(request)
    if not isinstance(rec, SessionRecord):
        return rec
    inp = LinkInput(kind=form.get("kind"), number=form.get("number"), method=form.get("method") or "sms",
                    secret=form.get("secret"))
    try:
        started = await get_services(request).contracts.start(rec.account_id, inp, make_context(request, "ui"))
    except _FORM_ERRORS as exc:
        keep = {k: form.get(k, "") for k in ("kind", "number", "method")}  # never the secret
        if keep["kind"] == "card":
            keep["number"] = ""  # a card number is never written into a page, not even back to its typist
        return _link_page(request, rec, keep, status=status_for(exc), headers=_error_headers(exc),
                          **_shown(request, exc))
    if started.flow is not None:
        return redirect(f"{LIST_PATH}/confirm?flow={started.flow.flow_id}")
    return redirect(f"{LIST_PATH}?done=linked")


async def _code_page(request: Request, rec: SessionRecord, flow_id: str, status: int = 200,
                     **extra: Any) -> Response:
    view = await get_services(request).contracts.flow(rec.account_id, flow_id)
    if view.state != "code_sent":
        return redirect(LIST_PATH)
    return render(request, "contract_confirm.html", status=status, session=rec, view=view, **extra)


@router.get(LIST_PATH + "/confirm")
async def confirm_form(request: Request, flow: str = "") -> Response:
    rec = await page_session(request)
    if not isinstance(rec, SessionRecord):
        return rec
    return await _code_page(request, rec, flow, notice=request.query_params.get("sent") == "1")


@router.post(LIST_PATH + "/confirm")
async def confirm_submit(request: Request) -> Response:
    form = await read_form(request)
    rec = await page_session(request)
    if not isinstance(rec, SessionRecord):
        return rec
    flow_id = form.get("flow", "")
    services = get_services(request)
    try:
        await services.contracts.confirm(rec.account_id, flow_id, form.get("code"), make_context(request, "ui"))
    except E.Conflict as exc:
        # The proof succeeded and the flow is over: say where the contract is, on the link form.
        return _link_page(request, rec, {"kind": "contract", "method": "sms"}, status=status_for(exc),
                          **_shown(request, exc))
    except (E.ValidationFailed, E.RateLimited, E.StepNotAllowed) as exc:
        return await _code_page(request, rec, flow_id, status=status_for(exc), headers=_error_headers(exc),
                                **_form_errors(request, exc))
    return redirect(f"{LIST_PATH}?done=linked")


@router.post(LIST_PATH + "/resend")
async def resend(request: Request) -> Response:
    form = await read_form(request)
    rec = await page_session(request)
    if not isinstance(rec, SessionRecord):
        return rec
    flow_id = form.get("flow", "")
    try:
        view = await get_services(request).contracts.resend(rec.account_id, flow_id, make_context(request, "ui"))
    except (E.RateLimited, E.StepNotAllowed, E.ServiceUnavailable) as exc:
        return await _code_page(request, rec, flow_id, status=status_for(exc), headers=_error_headers(exc),
                                **_form_errors(request, exc))
    return redirect(f"{LIST_PATH}/confirm?flow={view.flow_id}&sent=1")


@router.post(LIST_PATH + "/{link_id}/unlink")
async def unlink(request: Request, link_id: str) -> Response:
    await read_form(request)
    rec = await page_session(request)
    if not isinstance(rec, SessionRecord):
        return rec
    await get_services(request).contracts.unlink(rec.account_id, link_id, make_context(request, "ui"))
    return redirect(f"{LIST_PATH}?done=unlinked")
