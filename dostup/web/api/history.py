"""«История уведомлений», sessions and security events over JSON (SPEC §4.5, §4.10).

Paging: ``page`` from 1, ``per_page`` 1..100 (20 by default); anything else is 422 with the
usual error shape.  A page past the last one is an empty list, with ``total`` and ``pages``.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from dostup.accounts import history as H
from dostup.app import Services
from dostup.web.api.schemas import ErrorBody
from dostup.web.api.schemas_history import (
    EndedOut,
    NotificationOut,
    NotificationsOut,
    SecurityEventOut,
    SecurityEventsOut,
    SessionItemOut,
    SessionsOut,
)
from dostup.web.deps import ServicesDep, SessionDep, api_same_origin, make_context

router = APIRouter(tags=["history"], responses={401: {"model": ErrorBody}, 403: {"model": ErrorBody},
                                                404: {"model": ErrorBody}, 422: {"model": ErrorBody}})


def history(services: Services) -> H.History:
    return H.History(services.db, services.clock, services.settings.sessions.idle_timeout_seconds)


@router.get("/notifications")
async def notifications(request: Request, services: ServicesDep, rec: SessionDep,
                        page: int = 1, per_page: int = H.DEFAULT_PER_PAGE) -> NotificationsOut:
    """Every SMS and email sent to the account, newest first; destinations masked, no texts or codes."""
    result = await history(services).notifications(rec.account_id, page=page, per_page=per_page)
    locale, cat = make_context(request, "api").locale, services.catalog
    items = [
        NotificationOut(
            id=n.id, created_at=n.created_at, sent_at=n.sent_at, channel=n.channel,
            channel_name=H.channel_name(cat, n.channel, locale), destination=n.destination, kind=n.kind,
            kind_name=H.notification_kind_name(cat, n.kind, locale), status=n.status,
            status_name=H.status_name(cat, n.status, locale),
        )
        for n in result.items
    ]
    return NotificationsOut(items=items, page=result.page, per_page=result.per_page, total=result.total,
                            pages=result.pages)


@router.get("/sessions")
async def sessions(services: ServicesDep, rec: SessionDep) -> SessionsOut:
    """Active sessions of the account, the current one first (``current: true``)."""
    items = await history(services).sessions(rec.account_id, rec.id)
    return SessionsOut(items=[
        SessionItemOut(id=s.id, current=s.current, device=s.device, ip=s.ip, created_at=s.created_at,
                       last_seen_at=s.last_seen_at, expires_at=s.expires_at, remember=s.remember, limited=s.limited)
        for s in items
    ])


@router.delete("/sessions/{session_id}", status_code=204, dependencies=[Depends(api_same_origin)])
async def end_session(session_id: str, request: Request, services: ServicesDep, rec: SessionDep) -> Response:
    """End one of the account's sessions (the current one too: its token then gets 401).

    Another account's session id is 404, like an id that does not exist.
    """
    await history(services).end(rec.account_id, session_id, make_context(request, "api"))
    return Response(status_code=204)


@router.post("/sessions/end-others", dependencies=[Depends(api_same_origin)])
async def end_other_sessions(request: Request, services: ServicesDep, rec: SessionDep) -> EndedOut:
    """End every session of the account except the one making this call."""
    ended = await history(services).end_others(rec.account_id, rec.id, make_context(request, "api"))
    return EndedOut(ended=ended)


@router.get("/security-events")
async def security_events(request: Request, services: ServicesDep, rec: SessionDep,
                          page: int = 1, per_page: int = H.DEFAULT_PER_PAGE) -> SecurityEventsOut:
    """Sign-ins, failures, password changes, recoveries and other events, newest first."""
    result = await history(services).events(rec.account_id, page=page, per_page=per_page)
    locale, cat = make_context(request, "api").locale, services.catalog
    items = [
        SecurityEventOut(
            id=e.id, created_at=e.created_at, kind=e.kind, kind_name=H.event_kind_name(cat, e.kind, locale),
            outcome=e.outcome, outcome_name=H.outcome_name(cat, e.outcome, locale), ip=e.ip, device=e.device,
            detail=e.detail,
        )
        for e in result.items
    ]
    return SecurityEventsOut(items=items, page=result.page, per_page=result.per_page, total=result.total,
                             pages=result.pages)
