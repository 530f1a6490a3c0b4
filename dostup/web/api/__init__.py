"""The JSON API under ``/api/v1`` (OpenAPI at ``/api/openapi.json``)."""

from __future__ import annotations

from fastapi import APIRouter


def build_api_router() -> APIRouter:
    from dostup.web.api import auth, registration

    router = APIRouter(prefix="/api/v1")
    router.include_router(auth.router)
    router.include_router(registration.router)
    return router
