"""Importing the customers of a previous cabinet with their password hashes (SPEC §4.15):
``dostup admin import-users FILE``.

CSV: UTF-8 (a BOM is fine), a header naming the columns (any order, case-insensitive, other columns
ignored) — at least one of ``phone``, ``email``, ``login``, ``snils``, and any of ``password_hash``,
``given_name``, ``family_name``, ``middle_name`` — then one customer a line:

- ``phone`` (national or ``+7…``), ``email``, ``login``, ``snils`` (the gosuslugi cabinet signs in
  by it) — normalised and checked as at registration; a row needs at least one.  They were confirmed by the previous cabinet and are imported confirmed.
- ``password_hash`` — as the previous cabinet stored it: argon2 (any parameters), bcrypt, or PBKDF2
  as Django, Werkzeug or passlib write it, or Werkzeug's scrypt (``dostup.credentials.legacy_hashes``).  The customer signs
  in with their old password; that sign-in replaces the hash with argon2id at Dostup's parameters.
  Empty: the account has no password and its owner sets one through «Восстановить доступ».
- names — at most 100 characters each.

Rows with errors are reported with their line numbers (field and reason) and skipped; so is a row
whose phone, email or login another account (or an earlier row of the file) already has — an import
never changes an existing account.  Importing the same file twice therefore creates nothing the
second time.  Each batch is one short transaction, with a yield to the event loop between batches.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from argon2 import extract_parameters
from argon2.exceptions import InvalidHashError
from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError

from dostup.admin.contracts import MAX_CELL, ImportReport, RowError, read_table, record_import
from dostup.core.context import Context
from dostup.core.crypto import random_id
from dostup.core.errors import ValidationFailed
from dostup.credentials import legacy_hashes
from dostup.identity.documents import parse_snils
from dostup.identity.email import parse_email
from dostup.identity.login import normalize_login
from dostup.identity.names import parse_name
from dostup.identity.phone import parse_phone
from dostup.persistence.db import Database
from dostup.persistence.models import Account

IDENTIFIERS = ("phone", "email", "login", "snils")
NAMES = ("given_name", "family_name", "middle_name")
COLUMNS = (*IDENTIFIERS, "password_hash", *NAMES)
BATCH = 500


def rows_from_json(items: Sequence[dict[str, object]]) -> list[tuple[int, dict[str, str]]]:
    """JSON rows (numbers as text) with their 1-based positions, as :func:`read_csv` gives them."""
    return [(i, {c: str(v) for c in COLUMNS if (v := item.get(c)) is not None}) for i, item in enumerate(items, 1)]


def read_csv(text: str) -> list[tuple[int, dict[str, str]]]:
    """The rows of a CSV text with the lines they start on; a bad header is a ``BadFile``."""
    return read_table(text, COLUMNS, lambda names: any(c in names for c in IDENTIFIERS), "users")


@dataclass(frozen=True, slots=True)
class _Valid:
    line: int
    values: dict[str, str | None]


def supported_hash(stored: str) -> bool:
    """An argon2 hash argon2-cffi can read, or a legacy one within its bounds."""
    if stored.startswith("$argon2"):
        try:
            extract_parameters(stored)
        except InvalidHashError:
            return False
        return True
    return legacy_hashes.parse(stored) is not None


_PARSERS: dict[str, Callable[[str], str | None]] = {
    "phone": lambda v: parse_phone(v, "RU").e164,
    "email": parse_email,
    "login": normalize_login,
    "snils": parse_snils,
    **{name: (lambda v, name=name: parse_name(v, field=name)) for name in NAMES},  # type: ignore[misc]
}


def check_row(line: int, cells: dict[str, str]) -> _Valid | list[RowError]:
    errors: list[RowError] = []
    values: dict[str, str | None] = dict.fromkeys(COLUMNS)
    for name in COLUMNS:
        raw = (cells.get(name) or "").strip()
        if not raw:
            continue
        if len(raw) > MAX_CELL:
            errors.append(RowError(line, name, "too_long", "contracts.import_cell_too_long", {"max": MAX_CELL}))
        elif name == "password_hash":
            if supported_hash(raw):
                values[name] = raw
            else:
                errors.append(RowError(line, name, "unsupported_hash", "users.import_hash"))
        else:
            try:
                values[name] = _PARSERS[name](raw)
            except ValidationFailed as exc:
                errors.append(RowError(line, name, exc.code, exc.message_id, exc.params))
    if not errors and not any(values[k] for k in IDENTIFIERS):
        errors.append(RowError(line, "phone", "no_identifier", "users.import_no_identifier"))
    return errors or _Valid(line, values)


class UserImporter:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def import_rows(self, rows: Sequence[tuple[int, dict[str, str]]], *, now: dt.datetime,
                          ctx: Context | None = None, account_id: str | None = None) -> ImportReport:
        """Check every row, then create the valid ones whose identifiers are free, a batch at a time;
        with ``ctx`` (the API), the import is recorded in the administrator's security history."""
        report = ImportReport()
        valid: list[_Valid] = []
        seen: set[tuple[str, str]] = set()
        for line, cells in rows:
            checked = check_row(line, cells)
            if isinstance(checked, list):
                report.errors.extend(checked)
                continue
            ids = [(k, checked.values[k]) for k in IDENTIFIERS if checked.values[k]]
            repeated = next((k for k, v in ids if (k, v) in seen), None)
            if repeated is not None:
                report.errors.append(RowError(line, repeated, "duplicate", "users.import_duplicate"))
                continue
            seen.update((k, v) for k, v in ids if v)
            valid.append(checked)
        for start in range(0, len(valid), BATCH):
            await self._batch(valid[start:start + BATCH], now, report)
            await asyncio.sleep(0)  # sign-ins served between two batches
        report.errors.sort(key=lambda e: e.line)
        if ctx is not None:
            await record_import(self._db, "users_imported", report, ctx, now, account_id)
        return report

    async def _batch(self, batch: list[_Valid], now: dt.datetime, report: ImportReport) -> None:
        for attempt in range(2):  # a registration may take an identifier between the check and the insert
            try:
                created, taken = await self._insert(batch, now)
            except IntegrityError:
                if attempt:
                    raise
                continue
            report.created += created
            report.errors.extend(taken)
            return

    async def _insert(self, batch: list[_Valid], now: dt.datetime) -> tuple[int, list[RowError]]:
        wanted = {k: [r.values[k] for r in batch if r.values[k]] for k in IDENTIFIERS}
        taken: list[RowError] = []
        async with self._db.write() as s:
            clauses = [getattr(Account, k).in_(v) for k, v in wanted.items() if v]
            rows = (await s.execute(select(*(getattr(Account, k) for k in IDENTIFIERS)).where(or_(*clauses)))).all()
            used = {(k, getattr(row, k)) for row in rows for k in IDENTIFIERS if getattr(row, k)}
            fresh = []
            for r in batch:
                clash = next((k for k in IDENTIFIERS if (k, r.values[k]) in used), None)
                if clash is None:
                    fresh.append(r)
                else:
                    taken.append(RowError(r.line, clash, "taken", f"users.import_{clash}_taken"))
            s.add_all(Account(
                id=random_id(), state="active", role="customer", created_at=now, updated_at=now,
                phone=r.values["phone"], phone_verified_at=now if r.values["phone"] else None,
                email=r.values["email"], email_verified_at=now if r.values["email"] else None,
                login=r.values["login"], snils=r.values["snils"], password_hash=r.values["password_hash"],
                password_changed_at=now if r.values["password_hash"] else None,
                **{name: r.values[name] for name in NAMES},
            ) for r in fresh)
        return len(fresh), taken
