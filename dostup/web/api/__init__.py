"""The JSON API under ``/api/v1`` (OpenAPI at ``/api/openapi.json``)."""

from __future__ import annotations

from fastapi import APIRouter

PREFIX = "/api/v1"


def api_routers() -> list[APIRouter]:
    """The API's routers, each included in the app with :data:`PREFIX` (one level of inclusion:
    FastAPI matches nested included routers once per level on every request)."""
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

    return [module.router for module in
            (auth, registration, recovery, account, settings, history, companies, contracts, admin)]
