"""Time comes from a clock object so that timeouts can be tested without sleeping."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import PlainSerializer, WithJsonSchema

_ZONE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+){0,2}$")


def time_zone(name: str | None) -> ZoneInfo | None:
    """The IANA time zone called ``name`` (``Europe/Moscow``), or None for anything else (a browser's
    cookie is untrusted: no paths, no unknown names)."""
    if not name or len(name) > 64 or not _ZONE_NAME.match(name):
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


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


def utc_text(value: dt.datetime) -> str:
    """A time as RFC 3339 text with its zone, ``2026-12-04T05:37:38.723894Z``: how the JSON API, the
    command line and the OpenID Connect admin write every time.  OpenAPI's ``date-time`` needs the
    offset, and a JavaScript client reads a time without one as its own local time."""
    return utc_naive(value).isoformat() + "Z"


#: A field of a view the JSON API returns: a stored time (naive UTC) that JSON shows with its zone.
UtcTime = Annotated[dt.datetime, PlainSerializer(utc_text, return_type=str, when_used="json"),
                    WithJsonSchema({"type": "string", "format": "date-time"})]
