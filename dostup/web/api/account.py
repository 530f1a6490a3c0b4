"""Password change and re-authentication over JSON."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from dostup.session.reader import SessionRecord
from dostup.web.api.schemas import ErrorBody, SessionOut
from dostup.web.api.schemas_account import DeleteAccountIn, PasswordChangeIn, ReauthIn
from dostup.web.deps import ServicesDep, api_same_origin, make_context, require_session

router = APIRouter(tags=["account"], dependencies=[Depends(api_same_origin)],
                   responses={401: {"model": ErrorBody}, 403: {"model": ErrorBody}, 422: {"model": ErrorBody}})

AnySessionDep = Annotated[SessionRecord, Depends(require_session)]


@router.post("/settings/password")
async def change_password(body: PasswordChangeIn, request: Request, services: ServicesDep,
                          rec: AnySessionDep) -> SessionOut:
    """Change the password (also the forced change after a temporary password). Returns the rotated token."""
    issued = await services.password_change.change(
        rec, body.old_password, body.new_password, body.new_password_repeat, make_context(request, "api")
    )
    return SessionOut(token=issued.token, expires_at=issued.expires_at, state="active")


@router.post("/reauth")
async def reauthenticate(body: ReauthIn, request: Request, services: ServicesDep, rec: AnySessionDep) -> SessionOut:
    """Confirm the password again before a sensitive action; returns the rotated token."""
    if rec.state != "active":
        from dostup.core.errors import Forbidden

        raise Forbidden("session.password_change_required", code="password_change_required")
    issued = await services.reauth.confirm(rec, body.password, make_context(request, "api"))
    return SessionOut(token=issued.token, expires_at=issued.expires_at, state="active")


@router.delete("/account", status_code=204)
async def delete_account(body: DeleteAccountIn, request: Request, services: ServicesDep, rec: AnySessionDep) -> Response:
    """Erase the account after a recent re-authentication (POST /api/v1/reauth first)."""
    if rec.state != "active":
        from dostup.core.errors import Forbidden

        raise Forbidden("session.password_change_required", code="password_change_required")
    await services.deletion.delete(rec, body.confirm, make_context(request, "api"))
    return Response(status_code=204)
