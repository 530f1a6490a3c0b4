"""Development only: the dev outbox as a page and as JSON (absent in production)."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import select

from dostup.persistence.models import OutboxMessage
from dostup.web.deps import get_services
from dostup.web.ui.render import render


async def recent_messages(request: Request, limit: int = 200) -> list[dict[str, object]]:
    services = get_services(request)
    async with services.db.read() as s:
        rows = (
            await s.execute(select(OutboxMessage).order_by(OutboxMessage.created_at.desc(), OutboxMessage.id).limit(limit))
        ).scalars().all()
    return [
        {"id": m.id, "to": m.to, "channel": m.channel, "kind": m.kind, "subject": m.subject, "text": m.body,
         "code": m.code, "status": m.status, "created_at": m.created_at}
        for m in rows
    ]


def build_dev_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/dev/outbox")
    async def outbox_page(request: Request) -> Response:
        return render(request, "dev_outbox.html", messages=await recent_messages(request), session=None)

    @router.get("/dev/outbox.json")
    async def outbox_json(request: Request) -> Response:
        items = await recent_messages(request)
        for item in items:
            created = item["created_at"]
            assert isinstance(created, dt.datetime)
            item["created_at"] = created.isoformat() + "Z"
        return JSONResponse(items)

    return router
