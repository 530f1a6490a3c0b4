"""Helpers of the hot calls served by plain Starlette routes (whoami, the passkey sign-in, the
second sign-in step): FastAPI's per-request machinery (dependency solving, body models resolved
per call, exit stack) costs more CPU than those use-cases.  Such a route sits before its FastAPI
twin in the router, so it answers; the twin documents the call in OpenAPI and is never reached.
Errors go through the same handlers, with the same statuses and bodies."""

from __future__ import annotations

from typing import TypeVar

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from dostup.web.deps import api_same_origin

M = TypeVar("M", bound=BaseModel)


async def posted_json(request: Request, model: type[M]) -> M:
    """The same-origin check and the JSON body parsed into ``model``, refused as FastAPI refuses
    it (malformed JSON: 400; a field of the wrong kind: 422 naming it)."""
    await api_same_origin(request)
    raw = await request.body()
    if not raw:
        raise RequestValidationError([{"type": "missing", "loc": ("body",), "msg": "Field required"}])
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors()) from None
