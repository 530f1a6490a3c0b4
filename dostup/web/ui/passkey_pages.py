"""Passkeys on the pages: «Войти по отпечатку», the passkey second step and re-authentication, and
«Вход по отпечатку» in settings.

The browser's half (``static/passkeys.js``) asks the JSON API for options and posts the
authenticator's answer in an ordinary form to the routes here, so the server answers with pages
and cookies as for every other form (CSRF token included).  Without JavaScript these forms stay
hidden and every other method works as before.
"""

from __future__ import annotations

from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter
from fastapi.responses import Response

from dostup.session.reader import SessionRecord
from dostup.web.api.schemas import _In
from dostup.web.ui.account_pages import reauth_form
from dostup.web.ui.page import CHECKED, CabinetPage, Form, Page, UiPage, cabinet
from dostup.web.ui.pages import login_form, signed_in_page
from dostup.web.ui.render import redirect, set_session_cookie
from dostup.web.ui.second_factor_pages import second_factor_form

router = APIRouter(include_in_schema=False)
SETTINGS = "/settings/passkeys"
PasskeysPage = Annotated[SessionRecord, cabinet(recent=True, reauth_back=SETTINGS)]


class _CeremonyIn(_In):
    """The authenticator's answer to the options ``flow`` (WebAuthn), as ``passkeys.js`` posts it."""

    flow: str | None = None
    credential: str | None = None
    remember: bool = False
    name: str | None = None


CeremonyForm = Form[_CeremonyIn]


def _beside_button(page: Page) -> None:
    """The refusal beside the passkey button (field ``credential``), whatever field it named."""
    shown = page.shown
    shown["errors"] = {"credential": " ".join([*shown["errors"].values(), shown["form_message"]]).strip()}
    shown["form_message"] = ""


async def _login_failed(page: Page, target: str | None, parent: str) -> Response:
    _beside_button(page)
    page.values = None if parent else {"country": "RU", "method": "", "return_to": target or ""}
    return await (second_factor_form(page, parent, target or "") if parent else login_form(page, None))


@router.post("/login/passkey")
async def login_submit(page: UiPage, form: CeremonyForm) -> Response:
    target = page.return_to(form.get("return_to"))
    async with page.form(partial(_login_failed, page, target, form.get("parent")), form) as body:
        outcome = await page.services.login.finish(body.flow, body.credential, page.ctx, remember=body.remember)
    return await signed_in_page(page, outcome, target)


async def _reauth_failed(page: Page, rec: SessionRecord, target: str) -> Response:
    _beside_button(page)
    return await reauth_form(page, rec, target)


@router.post("/reauth/passkey")
async def reauth_submit(page: UiPage, form: CeremonyForm, rec: CabinetPage) -> Response:
    target = page.return_to(form.get("return_to")) or "/cabinet"
    async with page.form(partial(_reauth_failed, page, rec, target), form) as body:
        issued = await page.services.reauth.finish_ceremony(rec, body.flow, body.credential, page.ctx)
    return set_session_cookie(redirect(target), page.request, issued)


# -- settings ----------------------------------------------------------------------------------

async def _settings_page(page: Page, rec: SessionRecord, **context: Any) -> Response:
    services = page.services
    return page.render("settings_passkeys.html", session=rec, passkeys=await services.passkeys.list(rec.account_id),
                       enabled=services.passkeys.rp is not None, recent=services.reauth.is_recent(rec), **context)


async def _add_failed(page: Page, rec: SessionRecord) -> Response:
    _beside_button(page)
    return await _settings_page(page, rec)


@router.get(SETTINGS)
async def settings_page(page: UiPage, rec: CabinetPage) -> Response:
    done = page.query("done")
    return await _settings_page(page, rec, done=done if done in ("added", "removed", "renamed") else "")


@router.post(SETTINGS)
async def add_submit(page: UiPage, form: CeremonyForm, rec: PasskeysPage) -> Response:
    async with page.form(partial(_add_failed, page, rec), form) as body:
        await page.services.passkeys.finish_add(rec, body.flow, body.credential, body.name, page.ctx)
    return redirect(SETTINGS + "?done=added")


@router.post(SETTINGS + "/{passkey_id}/rename")
async def rename_submit(passkey_id: str, page: UiPage, form: CeremonyForm, rec: CabinetPage) -> Response:
    async with page.form(partial(_settings_page, page, rec, renaming=passkey_id), form) as body:
        await page.services.passkeys.rename(rec, passkey_id, body.name, page.ctx)
    return redirect(SETTINGS + "?done=renamed")


@router.post(SETTINGS + "/{passkey_id}/remove", dependencies=[CHECKED])
async def remove_submit(passkey_id: str, page: UiPage, rec: PasskeysPage) -> Response:
    await page.services.passkeys.remove(rec, passkey_id, page.ctx)
    return redirect(SETTINGS + "?done=removed")
