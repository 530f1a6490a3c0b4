"""The JSON API under ``/api/v1`` (OpenAPI at ``/api/openapi.json``)."""

from __future__ import annotations

from fastapi import APIRouter


def build_api_router() -> APIRouter:
    from dostup.web.api import account, auth, history, recovery, registration, settings

    router = APIRouter(prefix="/api/v1")
    for module in (auth, registration, recovery, account, settings, history):
        router.include_router(module.router)
    return router
