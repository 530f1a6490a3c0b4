"""Steps that many flow tests share."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

from tests.support import Surface, captcha_token, last_code, make_settings

PASSWORD = "Tundra-Lantern-42"


def phone_e164(n: int) -> str:
    return f"+7912{n:07d}"


async def registration_fields(surface: Surface, phone: str, **over: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "phone": phone,
        "country": "RU",
        "password": PASSWORD,
        "password_repeat": PASSWORD,
        "consent_personal_data": True,
        "consent_marketing": False,
        "captcha": await captcha_token(surface.client, "register"),
    }
    fields.update(over)
    return {k: v for k, v in fields.items() if v is not None}


async def register(surface: Surface, phone: str, **over: Any) -> str:
    """Register and confirm; returns the account's phone.  The surface is signed in afterwards."""
    r = await surface.register(**await registration_fields(surface, phone, **over))
    assert r.ok, (r.status, r.code, r.field, r.message)
    flow_id = r.data["flow_id"]
    code = await last_code(surface.client, phone)
    c = await surface.confirm(flow_id, code)
    assert c.ok, (c.status, c.code, c.field, c.message)
    return phone


def count_entries(monkeypatch: Any) -> list[str]:
    """The paths of the requests that enter the application (``FastAPI.__call__``) from now on: what
    a fast path answers by itself never does."""
    from fastapi import FastAPI

    entered: list[str] = []
    through = FastAPI.__call__

    async def counting(self: FastAPI, scope: Any, receive: Any, send: Any) -> None:
        entered.append(scope["path"])
        await through(self, scope, receive, send)

    monkeypatch.setattr(FastAPI, "__call__", counting)
    return entered


async def crash_answer(app: Any, path: str, message: str) -> httpx.Response:
    """What a client gets from a route added at ``path`` that raises ``RuntimeError(message)``."""

    @app.get(path)
    async def boom() -> None:
        raise RuntimeError(message)

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        return await client.get(path)


@contextlib.asynccontextmanager
async def redis_unreachable(tmp_path: Path) -> AsyncIterator[Any]:
    """Started services on a SQLite file whose limits' store is a Redis that never answers (port 1)."""
    from dostup.services import build_services

    settings = make_settings(DOSTUP_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/r.db",
                             DOSTUP_REDIS_URL="redis://127.0.0.1:1")
    services = build_services(settings)
    await services.start(run_migrations=True)
    try:
        yield services
    finally:
        await services.stop()
