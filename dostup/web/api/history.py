"""«История уведомлений», sessions and security events over JSON (SPEC §4.5, §4.10).

Paging by keyset, newest first: ``per_page`` 1..100 (20 by default); the answer's ``next`` is the
cursor of the older page (give it as ``before``), ``prev`` the cursor of the newer page (give it as
``after``), None at either end; ``total`` counts the whole list.  A malformed cursor or page size is
422 with the usual error shape.
Rows are the use-cases' own (``ActiveSession``, two fields described) or those with their names added
(``web/history.py``): destinations and event details arrive masked.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Generic, TypeVar

from fastapi import APIRouter
from pydantic import BaseModel, Field
from pydantic.dataclasses import dataclass

from dostup.accounts import history as H
from dostup.web.api.schemas import NO_CONTENT, errors
from dostup.web.deps import ApiContext, SameOrigin, ServicesDep, SessionDep
from dostup.web.history import NamedEvent, NamedNotification, event_rows, notification_rows, page_info

router = APIRouter(tags=["history"], responses=errors(401, 403, 404, 422))
T = TypeVar("T")


class Paged(BaseModel, Generic[T]):
    items: list[T]
    per_page: int
    total: int
    next: str | None = Field(description="cursor of the older page: pass it as ``before``")
    prev: str | None = Field(description="cursor of the newer page: pass it as ``after``")


@dataclass(frozen=True)
class SessionItemOut(H.ActiveSession):
    aal: Annotated[int, Field(description="authenticator assurance level the session was signed in with (1 or 2)")]
    amr: Annotated[tuple[str, ...],
                   Field(description="how it was signed in (RFC 8176: pwd, sms, otp, hwk, swk, user, pin, mfa)")]


class SessionsOut(BaseModel):
    items: list[SessionItemOut]


class EndedOut(BaseModel):
    ended: int


@router.get("/notifications")
async def notifications(ctx: ApiContext, services: ServicesDep, rec: SessionDep,
                        before: str | None = None, after: str | None = None,
                        per_page: int = H.DEFAULT_PER_PAGE) -> Paged[NamedNotification]:
    """Every SMS and email sent to the account, newest first; destinations masked, no texts or codes."""
    result = await services.history.notifications(rec.account_id, before=before, after=after, per_page=per_page)
    return Paged(items=notification_rows(services.catalog, ctx.locale, result.items), **page_info(result))


@router.get("/sessions")
async def sessions(services: ServicesDep, rec: SessionDep) -> SessionsOut:
    """Active sessions of the account, the current one first (``current: true``)."""
    items = await services.history.sessions(rec.account_id, rec.id)
    return SessionsOut(items=[SessionItemOut(**asdict(s)) for s in items])


@router.delete("/sessions/{session_id}", **NO_CONTENT, dependencies=[SameOrigin])
async def end_session(session_id: str, ctx: ApiContext, services: ServicesDep, rec: SessionDep) -> None:
    """End one of the account's sessions (the current one too: its token then gets 401).

    Another account's session id is 404, like an id that does not exist.
    """
    await services.history.end(rec.account_id, session_id, ctx)


@router.post("/sessions/end-others", dependencies=[SameOrigin])
async def end_other_sessions(ctx: ApiContext, services: ServicesDep, rec: SessionDep) -> EndedOut:
    """End every session of the account except the one making this call."""
    return EndedOut(ended=await services.history.end_others(rec.account_id, rec.id, ctx))


@router.get("/security-events")
async def security_events(ctx: ApiContext, services: ServicesDep, rec: SessionDep,
                          before: str | None = None, after: str | None = None,
                          per_page: int = H.DEFAULT_PER_PAGE) -> Paged[NamedEvent]:
    """Sign-ins, failures, password changes, recoveries and other events, newest first."""
    result = await services.history.events(rec.account_id, before=before, after=after, per_page=per_page)
    return Paged(items=event_rows(services.catalog, ctx.locale, result.items), **page_info(result))
