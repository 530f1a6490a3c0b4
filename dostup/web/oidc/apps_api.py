"""«Приложения с доступом» through the JSON API (the same use-cases as the settings page)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from dostup.web.api.schemas import NO_CONTENT, errors
from dostup.web.deps import SameOrigin, ServicesDep, SessionDep

router = APIRouter(prefix="/api/v1/settings/apps", tags=["settings"], responses=errors(401, 403, 422))


@router.get("")
async def list_apps(services: ServicesDep, session: SessionDep) -> list[dict[str, Any]]:
    """Partners the account allowed: which data, since when."""
    apps = await services.oidc.apps(session.account_id)
    return [{"client_id": a.client_id, "name": a.name, "scopes": a.scopes, "since": a.since.isoformat() + "Z"}
            for a in apps]


@router.delete("/{client_id}", **NO_CONTENT, dependencies=[SameOrigin])
async def withdraw(client_id: str, services: ServicesDep, session: SessionDep) -> None:
    """Withdraw the consent; the partner's tokens end at once."""
    await services.oidc.withdraw(session.account_id, client_id[:64])
