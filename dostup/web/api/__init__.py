"""The JSON API under ``/api/v1`` (OpenAPI at ``/api/openapi.json``)."""

from __future__ import annotations

from fastapi import APIRouter


def build_api_router() -> APIRouter:
    from dostup.web.api import (
        account,
        admin,
        auth,
        companies,
        contracts,
        history,
        recovery,
        registration,
        settings,
    )

    router = APIRouter(prefix="/api/v1")
    for module in (auth, registration, recovery, account, settings, history, companies, contracts, admin):
        router.include_router(module.router)
    return router
