"""«История уведомлений» and «Сеансы и безопасность» (SPEC §4.5, §4.10).

Pages are found by keyset (``?before=`` / ``?after=`` cursors, see ``dostup.accounts.history``); a
malformed cursor in the address shows the first page — a person following a damaged link sees a
list, not an error.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter
from fastapi.responses import Response

from dostup.accounts.history import amr_names, detail_text
from dostup.session.reader import SessionRecord
from dostup.web.history import event_rows, notification_rows, page_info
from dostup.web.ui.page import CHECKED, CabinetPage, Page, UiPage, cabinet
from dostup.web.ui.render import clear_session_cookie, redirect

router = APIRouter(include_in_schema=False)
# a signed-out browser posting a session form is sent to sign in and back to the page of the form
SecurityForm = Annotated[SessionRecord, cabinet(back="/security")]


def _window(page: Page) -> tuple[str | None, str | None]:
    """The ``before`` / ``after`` cursors of the address (a damaged one shows the first page)."""
    return page.query("before") or None, page.query("after") or None


@router.get("/notifications")
async def notifications(page: UiPage, rec: CabinetPage) -> Response:
    before, after = _window(page)
    result = await page.services.history.notifications(rec.account_id, before=before, after=after, clamp=True)
    rows = notification_rows(page.services.catalog, page.ctx.locale, result.items)
    return page.render("notifications.html", session=rec, rows=rows, pager=page_info(result))


@router.get("/security")
async def security(page: UiPage, rec: CabinetPage) -> Response:
    cat, locale, history = page.services.catalog, page.ctx.locale, page.services.history
    sessions = await history.sessions(rec.account_id, rec.id)
    before, after = _window(page)
    result = await history.events(rec.account_id, before=before, after=after, clamp=True)
    events = [{**asdict(row), "detail": detail_text(cat, row.detail, locale)}
              for row in event_rows(cat, locale, result.items)]
    notice, ended_others = "", page.query("ended_others")
    if page.flag("ended"):
        notice = cat.text("history.sessions.ended", locale)
    elif ended_others.isascii() and ended_others.isdigit() and len(ended_others) <= 4:
        notice = cat.text("history.sessions.ended_others", locale, count=int(ended_others))
    signed_in_by = {s.id: amr_names(cat, s.amr, locale) for s in sessions}
    passcode = page.services.passcode
    devices = await passcode.list(rec.account_id) if passcode.enabled else []
    return page.render("security.html", session=rec, sessions=sessions, others=any(not s.current for s in sessions),
                       signed_in_by=signed_in_by, devices=devices, events=events, pager=page_info(result),
                       notice=notice)


@router.post("/security/sessions/end-others", dependencies=[CHECKED])
async def end_other_sessions(page: UiPage, rec: SecurityForm) -> Response:
    ended = await page.services.history.end_others(rec.account_id, rec.id, page.ctx)
    return redirect(f"/security?ended_others={ended}")


@router.post("/security/sessions/{session_id}/end", dependencies=[CHECKED])
async def end_session(session_id: str, page: UiPage, rec: SecurityForm) -> Response:
    """End one session; ending the one this browser uses signs it out."""
    await page.services.history.end(rec.account_id, session_id, page.ctx)
    if session_id != rec.id:
        return redirect("/security?ended=1")
    return clear_session_cookie(redirect("/login"), page.request)
