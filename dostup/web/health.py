"""Health checks for load balancers and orchestrators (outside ``/api/v1``: no session, no personal data).

``GET /health`` says the process answers (liveness: restart it if not) and touches nothing else;
``GET /health/ready`` says it can serve (readiness: send it traffic): the database and the store of the
limits answer, else 503 with ``Retry-After`` in the API's error shape, within the usual 5 s.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from dostup.web.api.schemas import errors
from dostup.web.deps import get_services

router = APIRouter(prefix="/health", tags=["operations"])
_NO_STORE = {"Cache-Control": "no-store"}


@router.get("")
async def alive() -> JSONResponse:
    """Liveness: this process answers requests."""
    return JSONResponse({"status": "ok"}, headers=_NO_STORE)


@router.get("/ready", responses=errors(503))
async def ready(request: Request) -> JSONResponse:
    """Readiness: the database and the limits' store (Redis where configured) answer."""
    return JSONResponse(await get_services(request).ready(), headers=_NO_STORE)
