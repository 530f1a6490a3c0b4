"""Password change, re-authentication and account deletion over JSON."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import Field

from dostup.accounts.levels import AccountStatus
from dostup.web.api.schemas import NO_CONTENT, SessionOut, _In, errors, session_out
from dostup.web.deps import AnySessionDep, ApiContext, SameOrigin, ServicesDep, SessionDep

router = APIRouter(tags=["account"], dependencies=[SameOrigin], responses=errors(401, 403, 422))


class PasswordChangeIn(_In):
    old_password: str | None = None
    new_password: str | None = None
    new_password_repeat: str | None = None
    captcha: str | None = None  # required after 5 wrong old passwords


class ReauthIn(_In):
    method: str = Field(default="password", max_length=32)  # password, totp
    password: str | None = None
    code: str | None = Field(default=None, max_length=32)  # the code, for method totp
    captcha: str | None = None  # required after 5 wrong passwords


class DeleteAccountIn(_In):
    confirm: bool = False


@router.post("/settings/password")
async def change_password(body: PasswordChangeIn, ctx: ApiContext, services: ServicesDep,
                          rec: AnySessionDep) -> SessionOut:
    """Change the password (also the forced change after a temporary password). Returns the rotated token."""
    issued = await services.password_change.change(rec, body.old_password, body.new_password,
                                                   body.new_password_repeat, ctx, captcha=body.captcha)
    return session_out(issued)


@router.post("/reauth")
async def reauthenticate(body: ReauthIn, ctx: ApiContext, services: ServicesDep, rec: SessionDep) -> SessionOut:
    """Confirm the password again before a sensitive action; returns the rotated token."""
    issued = await services.reauth.confirm(rec, body.password if body.method == "password" else body.code, ctx,
                                           method=body.method, captcha=body.captcha)
    return session_out(issued)


@router.get("/account/status")
async def account_status(services: ServicesDep, rec: SessionDep) -> AccountStatus:
    """The account's level (``simplified`` today) and what is left to complete it: ``pending``
    ``["email_confirmation"]`` until the link in the letter is followed (gosuslugi)."""
    return await services.profile.status(rec.account_id)


@router.delete("/account", **NO_CONTENT)
async def delete_account(body: DeleteAccountIn, ctx: ApiContext, services: ServicesDep, rec: SessionDep) -> None:
    """Erase the account after a recent re-authentication (POST /api/v1/reauth first)."""
    await services.deletion.delete(rec, body.confirm, ctx)
