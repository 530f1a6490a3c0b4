"""«Подтверждение входа» (the second sign-in step), «Резервные коды» and the authenticator app in settings."""

from __future__ import annotations

from functools import partial
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from dostup.session.reader import SessionRecord
from dostup.web.api.second_factor import SecondFactorIn, TotpDisableIn
from dostup.web.ui.page import CHECKED, CabinetPage, FlowCodeIn, FlowIn, Form, Page, RecentPage, UiPage
from dostup.web.ui.pages import signed_in_page
from dostup.web.ui.render import redirect

router = APIRouter(include_in_schema=False)


class _StepIn(SecondFactorIn, FlowIn):
    pass


@router.get("/login/second-factor")
async def second_factor_form(page: UiPage, flow: str = "", return_to: str = "") -> Response:
    account_id, methods, expires_at = await page.services.login.pending(flow)
    captcha = await page.services.login.second_factor_captcha_needed(account_id)
    return page.render("login_second_factor.html", session=None, flow_id=flow, expires_at=expires_at,
                       return_to=page.return_to(return_to), captcha=captcha, methods=methods,
                       method=(page.values or {}).get("method") or methods[0])


@router.post("/login/second-factor")
async def second_factor_submit(page: UiPage, form: Form[_StepIn]) -> Response:
    target = page.return_to(form.get("return_to"))
    async with page.form(partial(second_factor_form, page, form.get("flow"), target or ""), form) as body:
        outcome = await page.services.login.second_factor(body.flow, body.method, body.code, page.ctx,
                                                          captcha=body.captcha)
    return await signed_in_page(page, outcome, target)


# -- «Резервные коды» ------------------------------------------------------------------------

async def _codes_page(page: Page, rec: SessionRecord, **context: Any) -> Response:
    remaining = await page.services.recovery_codes.remaining(rec.account_id)
    return page.render("settings_recovery_codes.html", session=rec, remaining=remaining, **context)


@router.get("/settings/recovery-codes")
async def recovery_codes_page(page: UiPage, rec: CabinetPage) -> Response:
    return await _codes_page(page, rec, removed=page.flag("removed"))


@router.post("/settings/recovery-codes", dependencies=[CHECKED])
async def recovery_codes_generate(page: UiPage, rec: RecentPage) -> Response:
    return await _codes_page(page, rec, codes=await page.services.recovery_codes.generate(rec, page.ctx))


@router.post("/settings/recovery-codes/remove", dependencies=[CHECKED])
async def recovery_codes_remove(page: UiPage, rec: RecentPage) -> Response:
    await page.services.recovery_codes.remove(rec, page.ctx)
    return redirect("/settings/recovery-codes?removed=1")


# -- the authenticator app (TOTP) ------------------------------------------------------------

async def _totp_page(page: Page, rec: SessionRecord, **context: Any) -> Response:
    enabled = await page.services.totp.enabled(rec.account_id)
    return page.render("settings_totp.html", session=rec, enabled=enabled, **context)


async def _enrolment_page(page: Page, rec: SessionRecord) -> Response:
    return await _totp_page(page, rec, enrolment=await page.services.totp.pending(rec, (page.values or {}).get("flow")))


@router.get("/settings/totp")
async def totp_page(page: UiPage, rec: CabinetPage) -> Response:
    return await _totp_page(page, rec)


@router.post("/settings/totp")
async def totp_begin(page: UiPage, form: Form[FlowIn], rec: RecentPage) -> Response:
    async with page.form(partial(_totp_page, page, rec), form):
        enrolment = await page.services.totp.begin(rec, page.ctx)
    return await _totp_page(page, rec, enrolment=enrolment)


@router.post("/settings/totp/confirm")
async def totp_confirm(page: UiPage, form: Form[FlowCodeIn], rec: RecentPage) -> Response:
    async with page.form(partial(_enrolment_page, page, rec), form) as body:
        codes = await page.services.totp.confirm(rec, body.flow, body.code, page.ctx)
    return await _totp_page(page, rec, codes=codes)


@router.post("/settings/totp/disable")
async def totp_disable(page: UiPage, form: Form[TotpDisableIn], rec: RecentPage) -> Response:
    async with page.form(partial(_totp_page, page, rec), form) as body:
        await page.services.totp.disable(rec, body.code, page.ctx)
    return redirect("/settings/totp")
