"""«История уведомлений» and «Сеансы и безопасность» (SPEC §4.5, §4.10).

Page numbers in the address are clamped (``?page=0`` or ``?page=abc`` show the first page, a
number past the end shows the last) — a person following an old link sees a list, not an error.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from dostup.accounts import history as H
from dostup.app import Services
from dostup.session.reader import SessionRecord
from dostup.web.deps import get_services, make_context, optional_session
from dostup.web.ui.guard import page_session
from dostup.web.ui.render import clear_session_cookie, read_form, redirect, render

router = APIRouter(include_in_schema=False)


def _history(services: Services) -> H.History:
    return H.History(services.db, services.clock, services.settings.sessions.idle_timeout_seconds)


def _page_number(request: Request) -> int:
    raw = request.query_params.get("page", "1")
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 6 else 1


def _pager(page: H.Page[Any]) -> dict[str, int]:
    return {"page": page.page, "pages": page.pages, "total": page.total}


async def _form_session(request: Request) -> SessionRecord | Response:
    """The session for a form post; a signed-out browser goes to the sign-in page of /security."""
    if await optional_session(request) is None:
        return redirect("/login?return_to=/security")
    return await page_session(request)


@router.get("/notifications")
async def notifications(request: Request) -> Response:
    rec = await page_session(request)
    if not isinstance(rec, SessionRecord):
        return rec
    services = get_services(request)
    locale, cat = make_context(request, "ui").locale, services.catalog
    result = await _history(services).notifications(rec.account_id, page=_page_number(request), clamp=True)
    rows = [
        {
            "created_at": n.created_at, "sent_at": n.sent_at, "channel": n.channel, "kind": n.kind,
            "status": n.status, "destination": n.destination,
            "channel_name": H.channel_name(cat, n.channel, locale),
            "kind_name": H.notification_kind_name(cat, n.kind, locale),
            "status_name": H.status_name(cat, n.status, locale),
        }
        for n in result.items
    ]
    return render(request, "notifications.html", session=rec, rows=rows, pager=_pager(result))


def _event_detail(services: Services, detail: dict[str, str], locale: str) -> str:
    cat = services.catalog
    parts: list[str] = []
    method = detail.get("method")
    if method and cat.has(f"history.detail.method.{method}"):
        parts.append(cat.text(f"history.detail.method.{method}", locale))
    for key in ("identifier", "destination"):
        if detail.get(key):
            parts.append(detail[key])
    if detail.get("count"):
        parts.append(cat.text("history.detail.count", locale, count=detail["count"]))
    return " · ".join(parts)


@router.get("/security")
async def security(request: Request) -> Response:
    rec = await page_session(request)
    if not isinstance(rec, SessionRecord):
        return rec
    services = get_services(request)
    locale, cat = make_context(request, "ui").locale, services.catalog
    hist = _history(services)
    sessions = await hist.sessions(rec.account_id, rec.id)
    result = await hist.events(rec.account_id, page=_page_number(request), clamp=True)
    events = [
        {
            "created_at": e.created_at, "kind": e.kind, "outcome": e.outcome, "ip": e.ip, "device": e.device,
            "kind_name": H.event_kind_name(cat, e.kind, locale),
            "outcome_name": H.outcome_name(cat, e.outcome, locale),
            "detail": _event_detail(services, e.detail, locale),
        }
        for e in result.items
    ]
    notice = ""
    ended_others = request.query_params.get("ended_others", "")
    if request.query_params.get("ended") == "1":
        notice = cat.text("history.sessions.ended", locale)
    elif ended_others.isascii() and ended_others.isdigit() and len(ended_others) <= 4:
        notice = cat.text("history.sessions.ended_others", locale, count=int(ended_others))
    return render(request, "security.html", session=rec, sessions=sessions,
                  others=any(not s.current for s in sessions), events=events, pager=_pager(result), notice=notice)


@router.post("/security/sessions/end-others")
async def end_other_sessions(request: Request) -> Response:
    await read_form(request)
    rec = await _form_session(request)
    if not isinstance(rec, SessionRecord):
        return rec
    services = get_services(request)
    ended = await _history(services).end_others(rec.account_id, rec.id, make_context(request, "ui"))
    return redirect(f"/security?ended_others={ended}")


@router.post("/security/sessions/{session_id}/end")
async def end_session(session_id: str, request: Request) -> Response:
    """End one session; ending the one this browser uses signs it out."""
    await read_form(request)
    rec = await _form_session(request)
    if not isinstance(rec, SessionRecord):
        return rec
    services = get_services(request)
    await _history(services).end(rec.account_id, session_id, make_context(request, "ui"))
    if session_id != rec.id:
        return redirect("/security?ended=1")
    response = redirect("/login")
    clear_session_cookie(response, request)
    return response
