"""«Приложения с доступом»: partners the user allowed, and withdrawing that (their tokens end)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from dostup.web.ui.page import CabinetPage, UiPage
from dostup.web.ui.render import read_form, redirect

router = APIRouter(include_in_schema=False)


@router.get("/settings/apps")
async def apps(page: UiPage, rec: CabinetPage) -> Response:
    items = await page.services.oidc.apps(rec.account_id)
    return page.render("oidc_apps.html", session=rec, apps=items, withdrawn=page.flag("withdrawn"))


@router.post("/settings/apps/withdraw")
async def withdraw(page: UiPage, form: Annotated[dict[str, str], Depends(read_form)], rec: CabinetPage) -> Response:
    await page.services.oidc.withdraw(rec.account_id, form.get("client_id", ""))
    return redirect("/settings/apps?withdrawn=1")
