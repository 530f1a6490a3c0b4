"""«Восстановить доступ»: the request form and «Пароль успешно сброшен»."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from dostup.core import errors as E
from dostup.selfservice.recovery.flow import RecoveryInput
from dostup.web.deps import get_services, make_context
from dostup.web.errors import status_for
from dostup.web.ui.pages import _error_headers, _form_errors
from dostup.web.ui.render import read_form, render

router = APIRouter(include_in_schema=False)


def _form(request: Request, values: dict[str, str], status: int = 200, **extra: Any) -> Response:
    return render(request, "recovery.html", status=status, values=values, session=None, **extra)


@router.get("/recovery")
async def recovery_form(request: Request) -> Response:
    return _form(request, {"country": "RU"})


@router.post("/recovery")
async def recovery_submit(request: Request) -> Response:
    form = await read_form(request)
    services = get_services(request)
    inp = RecoveryInput(
        phone=form.get("phone") or None,
        country=form.get("country", "RU")[:3],
        email=form.get("email") or None,
        captcha=form.get("captcha") or None,
    )
    keep = {k: form.get(k, "") for k in ("phone", "country", "email")}
    try:
        result = await services.recovery.request(inp, make_context(request, "ui"))
    except (E.ValidationFailed, E.CaptchaRequired, E.RateLimited, E.ServiceUnavailable) as exc:
        return _form(request, keep, status=status_for(exc), headers=_error_headers(exc), **_form_errors(request, exc))
    return render(request, "recovery_done.html", result=result, session=None)
