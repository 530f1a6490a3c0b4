"""Passwords: NIST SP 800-63B §3.1.1 policy and argon2id storage (OWASP Password Storage).

Hashing runs in a dedicated thread pool sized to the cores: argon2-cffi releases the GIL, so one
server process uses every core for hashing while its event loop keeps answering other requests.
The hashing threads run at a lower scheduling priority (nice +3) than the event loop: a sign-in
storm then takes the cores the loop leaves idle rather than sharing them evenly with it, so cheap
requests (whoami) keep their latency during the storm.  Hashing still gets every idle cycle.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import os
import re
import threading
import unicodedata
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

from argon2 import PasswordHasher as _Argon2
from argon2 import Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from dostup.core.errors import ValidationFailed
from dostup.core.memory import give_back
from dostup.credentials import legacy_hashes
from dostup.settings import PasswordSettings

_COMMON_FILE = Path(__file__).with_name("common_passwords.txt.gz")


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    """The 10,000 most common passwords (from Django's list, itself from public breach corpora)."""
    with gzip.open(_COMMON_FILE, "rt", encoding="utf-8") as fh:
        return frozenset(line.strip().casefold() for line in fh if line.strip())


def _letters_only(value: str) -> str:
    return re.sub(r"[\W\d_]+", "", value)


class PasswordPolicy:
    def __init__(self, settings: PasswordSettings, operator_names: tuple[str, ...]) -> None:
        self.settings = settings
        self.operator_names = tuple(n.casefold() for n in operator_names)

    def check_size(self, raw: str | None, *, field: str = "password") -> str:
        """Cheap checks first: a 4 KB password is refused before anything else is done."""
        value = raw or ""
        if not value:
            raise ValidationFailed("password.required", field=field, code="required")
        if len(value.encode("utf-8", "surrogatepass")) > self.settings.max_bytes:
            raise ValidationFailed("password.too_long", field=field, params={"max": self.settings.max_length})
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate ("\ud800" is valid JSON): argon2 cannot hash it
            raise ValidationFailed("password.invalid_characters", field=field) from None
        return value

    def validate(self, raw: str | None, *, field: str = "password", personal: tuple[str, ...] = ()) -> str:
        value = self.check_size(raw, field=field)
        normalized = unicodedata.normalize("NFKC", value)
        length = len(normalized)
        if length < self.settings.min_length:
            raise ValidationFailed("password.too_short", field=field, params={"min": self.settings.min_length})
        if length > self.settings.max_length:
            raise ValidationFailed("password.too_long", field=field, params={"max": self.settings.max_length})
        folded = normalized.casefold()
        if folded in common_passwords():
            raise ValidationFailed("password.common", field=field)
        letters = _letters_only(folded)
        for name in self.operator_names:
            if folded == name or letters == name or (len(name) >= 4 and name in folded):
                raise ValidationFailed("password.operator_name", field=field)
            # Only the name, repeated ("kitkitkit", "kit_2024_kit"): short names are not searched
            # as substrings (that would refuse "skittles"), so their repetitions are caught here.
            name_letters = _letters_only(name)
            if name_letters and letters and letters == name_letters * (len(letters) // len(name_letters)):
                raise ValidationFailed("password.operator_name", field=field)
        for item in personal:
            item = (item or "").casefold().lstrip("+")
            if len(item) >= 4 and (item in folded or folded in item):
                raise ValidationFailed("password.personal", field=field)
            if item and item[-10:] and len(item) >= 10 and item[-10:] in folded:
                raise ValidationFailed("password.personal", field=field)
        return normalized


HASH_THREAD_NICE = 3
GIVE_BACK_AFTER_SECONDS = 10.0
T = TypeVar("T")


def _lower_priority() -> None:
    """Runs in each hashing thread: on Linux a thread's nice value is its own (PRIO_PROCESS + TID)."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), HASH_THREAD_NICE)
    except (AttributeError, OSError):  # not Linux, or not allowed: hashing works the same, unprioritised
        pass


@lru_cache(maxsize=8)
def _dummy_hash(time_cost: int, memory_kib: int, parallelism: int) -> str:
    """What an unknown account's password is checked against, at the configured cost: the same work as a real
    check.  Made once per process and cost (one hash is tens of milliseconds of start-up)."""
    argon = _Argon2(time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism, type=Type.ID)
    return argon.hash("dostup-dummy-password-for-equal-timing")


class PasswordHasher:
    def __init__(self, settings: PasswordSettings) -> None:
        self._argon = _Argon2(
            time_cost=settings.argon2_time_cost,
            memory_cost=settings.argon2_memory_kib,
            parallelism=settings.argon2_parallelism,
            type=Type.ID,
        )
        self._pool = ThreadPoolExecutor(max_workers=max(1, settings.hash_threads), thread_name_prefix="argon2",
                                        initializer=_lower_priority)
        self._dummy = _dummy_hash(settings.argon2_time_cost, settings.argon2_memory_kib, settings.argon2_parallelism)
        self._in_flight = 0
        self._give_back: asyncio.TimerHandle | None = None

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn`` in the hashing pool.  Once no hash has run for ``GIVE_BACK_AFTER_SECONDS``, the
        memory the hashes left in malloc's arenas (19 MiB each) goes back to the system
        (``core.memory``): kept while sign-ins follow one another, not for good."""
        loop = asyncio.get_running_loop()
        self._in_flight += 1
        if self._give_back is not None:
            self._give_back.cancel()
            self._give_back = None
        try:
            return await loop.run_in_executor(self._pool, fn, *args)
        finally:
            self._in_flight -= 1
            if not self._in_flight:
                self._give_back = loop.call_later(GIVE_BACK_AFTER_SECONDS, self._trim)

    def _trim(self) -> None:
        self._give_back = None
        with contextlib.suppress(RuntimeError):  # the pool is shut down: the process is ending
            self._pool.submit(give_back)

    async def hash(self, password: str) -> str:
        return await self._run(self._argon.hash, password)

    def _verify(self, stored: str | None, password: str) -> tuple[bool, bool]:
        legacy = legacy_hashes.parse(stored) if stored and not stored.startswith("$argon2") else None
        if legacy is not None:  # imported from a previous cabinet: replaced by argon2id once it matches
            ok = legacy_hashes.verify(legacy, password)
            return ok, ok
        target = stored if stored and stored.startswith("$argon2") else self._dummy
        try:
            ok = self._argon.verify(target, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False, False
        if target is self._dummy:
            return False, False
        return ok, self._argon.check_needs_rehash(target)

    async def verify(self, stored: str | None, password: str) -> tuple[bool, bool]:
        """(matches, needs_rehash).  Unknown accounts pass ``None`` and pay for a dummy hash."""
        return await self._run(self._verify, stored, password)

    def close(self) -> None:
        if self._give_back is not None:
            self._give_back.cancel()
        self._pool.shutdown(wait=False, cancel_futures=True)
