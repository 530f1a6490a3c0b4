"""Password change, re-authentication and account deletion over JSON."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from pydantic import Field
from pydantic.dataclasses import dataclass

from dostup.accounts.levels import AccountStatus
from dostup.selfservice.reauth import ReauthInput
from dostup.selfservice.settings.password import PasswordChangeInput
from dostup.web.api.schemas import NO_CONTENT, SessionOut, _In, errors, session_out
from dostup.web.deps import AnySessionDep, ApiContext, SameOrigin, ServicesDep, SessionDep

router = APIRouter(tags=["account"], dependencies=[SameOrigin], responses=errors(401, 403, 422))


@dataclass(frozen=True)
class PasswordChangeIn(PasswordChangeInput):
    pass


@dataclass(frozen=True)
class ReauthIn(ReauthInput):
    method: Annotated[str, Field(max_length=32)] = "password"  # password, totp
    code: Annotated[str | None, Field(max_length=32)] = None


class DeleteAccountIn(_In):
    confirm: bool = False


@router.post("/settings/password")
async def change_password(body: PasswordChangeIn, ctx: ApiContext, services: ServicesDep,
                          rec: AnySessionDep) -> SessionOut:
    """Change the password (also the forced change after a temporary password). Returns the rotated token."""
    return session_out(await services.password_change.change(rec, body, ctx))


@router.post("/reauth")
async def reauthenticate(body: ReauthIn, ctx: ApiContext, services: ServicesDep, rec: SessionDep) -> SessionOut:
    """Confirm the password again before a sensitive action; returns the rotated token."""
    return session_out(await services.reauth.confirm(rec, body, ctx))


@router.get("/account/status")
async def account_status(services: ServicesDep, rec: SessionDep) -> AccountStatus:
    """The account's level (``simplified`` today) and what is left to complete it: ``pending``
    ``["email_confirmation"]`` until the link in the letter is followed (gosuslugi)."""
    return await services.profile.status(rec.account_id)


@router.delete("/account", **NO_CONTENT)
async def delete_account(body: DeleteAccountIn, ctx: ApiContext, services: ServicesDep, rec: SessionDep) -> None:
    """Erase the account after a recent re-authentication (POST /api/v1/reauth first)."""
    await services.deletion.delete(rec, body.confirm, ctx)
