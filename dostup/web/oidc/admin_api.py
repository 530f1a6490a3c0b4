"""The same administration as ``dostup admin add-client …``, for tools: ``/api/v1/admin/oidc``.

Admin bearer token only (``dostup.web.api.admin.AdminDep``); answers are the CLI's JSON.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from dostup.web.api.admin import AdminDep
from dostup.web.api.schemas import errors
from dostup.web.deps import ServicesDep

router = APIRouter(prefix="/api/v1/admin/oidc", tags=["admin"], responses=errors(401, 403, 422))


class ClientIn(BaseModel):
    name: str = Field(max_length=200)
    redirect_uris: list[str] = Field(min_length=1, max_length=20)
    post_logout_redirect_uris: list[str] = Field(default_factory=list, max_length=20)
    backchannel_logout_uri: str | None = Field(default=None, max_length=512)
    public: bool = False
    min_level: int = 1
    scopes: str = Field(default="openid profile email phone offline_access", max_length=255)
    subject_type: str = "public"
    jwks: dict[str, Any] | None = None


@router.get("/clients")
async def list_clients(services: ServicesDep, admin: AdminDep) -> list[dict[str, Any]]:
    return await services.oidc.clients.listing()


@router.post("/clients", status_code=201)
async def add_client(body: ClientIn, services: ServicesDep, admin: AdminDep) -> dict[str, Any]:
    """Register a relying party; ``client_secret`` appears in this answer only."""
    return await services.oidc.clients.add(**body.model_dump())


@router.delete("/clients/{client_id}")
async def remove_client(client_id: str, services: ServicesDep, admin: AdminDep) -> dict[str, Any]:
    return await services.oidc.remove_client(client_id[:64])


@router.post("/clients/{client_id}/secret")
async def rotate_client_secret(client_id: str, services: ServicesDep, admin: AdminDep) -> Response:
    result = await services.oidc.clients.rotate_secret(client_id[:64])
    return JSONResponse(result, headers={"Cache-Control": "no-store"})


@router.post("/keys/rotate")
async def rotate_keys(services: ServicesDep, admin: AdminDep, delay: int | None = None) -> dict[str, Any]:
    keys = services.oidc.keys
    result = await keys.rotate(delay)
    result["keys"] = await keys.listing()
    return result
