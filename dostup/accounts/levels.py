"""The account's level («Упрощённая», «Стандартная», «Подтверждённая» учётная запись, the gosuslugi
seed; SPEC §4.8) and what is left to do for the next one.

The level is stored (``identity_profiles.level``; no row: 1).  Level 2 is given when a verifier
approves the full profile (``dostup.selfservice.verification``); level 3, confirmed identity, by an
operator who saw the documents in person (``dostup.admin.verifications``) or by the code of a registered
letter (:mod:`dostup.accounts.letters`).  The level's names are catalog text (``status.level.<name>``, a preset may reword them in
``presets.po``); the OpenID Connect provider issues the number (``urn:dostup:loa:<level>:…``).

Whatever was checked stays checked only while it is unchanged: :func:`checked_fields_changed` runs in
the unit of work of every change to a checked field (names, SNILS, birth, citizenship, passport) and
drops the level back to «Упрощённая», cancels a request still waiting (its verifier saw other data)
and writes the security event; the caller tells the user.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dostup.accounts import letters as letters_
from dostup.accounts.events import record_event
from dostup.core.clock import UtcTime
from dostup.core.context import Context
from dostup.persistence.db import Database
from dostup.persistence.models import Account
from dostup.persistence.models_levels import IdentityProfile, VerificationRequest

LEVELS = ("simplified", "standard", "confirmed")
SIMPLIFIED, STANDARD, CONFIRMED = 1, 2, 3
SUBMITTED = "submitted"
ACCOUNT_CHECKED = ("family_name", "given_name", "middle_name", "snils")  # checked fields kept in ``accounts``


def level_name(level: int) -> str:
    return LEVELS[min(max(level, 1), len(LEVELS)) - 1]


@dataclass(frozen=True, slots=True)
class Verification:
    """The latest request to check the profile, as its owner sees it."""

    id: str
    state: str  # submitted, approved, rejected, cancelled
    answer: str | None  # the verifier's reason (a rejection's is shown to the user)
    created_at: UtcTime
    answered_at: UtcTime | None


@dataclass(frozen=True, slots=True)
class AccountStatus:
    level: str  # one of LEVELS
    complete: bool  # the level's registration is finished
    pending: tuple[str, ...]  # what is left: "email_confirmation"
    email: str | None  # where the letter went, while it is pending
    next_level: str | None
    level_number: int = SIMPLIFIED  # 1, 2 or 3: the OpenID Connect level of assurance
    verification: Verification | None = None  # the latest check of the profile
    levels_on: bool = False  # the preset raises levels (gosuslugi): the profile form exists


def account_status(account: Account, *, email_by_link: bool, level: int = SIMPLIFIED,
                   verification: Verification | None = None, levels_on: bool = False) -> AccountStatus:
    """``email_by_link``: the preset's registration ends with the email confirmed by a link (gosuslugi)."""
    pending = ("email_confirmation",) if email_by_link and account.email and not account.email_verified_at else ()
    return AccountStatus(level=level_name(level), complete=not pending, pending=pending,
                         email=account.email if pending else None,
                         next_level=LEVELS[level] if level < len(LEVELS) else None, level_number=level,
                         verification=verification, levels_on=levels_on)


async def stored_level(s: AsyncSession, account_id: str) -> int:
    level = (await s.execute(select(IdentityProfile.level).where(IdentityProfile.account_id == account_id))).scalar()
    return level or SIMPLIFIED


async def account_level(db: Database, account_id: str) -> int:
    """The level of assurance of an account (1 when it has none stored)."""
    row = await db.first(_LEVEL, {"account_id": account_id})
    return int(row[0]) if row is not None and row[0] else SIMPLIFIED


_LEVEL = select(IdentityProfile.level).where(IdentityProfile.account_id == bindparam("account_id"))


async def latest_verification(s: AsyncSession, account_id: str) -> Verification | None:
    r = VerificationRequest  # the profile's checks (level 2): a letter's code (level 3) is shown on its own page
    row = (await s.execute(select(r.id, r.state, r.answer, r.created_at, r.answered_at)
                           .where(r.account_id == account_id, r.level == STANDARD).order_by(r.created_at.desc(), r.id.desc())
                           .limit(1))).first()
    return Verification(row.id, row.state, row.answer, row.created_at, row.answered_at) if row else None


async def cancel_pending(s: AsyncSession, account_id: str, now: dt.datetime) -> int:
    """Cancel the account's requests still waiting for an answer (their verifier saw other data); a waiting
    letter's code is erased with it (:mod:`dostup.accounts.letters`: its sealed text, if not printed yet), and a
    profile check's copy of the person (nobody will look at it now)."""
    r = VerificationRequest
    letters = (await s.execute(select(r).where(r.account_id == account_id, r.state == SUBMITTED,
                                               r.verifier == letters_.VERIFIER))).scalars()
    for letter in letters:
        letter.data = letters_.without_code_text(letter.data)
    await s.flush()
    waiting = (r.account_id == account_id, r.state == SUBMITTED)
    letters_ended = await s.execute(update(r).where(*waiting, r.verifier == letters_.VERIFIER)
                                    .values(state="cancelled", updated_at=now, queued_at=None)
                                    .execution_options(synchronize_session=False))
    checks_ended = await s.execute(update(r).where(*waiting, r.verifier != letters_.VERIFIER)
                                   .values(state="cancelled", updated_at=now, queued_at=None, data={})
                                   .execution_options(synchronize_session=False))
    return int(letters_ended.rowcount) + int(checks_ended.rowcount)  # type: ignore[attr-defined]


async def checked_fields_changed(s: AsyncSession, account_id: str, changed: Mapping[str, object], ctx: Context,
                                 now: dt.datetime) -> bool:
    """Called in the unit of work that changes checked fields (``changed``: field → new value, only those
    whose value differs).  Lowers a level above «Упрощённая» and cancels a waiting request; True when the
    level was lowered (the caller says so)."""
    if not changed:
        return False
    await cancel_pending(s, account_id, now)
    profile = await s.get(IdentityProfile, account_id)
    if profile is None or profile.level <= SIMPLIFIED:
        return False
    was = profile.level
    profile.level, profile.checked, profile.level_changed_at, profile.updated_at = SIMPLIFIED, None, now, now
    record_event(s, kind="level_lowered", outcome="success", ctx=ctx, now=now, account_id=account_id,
                 level=level_name(SIMPLIFIED), was=level_name(was), fields=sorted(changed))
    return True
