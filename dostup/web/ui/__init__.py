"""Server-rendered Russian (and English) pages; every form works without JavaScript."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"


def build_ui_router() -> APIRouter:
    from dostup.web.ui import (
        account_pages,
        company_pages,
        contract_pages,
        history_pages,
        pages,
        recovery_pages,
        settings_pages,
    )

    router = APIRouter()
    for module in (pages, account_pages, recovery_pages, settings_pages, history_pages, company_pages,
                   contract_pages):
        router.include_router(module.router)
    return router


def mount_static(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
