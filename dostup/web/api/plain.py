"""Helpers of the hot calls served by plain Starlette routes (whoami, the password and the passkey sign-in, the
second sign-in step): FastAPI's per-request machinery (dependency solving, body models resolved
per call, exit stack) costs more CPU than those use-cases.  Such a route sits before its FastAPI
twin in the router, so it answers; the twin documents the call in OpenAPI and is never reached.
Errors go through the same handlers, with the same statuses and bodies."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any, TypeVar

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import TypeAdapter, ValidationError

from dostup.web.deps import api_same_origin

M = TypeVar("M")


@lru_cache(maxsize=32)
def _adapter(model: Any) -> TypeAdapter[Any]:
    return TypeAdapter(model)


def _json_type(value: str) -> bool:
    """``application/json`` or ``application/…+json``, parameters aside: what FastAPI reads as JSON."""
    main, _, sub = value.partition(";")[0].strip().lower().partition("/")
    return main == "application" and (sub == "json" or sub.endswith("+json"))


async def posted_json(request: Request, model: type[M]) -> M:
    """The same-origin check and the JSON body parsed into ``model`` (a pydantic model or
    dataclass), as FastAPI parses and refuses it: no body, or one not declared JSON, 422; malformed
    JSON, 400; a field of the wrong kind, 422 naming it (``json.loads``, then the model, as FastAPI
    does: a lone surrogate is a bad field, not bad JSON)."""
    await api_same_origin(request)
    raw = await request.body()
    if not raw:
        raise RequestValidationError([{"type": "missing", "loc": ("body",), "msg": "Field required"}])
    declared = request.headers.get("content-type")
    if not declared or not _json_type(declared):  # FastAPI then validates the raw bytes, which no model is
        raise RequestValidationError([{"type": "model_attributes_type", "loc": ("body",), "msg": "Not JSON"}])
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise RequestValidationError([{"type": "json_invalid", "loc": ("body", 0), "msg": str(exc)}]) from None
    try:
        return _adapter(model).validate_python(data)  # type: ignore[no-any-return, arg-type]
    except ValidationError as exc:
        raise RequestValidationError(exc.errors()) from None
