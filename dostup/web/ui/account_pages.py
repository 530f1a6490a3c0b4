"""«Изменить пароль» (also the forced change after a temporary password) and «Подтвердите пароль»."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from dostup.core import errors as E
from dostup.core.urls import safe_return_to
from dostup.session.reader import SessionRecord
from dostup.web.deps import get_services, make_context, services_csrf
from dostup.web.errors import status_for
from dostup.web.ui.guard import needs_reauth, page_session
from dostup.web.ui.pages import _error_headers, _form_errors
from dostup.web.ui.render import clear_session_cookie, read_form, redirect, render, set_session_cookie

router = APIRouter(include_in_schema=False)


def _password_page(request: Request, rec: SessionRecord, status: int = 200, **extra: Any) -> Response:
    return render(request, "settings_password.html", status=status, session=rec,
                  forced=rec.state != "active", **extra)


@router.get("/settings/password")
async def password_form(request: Request) -> Response:
    rec = await page_session(request, allow_password_change=True)
    if not isinstance(rec, SessionRecord):
        return rec
    return _password_page(request, rec, saved=request.query_params.get("saved") == "1")


@router.post("/settings/password")
async def password_submit(request: Request) -> Response:
    form = await read_form(request)
    rec = await page_session(request, allow_password_change=True)
    if not isinstance(rec, SessionRecord):
        return rec
    services = get_services(request)
    try:
        issued = await services.password_change.change(
            rec, form.get("old_password"), form.get("new_password"), form.get("new_password_repeat"),
            make_context(request, "ui"),
        )
    except (E.ValidationFailed, E.FormErrors, E.RateLimited) as exc:
        return _password_page(request, rec, status=status_for(exc), headers=_error_headers(exc),
                              **_form_errors(request, exc))
    response = redirect("/settings/password?saved=1" if rec.state == "active" else "/cabinet")
    set_session_cookie(response, request, issued.token, issued.remember, issued.expires_at)
    return response


@router.get("/reauth")
async def reauth_form(request: Request, return_to: str = "") -> Response:
    rec = await page_session(request)
    if not isinstance(rec, SessionRecord):
        return rec
    target = safe_return_to(return_to, services_csrf(get_services(request)).origins) or "/cabinet"
    return render(request, "reauth.html", session=rec, return_to=target)


@router.post("/reauth")
async def reauth_submit(request: Request) -> Response:
    form = await read_form(request)
    rec = await page_session(request)
    if not isinstance(rec, SessionRecord):
        return rec
    services = get_services(request)
    target = safe_return_to(form.get("return_to"), services_csrf(services).origins) or "/cabinet"
    try:
        issued = await services.reauth.confirm(rec, form.get("password"), make_context(request, "ui"))
    except (E.ValidationFailed, E.AuthenticationFailed) as exc:
        return render(request, "reauth.html", status=status_for(exc), session=rec, return_to=target,
                      **_form_errors(request, exc))
    response = redirect(target)
    set_session_cookie(response, request, issued.token, issued.remember, issued.expires_at)
    return response


@router.get("/settings/delete")
async def delete_form(request: Request) -> Response:
    rec = await page_session(request)
    if not isinstance(rec, SessionRecord):
        return rec
    again = needs_reauth(request, rec)
    return again or render(request, "account_delete.html", session=rec)


@router.post("/settings/delete")
async def delete_submit(request: Request) -> Response:
    form = await read_form(request)
    rec = await page_session(request)
    if not isinstance(rec, SessionRecord):
        return rec
    again = needs_reauth(request, rec)
    if again:
        return again
    services = get_services(request)
    try:
        await services.deletion.delete(rec, form.get("confirm") == "on", make_context(request, "ui"))
    except E.ValidationFailed as exc:
        return render(request, "account_delete.html", status=status_for(exc), session=rec,
                      **_form_errors(request, exc))
    response = render(request, "account_deleted.html", session=None)
    clear_session_cookie(response, request)
    return response
