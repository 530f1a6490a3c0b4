"""Administrator endpoints (``/api/v1/admin``): only an ``admin`` account, only with a bearer token.

A bearer token (not the cabinet's cookie) keeps these endpoints out of reach of a page that the
administrator happens to have open: nothing a browser sends on its own can call them.  The session
must be of two factors (``aal`` 2: a password and TOTP, or a passkey): staff see and change every
customer's account.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ValidationError

from dostup.admin.contracts import ImportReport, decode, read_csv, rows_from_json
from dostup.core.errors import Forbidden, ValidationFailed
from dostup.services import Services
from dostup.session.reader import SessionRecord
from dostup.session.strength import is_unrestricted
from dostup.web.api.schemas import _In, errors
from dostup.web.deps import ApiContext, ServicesDep, get_services, require_session, token_from
from dostup.web.errors import MalformedJson

router = APIRouter(prefix="/admin", tags=["admin"], responses=errors(400, 401, 403, 413, 422))
MAX_ROWS = 5000


def _staff(roles: tuple[str, ...], *, bearer_message: str, role_message: str, role_code: str) -> Any:
    """A bearer session of one of ``roles``: the dependency of an area of staff endpoints."""

    async def require(request: Request) -> SessionRecord:
        rec = await require_session(request)
        if token_from(request, get_services(request))[1] != "bearer":
            raise Forbidden(bearer_message, code="bearer_required")
        if not is_unrestricted(rec) or rec.role not in roles:
            raise Forbidden(role_message, code=role_code)
        if rec.strength.aal < 2:  # staff see every customer's data: a password alone is not enough
            raise Forbidden("staff.second_factor_required", code="second_factor_required")
        return rec

    return Depends(require)


AdminDep = Annotated[SessionRecord, _staff(("admin",), bearer_message="contracts.admin_bearer",
                                           role_message="contracts.admin_only", role_code="admin_only")]
OperatorDep = Annotated[SessionRecord, _staff(("operator", "admin"), bearer_message="operator.bearer",
                                              role_message="operator.only", role_code="operator_only")]


class ImportRowIn(_In):
    number: str | int | None = None
    kind: str | None = None
    phone: str | int | None = None
    secret: str | int | float | None = None


class ImportBody(_In):
    """An import's JSON body: either ``csv`` (the file's text) or ``rows``."""

    csv: str | None = None
    rows: list[Any] | None = None


class ImportIn(ImportBody):
    """Either ``csv`` (the file's text, header ``number,kind,phone,secret``) or ``rows``."""

    rows: list[ImportRowIn] | None = None


class ImportErrorOut(BaseModel):
    line: int
    field: str | None
    code: str
    message: str


class ImportOut(BaseModel):
    created: int
    updated: int
    errors: list[ImportErrorOut]



def import_body(example: str, model: type[BaseModel]) -> dict[str, Any]:
    """The OpenAPI request body of an import: CSV text, or the JSON ``model``."""
    return {"requestBody": {"required": True, "content": {
        "text/csv": {"schema": {"type": "string"}, "example": example},
        "application/json": {"schema": model.model_json_schema()},
    }}}


_IMPORT_BODY = import_body("number,kind,phone,secret\n100200300400,contract,+79123456789,1520.40\n", ImportIn)


async def posted_table(request: Request, model: type[ImportBody], messages: str) -> str | list[Any]:
    """The posted CSV text (``text/csv``, or the JSON body's ``csv``), or the JSON body's ``rows``."""
    body = await request.body()
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype in ("text/csv", "text/plain"):
        return decode(body, messages)
    if ctype != "application/json":
        raise ValidationFailed(f"{messages}.import_body", code="bad_request")
    try:
        parsed = model.model_validate(json.loads(body))
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise MalformedJson() from None
    except ValidationError:
        raise ValidationFailed(f"{messages}.import_body", code="bad_request") from None
    if parsed.csv is not None and parsed.rows is None:
        return parsed.csv
    if parsed.rows is not None and parsed.csv is None:
        return [r.model_dump() for r in parsed.rows]
    raise ValidationFailed(f"{messages}.import_body", code="bad_request")


def at_most(rows: list[Any], messages: str) -> list[Any]:
    if len(rows) > MAX_ROWS:
        raise ValidationFailed(f"{messages}.import_too_many", code="too_many_rows", params={"max": MAX_ROWS})
    return rows


def report_out(report: ImportReport, services: Services, locale: str) -> ImportOut:
    return ImportOut(created=report.created, updated=report.updated,
                     errors=[ImportErrorOut(line=e.line, field=e.field, code=e.code,
                                            message=services.catalog.text(e.message_id, locale, **e.params))
                             for e in report.errors])


@router.post("/contracts/import", openapi_extra=_IMPORT_BODY)
async def import_contracts(request: Request, ctx: ApiContext, services: ServicesDep, admin: AdminDep) -> ImportOut:
    """Import or update the contract registry: CSV text (``text/csv``) or JSON ``{"csv": …}`` / ``{"rows": […]}``.

    Rows with errors are reported (``line``: the CSV line, or the 1-based position in ``rows``)
    and skipped; the others are upserted by number.  Bodies are limited like every request
    (64 KB by default): load large registries with ``dostup admin import-contracts``.
    """
    table = await posted_table(request, ImportIn, "contracts")
    rows = at_most(read_csv(table) if isinstance(table, str) else rows_from_json(table), "contracts")
    report = await services.importer.import_rows(rows, now=services.clock.now(), ctx=ctx, account_id=admin.account_id)
    return report_out(report, services, ctx.locale)
