"""Throttling of guessed secrets: passwords at sign-in, re-authentication and password change,
second-factor codes.  One mechanism for every method (issue 8 §4b).

OWASP Authentication / Credential Stuffing cheat sheets, NIST 800-63B §5.2.2: per subject (an
identifier, an account, a session), a captcha after 5 failures, then a lock growing by 1 min per
failure up to 15 min, reset by a success or after 12 h.  Tries during a lock are refused unseen,
so nobody can stretch it, and a lock only delays (recovery keeps working).  Several subjects can
guard one attempt (re-authentication counts per account *and* per session): the strictest wins
and a failure counts for each.

The counters live in the shared :class:`CounterStore` (Redis when configured), so the limits hold
across processes and fail closed when the store is down.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from dostup.core.errors import CaptchaRequired
from dostup.guards.captcha import CaptchaVerifier
from dostup.guards.store import CounterStore, Seen, UnitCounters
from dostup.persistence.db import Database
from dostup.settings import LimitSettings


@dataclass(frozen=True, slots=True)
class Attempt:
    """What the counters said before an attempt: the most failures and the longest lock seen."""

    keys: tuple[str, ...]
    failures: int
    lock_ttl: int

    @property
    def locked(self) -> bool:
        return self.lock_ttl > 0


class Throttle:
    def __init__(self, name: str, store: CounterStore, captcha: CaptchaVerifier, limits: LimitSettings) -> None:
        self.name = name
        self._store = store
        self._captcha = captcha
        self._limits = limits

    def _fail(self, subject: str) -> str:
        return f"{self.name}-fail:{subject}"

    def _lock(self, subject: str) -> str:
        return f"{self.name}-lock:{subject}"

    def peek_keys(self, subjects: Sequence[str]) -> list[str]:
        """The counters to read before an attempt, for a caller that reads them with other counts."""
        return [k for s in subjects for k in (self._fail(s), self._lock(s))]

    def attempt(self, subjects: Sequence[str], seen: Sequence[Seen]) -> Attempt:
        """Fold what :meth:`peek_keys` read into one :class:`Attempt`."""
        fails = seen[0::2]
        locks = seen[1::2]
        return Attempt(tuple(subjects), max((f.count for f in fails), default=0),
                       max((lk.ttl if lk.count else 0 for lk in locks), default=0))

    async def open(self, subjects: Sequence[str]) -> Attempt:
        """Read the counters of ``subjects`` in one round trip."""
        _, seen = await self._store.hit_many([], self.peek_keys(subjects))
        return self.attempt(subjects, seen)

    def needs_captcha(self, failures: int) -> bool:
        return failures >= self._limits.signin_captcha_after_failures

    async def check_captcha(self, attempt: Attempt, token: str | None, action: str, ip: str, *,
                            always: bool = False) -> None:
        """After repeated failures (or always, where the preset says so) a solved captcha is required."""
        if not (always or self.needs_captcha(attempt.failures)):
            return
        refusal = self.captcha_refusal(attempt, token, bool(token) and await self._captcha.verify(token, action, ip),
                                       always=always)
        if refusal is not None:
            raise refusal

    async def captcha_solved(self, token: str | None, action: str, ip: str) -> bool:
        """Check a captcha sent before the counters were read (:meth:`captcha_refusal` then says
        whether one was needed): for a use-case that reads them inside its unit of work."""
        return bool(token) and await self._captcha.verify(token, action, ip)

    def captcha_refusal(self, attempt: Attempt, token: str | None, solved: bool, *,
                        always: bool = False) -> CaptchaRequired | None:
        """The refusal when a captcha is needed and ``token`` (checked: ``solved``) does not pass."""
        if self._captcha.kind == "none" or not (always or self.needs_captcha(attempt.failures)):
            return None  # captcha off (DOSTUP_CAPTCHA__PROVIDER=none, development) or not needed yet
        if not token:
            return CaptchaRequired()
        if not solved:
            return CaptchaRequired("captcha.invalid", code="captcha_invalid")
        return None

    def _lock_seconds(self, failures: int) -> int | None:
        """How long to lock after the ``failures``-th failure in a row (None: no lock yet)."""
        lim = self._limits
        if failures < lim.signin_lock_after_failures:
            return None
        steps = failures - lim.signin_lock_after_failures + 1
        return min(lim.signin_lock_max_seconds, steps * lim.signin_lock_step_seconds)

    async def failed(self, attempt: Attempt) -> None:
        """Count a failure for each subject; past the threshold, (re)start a growing lock."""
        if attempt.locked:  # tries during a lock are refused unseen: they cannot stretch it
            return
        for subject in attempt.keys:
            wait = self._lock_seconds(await self._store.incr(self._fail(subject),
                                                             self._limits.signin_failure_window_seconds))
            if wait is not None:
                await self._store.put(self._lock(subject), 1, wait)

    def failed_in(self, counters: UnitCounters, attempt: Attempt) -> None:
        """:meth:`failed`, counted in the caller's unit of work (the store's rows are its database's)."""
        if attempt.locked:
            return
        for subject in attempt.keys:
            wait = self._lock_seconds(counters.incr(self._fail(subject), self._limits.signin_failure_window_seconds))
            if wait is not None:
                counters.put(self._lock(subject), 1, wait)

    async def succeeded(self, attempt: Attempt) -> None:
        """A success resets the counters.  When both were read as absent there is nothing to
        reset and the write is skipped (a third of a sign-in's database work); a failure counted
        by a concurrent request since then is kept, as it would be had it landed just after."""
        if attempt.failures or attempt.lock_ttl:
            await self._store.delete(*self.peek_keys(attempt.keys))

    def succeeded_in(self, counters: UnitCounters, attempt: Attempt) -> None:
        """:meth:`succeeded`, in the caller's unit of work."""
        if attempt.failures or attempt.lock_ttl:
            counters.delete(*self.peek_keys(attempt.keys))

    def in_units_of(self, db: Database) -> bool:
        """Whether the counters can be counted inside ``db``'s units of work."""
        return self._store.in_units_of(db)
