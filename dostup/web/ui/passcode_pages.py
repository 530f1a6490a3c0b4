"""«Код для входа»: set it for this browser, sign in with it, see and revoke bound devices.

The browser keeps the device credential in a long-lived ``HttpOnly`` cookie (``__Host-`` in
production); the passcode page signs in with that cookie and the five digits.
"""

from __future__ import annotations

from functools import partial

from fastapi import APIRouter
from fastapi.responses import Response

from dostup.core import errors as E
from dostup.web.api.passcode import PasscodeIn
from dostup.web.deps import device_cookie
from dostup.web.ui.page import CHECKED, CabinetPage, Form, Page, RecentPage, UiPage
from dostup.web.ui.pages import signed_in_page
from dostup.web.ui.render import redirect

router = APIRouter(include_in_schema=False)
DEVICE_MAX_AGE = 365 * 24 * 3600


def _device(page: Page) -> str | None:
    return page.request.cookies.get(device_cookie(page.services))


@router.get("/settings/passcode")
async def passcode_page(page: UiPage, rec: CabinetPage) -> Response:
    if not page.services.passcode.enabled:
        raise E.NotFound()
    bound = await page.services.passcode.list(rec.account_id)
    this = (_device(page) or "").partition(".")[0]
    return page.render("settings_passcode.html", session=rec, devices=bound, saved=page.flag("saved"),
                       this_device=this if any(d.id == this for d in bound) else None)


@router.post("/settings/passcode")
async def passcode_set(page: UiPage, form: Form[PasscodeIn], rec: RecentPage) -> Response:
    async with page.form(partial(passcode_page, page, rec), form) as body:
        credential = await page.services.passcode.set(rec, body.passcode, body.passcode_repeat, page.ctx,
                                                      current=_device(page))
    response = redirect("/settings/passcode?saved=1")
    response.set_cookie(device_cookie(page.services), credential, max_age=DEVICE_MAX_AGE, httponly=True,
                        samesite="lax", secure=page.services.settings.production, path="/")
    return response


@router.post("/settings/devices/{device_id}/revoke", dependencies=[CHECKED])
async def device_revoke(device_id: str, page: UiPage, rec: CabinetPage) -> Response:
    await page.services.passcode.revoke(rec, device_id, page.ctx)
    return redirect("/settings/passcode")


@router.get("/login/passcode")
async def passcode_login_page(page: UiPage) -> Response:
    if not page.services.passcode.enabled or not _device(page):
        return redirect("/login")
    return page.render("login_passcode.html", session=None)


@router.post("/login/passcode")
async def passcode_login(page: UiPage, form: Form[PasscodeIn]) -> Response:
    async with page.form(partial(page.render, "login_passcode.html", session=None), form) as body:
        outcome = await page.services.passcode_login.login(_device(page), body.passcode, page.ctx)
    return await signed_in_page(page, outcome, None)
