"""Time comes from a clock object so that timeouts can be tested without sleeping."""

from __future__ import annotations

import datetime as dt
from typing import Protocol


class Clock(Protocol):
    def now(self) -> dt.datetime: ...


class SystemClock:
    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class FrozenClock:
    """A clock for tests: starts at real time, moves only when told."""

    def __init__(self, start: dt.datetime | None = None) -> None:
        self._now = start or SystemClock().now()

    def now(self) -> dt.datetime:
        return self._now

    def advance(self, **delta: float) -> None:
        self._now += dt.timedelta(**delta)


def utc_naive(value: dt.datetime) -> dt.datetime:
    """Store and compare all times as naive UTC (SQLite has no time zones)."""
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value
