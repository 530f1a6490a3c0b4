"""Administrator endpoints (``/api/v1/admin``): only an ``admin`` account, only with a bearer token.

A bearer token (not the cabinet's cookie) keeps these endpoints out of reach of a page that the
administrator happens to have open: nothing a browser sends on its own can call them.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import ValidationError

from dostup.admin.contracts import ContractImporter, ImportReport, decode, read_csv, rows_from_json
from dostup.core.errors import DostupError, Forbidden, Unauthenticated, ValidationFailed
from dostup.session.reader import SessionRecord
from dostup.web.api.schemas import ErrorBody
from dostup.web.api.schemas_contracts import ImportErrorOut, ImportIn, ImportOut
from dostup.web.deps import ServicesDep, get_services, make_context, token_from

router = APIRouter(prefix="/admin", tags=["admin"], responses={
    400: {"model": ErrorBody}, 401: {"model": ErrorBody}, 403: {"model": ErrorBody}, 413: {"model": ErrorBody},
    422: {"model": ErrorBody},
})
MAX_ROWS = 5000


class MalformedJson(DostupError):
    """400, as for every other endpoint's unreadable JSON (``web/errors.py``)."""

    code = "malformed"
    message_id = "error.malformed_json"


async def require_admin(request: Request) -> SessionRecord:
    services = get_services(request)
    token, kind = token_from(request, services)
    rec = await services.sessions.authenticate(token)
    if rec is None:
        raise Unauthenticated()
    if kind != "bearer":
        raise Forbidden("contracts.admin_bearer", code="bearer_required")
    if rec.state != "active" or rec.role != "admin":
        raise Forbidden("contracts.admin_only", code="admin_only")
    return rec


AdminDep = Annotated[SessionRecord, Depends(require_admin)]

_IMPORT_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "text/csv": {"schema": {"type": "string"},
                         "example": "number,kind,phone,secret\n100200300400,contract,+79123456789,1520.40\n"},
            "application/json": {"schema": ImportIn.model_json_schema()},
        },
    }
}


async def _rows(request: Request) -> list[Any]:
    body = await request.body()
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype in ("text/csv", "text/plain"):
        return read_csv(decode(body))
    if ctype != "application/json":
        raise ValidationFailed("contracts.import_body", code="bad_request")
    try:
        parsed = ImportIn.model_validate(json.loads(body))
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise MalformedJson() from None
    except ValidationError:
        raise ValidationFailed("contracts.import_body", code="bad_request") from None
    if parsed.csv is not None and parsed.rows is None:
        return read_csv(parsed.csv)
    if parsed.rows is not None and parsed.csv is None:
        return rows_from_json(r.model_dump() for r in parsed.rows)
    raise ValidationFailed("contracts.import_body", code="bad_request")


def _report(request: Request, report: ImportReport) -> ImportOut:
    services = get_services(request)
    locale = make_context(request, "api").locale
    return ImportOut(
        created=report.created, updated=report.updated,
        errors=[ImportErrorOut(line=e.line, field=e.field, code=e.code,
                               message=services.catalog.text(e.message_id, locale, **e.params))
                for e in report.errors],
    )


@router.post("/contracts/import", openapi_extra=_IMPORT_BODY)
async def import_contracts(request: Request, services: ServicesDep, admin: AdminDep) -> ImportOut:
    """Import or update the contract registry: CSV text (``text/csv``) or JSON ``{"csv": …}`` / ``{"rows": […]}``.

    Rows with errors are reported (``line``: the CSV line, or the 1-based position in ``rows``)
    and skipped; the others are upserted by number.  Bodies are limited like every request
    (64 KB by default): load large registries with ``dostup admin import-contracts``.
    """
    rows = await _rows(request)
    if len(rows) > MAX_ROWS:
        raise ValidationFailed("contracts.import_too_many", code="too_many_rows", params={"max": MAX_ROWS})
    importer = ContractImporter(services.db, services.keyring)
    report = await importer.import_rows(rows, now=services.clock.now(), ctx=make_context(request, "api"),
                                        account_id=admin.account_id)
    return _report(request, report)
