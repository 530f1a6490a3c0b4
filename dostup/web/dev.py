"""Development only: the dev outbox as a page and as JSON (absent in production)."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from sqlalchemy import select

from dostup.persistence.models import OutboxMessage
from dostup.services import Services
from dostup.web.deps import ServicesDep
from dostup.web.ui.page import UiPage

router = APIRouter(include_in_schema=False)


async def _recent(services: Services, limit: int = 200) -> Sequence[OutboxMessage]:
    async with services.db.read() as s:
        query = select(OutboxMessage).order_by(OutboxMessage.created_at.desc(), OutboxMessage.id).limit(limit)
        return (await s.execute(query)).scalars().all()


def _row(m: OutboxMessage) -> dict[str, object]:
    return {"id": m.id, "to": m.to, "channel": m.channel, "kind": m.kind, "subject": m.subject, "text": m.body,
            "code": m.code, "status": m.status, "created_at": m.created_at}


@router.get("/dev/outbox")
async def outbox_page(page: UiPage) -> Response:
    return page.render("dev_outbox.html", messages=[_row(m) for m in await _recent(page.services)], session=None)


@router.get("/dev/outbox.json")
async def outbox_json(services: ServicesDep) -> Response:
    return JSONResponse([{**_row(m), "created_at": m.created_at.isoformat() + "Z"} for m in await _recent(services)])
