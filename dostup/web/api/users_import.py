"""The customers of a previous cabinet over HTTP (SPEC §4.15): ``POST /api/v1/admin/users/import``,
the API of ``dostup admin import-users`` (``dostup/admin/users_import.py``)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from dostup.admin import users_import
from dostup.web.api.admin import AdminDep, ImportBody, ImportOut, at_most, import_body, posted_table, report_out
from dostup.web.api.schemas import _In, errors
from dostup.web.deps import ApiContext, ServicesDep

router = APIRouter(prefix="/admin", tags=["admin"], responses=errors(400, 401, 403, 413, 422))


class UserRowIn(_In):
    phone: str | int | None = None
    email: str | None = None
    login: str | int | None = None
    snils: str | int | None = None
    password_hash: str | None = None
    given_name: str | None = None
    family_name: str | None = None
    middle_name: str | None = None


class UsersImportIn(ImportBody):
    """Either ``csv`` (the file's text, header ``phone,email,login,password_hash,…``) or ``rows``."""

    rows: list[UserRowIn] | None = None


@router.post("/users/import",
             openapi_extra=import_body("phone,email,password_hash\n+79123456789,ivan@example.ru,$2b$12$…\n", UsersImportIn))
async def import_users(request: Request, ctx: ApiContext, services: ServicesDep, admin: AdminDep) -> ImportOut:
    """Import the customers of a previous cabinet with their password hashes (argon2, bcrypt, PBKDF2):
    CSV text (``text/csv``) or JSON ``{"csv": …}`` / ``{"rows": […]}``.

    Rows with errors, or whose phone, email or login is already used, are reported and skipped
    (``updated`` is always 0: an import never changes an account).  Each customer signs in with
    the old password, which that sign-in replaces with argon2id.  Large files: ``dostup admin import-users``.
    """
    table = await posted_table(request, UsersImportIn, "users")
    rows = at_most(users_import.read_csv(table) if isinstance(table, str) else users_import.rows_from_json(table),
                   "users")
    report = await services.user_importer.import_rows(rows, now=services.clock.now(), ctx=ctx,
                                                      account_id=admin.account_id)
    return report_out(report, services, ctx.locale)
