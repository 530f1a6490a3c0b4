"""Housekeeping: seal the passports written before they were sealed, a small batch at a time.

Two kinds of row may still hold a passport in clear after an upgrade:

* a full profile saved before migration 0051 — its five fields in the old columns of ``identity_profiles``
  (``passport_series`` …), read as they are until the profile's next save;
* a check still waiting for its verifier, submitted before its copy of the person kept the passport sealed —
  the five fields in clear in ``verification_requests.data``.

Each pass moves them into the sealed form the readers open (``dostup.core.passport``: the profile's column
``passport`` and the old columns emptied; the check's ``data`` with its fields under one sealed ``passport``).
The sealing is passed in (:class:`Seal`; persistence imports nothing of ``dostup.core``, and a migration has no
instance key).  A row is sealed once: the next pass does not find it, so running the pass again, or on several
workers at once, changes nothing more (PostgreSQL: ``FOR UPDATE SKIP LOCKED`` splits the rows between them;
SQLite: a write unit is serial).

Both reads go through an index: the profiles through ``ix_identity_profiles_passport_clear``, which holds only
the profiles with a passport in the old columns (empty once they are sealed, so a pass that finds nothing costs
nothing); the checks through ``(state, created_at, id)``, the waiting ones, as the operators' queue reads them.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable, Mapping
from typing import Protocol

from sqlalchemy import Select, select

from dostup.persistence.db import Database
from dostup.persistence.models_levels import IdentityProfile, VerificationRequest

FIELDS = ("passport_series", "passport_number", "passport_issued_on", "passport_division_code", "passport_issuer")
SUBMITTED, CHECK_LEVEL = "submitted", 2  # a profile's check still waiting (a letter is level 3 and holds no person)


class Seal(Protocol):
    """``dostup.core.passport.PassportSealer`` for one use."""

    def seal(self, values: Mapping[str, object]) -> str: ...

    def seal_within(self, data: Mapping[str, object]) -> dict[str, object]: ...


def clear_profiles(*, postgresql: bool) -> Select[IdentityProfile]:
    """At most ``:limit`` profiles with a passport in the old columns (PostgreSQL: locked, skipping those another
    worker or a customer's save holds)."""
    p = IdentityProfile
    picked = select(p).where(p.passport.is_(None), p.passport_number.is_not(None))
    return picked.with_for_update(skip_locked=True) if postgresql else picked


def clear_checks(*, postgresql: bool) -> Select[VerificationRequest]:
    """At most ``:limit`` waiting checks whose ``data`` has the passport in clear."""
    r = VerificationRequest
    picked = select(r).where(r.state == SUBMITTED, r.level == CHECK_LEVEL,
                             r.data["passport_number"].as_string().is_not(None))
    return picked.with_for_update(skip_locked=True) if postgresql else picked


class Reseal:
    """The pass: profiles, then waiting checks, ``batch_size`` rows a transaction with ``pause_seconds`` between."""

    def __init__(self, db: Database, *, profiles: Seal, checks: Seal, batch_size: int, pause_seconds: float) -> None:
        self._db = db
        self._profiles = profiles
        self._checks = checks
        self._size = batch_size
        self._pause = pause_seconds
        postgresql = not db.is_sqlite
        self._clear_profiles = clear_profiles(postgresql=postgresql)
        self._clear_checks = clear_checks(postgresql=postgresql)

    async def run(self) -> dict[str, int]:
        """The rows sealed by this pass, per table."""
        return {"identity_profiles_sealed": await self._batches(self._profile_batch),
                "verification_requests_sealed": await self._batches(self._check_batch)}

    async def _batches(self, batch: Callable[[], Awaitable[int]]) -> int:
        total = 0
        while True:
            done = await batch()
            total += done
            if done < self._size:  # on PostgreSQL a short batch may also mean: the rest is another worker's
                return total
            await asyncio.sleep(self._pause)

    async def _profile_batch(self) -> int:
        async with self._db.write() as s:
            found = list((await s.execute(self._clear_profiles.limit(self._size))).scalars())
            for profile in found:
                profile.passport = self._profiles.seal({name: _text(getattr(profile, name)) for name in FIELDS})
                for name in FIELDS:
                    setattr(profile, name, None)
        return len(found)

    async def _check_batch(self) -> int:
        async with self._db.write() as s:
            found = list((await s.execute(self._clear_checks.limit(self._size))).scalars())
            for req in found:
                req.data = self._checks.seal_within(req.data)
        return len(found)


def _text(value: object) -> object:
    """A date as the person's snapshot has it (ISO), as the profile's reader gives it."""
    return value.isoformat() if isinstance(value, dt.date) else value
