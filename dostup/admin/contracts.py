"""Importing the company's contract registry: CSV (``dostup admin import-contracts``) or JSON rows.

CSV: UTF-8 (a BOM is fine), a header naming the columns ``number,kind,phone,secret`` (any order,
case-insensitive; ``phone`` and ``secret`` may be left out; other columns are ignored), then one
contract or card a line:

- ``number`` — required; a card number must pass Luhn;
- ``kind`` — ``contract`` or ``card``;
- ``phone`` — the owner's phone (the SMS code goes there), national or ``+7…``; may be empty;
- ``secret`` — what the customer can type instead (a PIN, the amount of the last bill); may be empty.

A row needs a phone or a secret (otherwise nobody could prove ownership).  Rows with errors are
reported with their line numbers (field and reason) and skipped; the valid rows are imported.
An import is an upsert by number: importing the same file twice leaves the same registry, and a
row replaces the phone and secret of an earlier import of that number (an empty cell clears it).
Card numbers are stored only as a keyed hash and a masked form; secrets only as a keyed hash.

A large import must not stall the event loop it shares with sign-ins: the rows are checked in
slices with a yield to the loop between them, and each batch is one executemany statement (the
database works in its driver's thread meanwhile) instead of a statement compiled per row.
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from dostup.accounts.contracts import (
    display_number,
    normalize_secret,
    number_key,
    parse_kind,
    parse_number,
    secret_hash,
)
from dostup.accounts.events import record_event
from dostup.core.context import Context
from dostup.core.crypto import Keyring, random_id
from dostup.core.errors import ValidationFailed
from dostup.identity.phone import parse_phone
from dostup.persistence.db import Database
from dostup.persistence.models_contracts import RegistryContract

COLUMNS = ("number", "kind", "phone", "secret")
REQUIRED_COLUMNS = ("number", "kind")
BATCH = 500
CHECK_SLICE = 50  # rows checked between two yields to the event loop (~6 ms of work, mostly phone parsing)
MAX_CELL = 256
_UPDATED_ON_CONFLICT = ("number", "display", "owner_phone", "secret_hash", "updated_at")


@dataclass(frozen=True, slots=True)
class RowIn:
    line: int  # the CSV line the row starts on, or the 1-based position in a JSON list
    number: str | None = None
    kind: str | None = None
    phone: str | None = None
    secret: str | None = None


@dataclass(frozen=True, slots=True)
class RowError:
    line: int
    field: str | None
    code: str
    message_id: str
    params: dict[str, Any] = dc_field(default_factory=dict)


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    errors: list[RowError] = dc_field(default_factory=list)

    @property
    def imported(self) -> int:
        return self.created + self.updated


async def record_import(db: Database, kind: str, report: ImportReport, ctx: Context, now: dt.datetime,
                        account_id: str | None) -> None:
    """An import over the API, in the administrator's security history: how many rows, how many errors."""
    async with db.write() as s:
        record_event(s, kind=kind, outcome="success" if not report.errors else "partial", ctx=ctx, now=now,
                     account_id=account_id, count=report.imported, errors=len(report.errors))


class BadFile(ValidationFailed):
    """The file as a whole cannot be read (not UTF-8, no header, required columns missing)."""

    code = "bad_file"


def decode(data: bytes, messages: str = "contracts") -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BadFile(f"{messages}.import_not_utf8", field="file") from None


def read_table(text: str, columns: Sequence[str], header_ok: Callable[[list[str]], bool],
               messages: str) -> list[tuple[int, dict[str, str]]]:
    """The rows of a CSV text (the ``columns`` its header names, by name) with the lines they start
    on; an empty file, a header ``header_ok`` refuses or broken quoting is a :class:`BadFile` with
    the message ``{messages}.import_empty`` / ``_header`` / ``_malformed``."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""), strict=False)
    try:
        header = next(reader, None)
        if header is None:
            raise BadFile(f"{messages}.import_empty", field="file")
        names = [h.strip().lower() for h in header]
        if not header_ok(names):
            raise BadFile(f"{messages}.import_header", field="file", params={"columns": ", ".join(columns)})
        index = {c: names.index(c) for c in columns if c in names}
        rows: list[tuple[int, dict[str, str]]] = []
        start = reader.line_num + 1
        for cells in reader:
            line, start = start, reader.line_num + 1
            if any(c.strip() for c in cells):
                rows.append((line, {c: (cells[i] if i < len(cells) else "") for c, i in index.items()}))
    except csv.Error:
        raise BadFile(f"{messages}.import_malformed", field="file", params={"line": reader.line_num}) from None
    return rows


def read_csv(text: str) -> list[RowIn]:
    """The contract rows of a CSV text; a bad header is a :class:`BadFile`."""
    table = read_table(text, COLUMNS, lambda names: all(c in names for c in REQUIRED_COLUMNS), "contracts")
    return [RowIn(line=line, **values) for line, values in table]


def rows_from_json(items: Iterable[dict[str, Any]]) -> list[RowIn]:
    out = []
    for i, item in enumerate(items, start=1):
        values = {c: item.get(c) for c in COLUMNS}
        out.append(RowIn(line=i, **{k: (v if isinstance(v, str) or v is None else str(v)) for k, v in values.items()}))
    return out


@dataclass(frozen=True, slots=True)
class _Valid:
    key: str
    kind: str
    number: str | None
    display: str
    owner_phone: str | None
    secret_hash: str | None


def _check(row: RowIn, keyring: Keyring) -> _Valid | list[RowError]:
    errors: list[RowError] = []

    def fail(exc: ValidationFailed) -> None:
        errors.append(RowError(row.line, exc.field, exc.code, exc.message_id, exc.params))

    for name in COLUMNS:
        if len(getattr(row, name) or "") > MAX_CELL:
            fail(ValidationFailed("contracts.import_cell_too_long", field=name, params={"max": MAX_CELL}))
    if errors:
        return errors
    kind = number = phone = secret = None
    try:
        kind = parse_kind(row.kind)
    except ValidationFailed as exc:
        fail(exc)
    try:
        number = parse_number(kind or "contract", row.number, field="number")
    except ValidationFailed as exc:
        fail(exc)
    if (row.phone or "").strip():
        try:
            phone = parse_phone(row.phone).e164
        except ValidationFailed as exc:
            fail(ValidationFailed(exc.message_id, field="phone", params=exc.params, code=exc.code))
    if (row.secret or "").strip():
        try:
            secret = normalize_secret(row.secret)
        except ValidationFailed as exc:
            fail(exc)
    if not errors and phone is None and secret is None:
        fail(ValidationFailed("contracts.import_no_proof", field="phone", code="no_proof"))
    if errors:
        return errors
    assert kind is not None and number is not None
    key = number_key(keyring, kind, number)
    return _Valid(
        key=key, kind=kind, number=number if kind == "contract" else None, display=display_number(kind, number),
        owner_phone=phone, secret_hash=secret_hash(keyring, key, secret) if secret is not None else None,
    )


class ContractImporter:
    def __init__(self, db: Database, keyring: Keyring) -> None:
        self._db = db
        self._keyring = keyring

    async def import_rows(self, rows: Sequence[RowIn], *, now: dt.datetime, ctx: Context | None = None,
                          account_id: str | None = None) -> ImportReport:
        """Check every row, then upsert the valid ones in batches (one short transaction each)."""
        report = ImportReport()
        valid: dict[str, _Valid] = {}
        for i, row in enumerate(rows, start=1):
            if i % CHECK_SLICE == 0:
                await asyncio.sleep(0)
            checked = _check(row, self._keyring)
            if isinstance(checked, list):
                report.errors.extend(checked)
            else:
                valid[checked.key] = checked  # a later row of the same number wins
        items = list(valid.values())
        for start in range(0, len(items), BATCH):
            created, updated = await self._upsert(items[start:start + BATCH], now)
            report.created += created
            report.updated += updated
        if ctx is not None:
            await record_import(self._db, "contracts_imported", report, ctx, now, account_id)
        return report

    async def _upsert(self, batch: list[_Valid], now: dt.datetime) -> tuple[int, int]:
        insert = (sqlite_insert if self._db.is_sqlite else pg_insert)(RegistryContract)
        upsert = insert.on_conflict_do_update(
            index_elements=[RegistryContract.number_hash],
            set_={name: insert.excluded[name] for name in _UPDATED_ON_CONFLICT},
        )
        values = [{"id": random_id(), "kind": v.kind, "number_hash": v.key, "number": v.number, "display": v.display,
                   "owner_phone": v.owner_phone, "secret_hash": v.secret_hash, "created_at": now, "updated_at": now}
                  for v in batch]
        async with self._db.write() as s:
            existing = set((await s.execute(
                select(RegistryContract.number_hash).where(RegistryContract.number_hash.in_([v.key for v in batch]))
            )).scalars())
            # Core, not the ORM's bulk insert: one executemany, the rows travel as parameters
            await (await s.connection()).execute(upsert, values)
        updated = sum(1 for v in batch if v.key in existing)
        return len(batch) - updated, updated
