"""The operators' audit trail (SPEC §4.14: «every operator action is audit-logged with who, when, why»):
:func:`entry` is the one row every console action writes, in the unit of work of the action itself;
:func:`operator_actions` reads what one operator did, newest first, a page at a time by keyset (the
trail's ``(operator_id, created_at)`` index; a cursor from :func:`dostup.accounts.history.encode_cursor`).
Only an administrator reads it; reading it is not itself recorded (it shows no customer's data
beyond the ids and the masked values the trail keeps)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import literal, select, tuple_

from dostup.accounts.history import decode_cursor, encode_cursor
from dostup.core.clock import UtcTime
from dostup.core.context import Context
from dostup.core.crypto import random_id
from dostup.core.errors import NotFound, ValidationFailed
from dostup.persistence.db import Database
from dostup.persistence.models import Account
from dostup.persistence.models_admin import OperatorAction

PER_PAGE = 50
# Every action the console writes (its name on the administrators' page: ``console.trail.action.<action>``).
ACTIONS = ("search", "view", "block", "unblock", "reset_second_factor", "confirm_identity", "verification_queue",
           "verification_approve", "verification_reject", "letter_queue", "letters_printed", "support_read",
           "support_answer", "support_close")


@dataclass(frozen=True)
class ActionLine:
    id: str
    action: str  # search, view, block, unblock, reset_second_factor
    reason: str
    ip: str | None
    detail: dict[str, object]
    created_at: UtcTime


@dataclass(frozen=True)
class ActionsPage:
    items: list[ActionLine]
    next: str | None  # the cursor of the older page, None at the end


def entry(staff_id: str, action: str, reason: str, ctx: Context, now: dt.datetime,
          detail: dict[str, object]) -> OperatorAction:
    """The trail's row for one action: who (``staff_id``), what, why, from where, when, on what (``detail``:
    ids and masked values only)."""
    return OperatorAction(id=random_id(), operator_id=staff_id, action=action, reason=reason, ip=ctx.ip[:64],
                          detail=detail, created_at=now)


@dataclass(frozen=True)
class StaffMember:
    id: str
    role: str
    login: str | None
    phone: str | None  # shown masked where there is neither name nor login
    name: str  # «Фамилия Имя Отчество», or "" when the account has none


async def staff_member(db: Database, account_id: str) -> StaffMember:
    """Whose trail it is (an administrator's page heading); 404 for an account that does not exist."""
    async with db.read() as s:
        row = (await s.execute(select(Account.id, Account.role, Account.login, Account.phone, Account.family_name,
                                      Account.given_name, Account.middle_name)
                               .where(Account.id == account_id[:32]))).first()
    if row is None:
        raise NotFound()
    return StaffMember(row.id, row.role, row.login, row.phone, " ".join(n for n in row[4:] if n))


async def operator_actions(db: Database, operator_id: str | None, before: str | None) -> ActionsPage:
    if not operator_id or len(operator_id) > 32 or not operator_id.isalnum():
        raise ValidationFailed("operator.actions_operator", field="operator_id")
    a = OperatorAction
    rows = select(a.id, a.action, a.reason, a.ip, a.detail, a.created_at).where(a.operator_id == operator_id)
    if before:
        cursor = decode_cursor(before, field="before")
        rows = rows.where(tuple_(a.created_at, a.id) < tuple_(literal(cursor.created_at), literal(cursor.id)))
    async with db.read() as s:
        found = (await s.execute(rows.order_by(a.created_at.desc(), a.id.desc()).limit(PER_PAGE + 1))).all()
    items = [ActionLine(r.id, r.action, r.reason, r.ip, dict(r.detail or {}), r.created_at) for r in found[:PER_PAGE]]
    last = found[PER_PAGE - 1] if len(found) > PER_PAGE else None
    return ActionsPage(items, encode_cursor(last.created_at, last.id) if last else None)
