"""What the user can see of their account's past: messages sent, sessions, security events.

SPEC §4.5 («История уведомлений») and §4.10 (sessions and security events); SECURITY.md: logging.
Everything here reads only what a list needs: a message's text and code never leave the outbox
table, destinations are masked before they leave this module, and event details pass through an
allow-list that masks phones and emails again (a detail written by any flow is shown only masked).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Row, Select, func, select, update

from dostup.accounts.events import record_event
from dostup.core.clock import Clock
from dostup.core.context import Context
from dostup.core.errors import NotFound, ValidationFailed
from dostup.core.i18n import Catalog
from dostup.core.masking import mask_destination, mask_email, mask_phone
from dostup.persistence.db import Database
from dostup.persistence.models import OutboxMessage, SecurityEvent, Session
from dostup.session.manage import active_sessions, end_session

T = TypeVar("T")

DEFAULT_PER_PAGE = 20
MAX_PER_PAGE = 100
MAX_PAGE = 100_000  # keeps OFFSET far from integer overflow whatever a client sends
SESSION_ID_MAX = 64


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


@dataclass(frozen=True, slots=True)
class Notification:
    id: str
    created_at: dt.datetime
    sent_at: dt.datetime | None
    channel: str
    destination: str  # masked
    kind: str
    status: str


@dataclass(frozen=True, slots=True)
class Event:
    id: str
    created_at: dt.datetime
    kind: str
    outcome: str
    ip: str | None
    device: str | None
    detail: dict[str, str]


@dataclass(frozen=True, slots=True)
class ActiveSession:
    id: str
    current: bool
    device: str | None
    ip: str | None
    created_at: dt.datetime
    last_seen_at: dt.datetime
    expires_at: dt.datetime
    remember: bool
    limited: bool  # signed in with a temporary password: may only set a new one


# -- paging ----------------------------------------------------------------------------------

def check_paging(page: int, per_page: int) -> None:
    """Refuse page numbers below 1 (or absurdly large) and page sizes outside 1..100."""
    if not 1 <= page <= MAX_PAGE:
        raise ValidationFailed("history.page_invalid", field="page", code="invalid_page")
    if not 1 <= per_page <= MAX_PER_PAGE:
        raise ValidationFailed("history.per_page_invalid", field="per_page", code="invalid_per_page",
                               params={"max": MAX_PER_PAGE})


def _window(total: int, page: int, per_page: int, clamp: bool) -> int:
    """The page to read: as asked, or (``clamp``) moved into 1..last instead of being refused."""
    if clamp:
        per_page = min(max(per_page, 1), MAX_PER_PAGE)
        last = max(1, -(-total // per_page))
        return min(max(page, 1), last)
    check_paging(page, per_page)
    return page


# -- devices ---------------------------------------------------------------------------------

# Order matters: Edge, Opera and Yandex say "Chrome" too, and Chrome says "Safari".
_BROWSERS: Sequence[tuple[str, str]] = (
    ("YaBrowser/", "Яндекс Браузер"), ("Edg", "Edge"), ("OPR/", "Opera"), ("Opera", "Opera"),
    ("SamsungBrowser/", "Samsung Internet"), ("Firefox/", "Firefox"), ("FxiOS/", "Firefox"),
    ("CriOS/", "Chrome"), ("Chromium/", "Chromium"), ("Chrome/", "Chrome"), ("Safari/", "Safari"),
    ("MSIE ", "Internet Explorer"), ("Trident/", "Internet Explorer"),
)
_SYSTEMS: Sequence[tuple[str, str]] = (
    ("Windows Phone", "Windows Phone"), ("Windows", "Windows"), ("Android", "Android"),
    ("iPhone", "iOS"), ("iPad", "iPadOS"), ("iPod", "iOS"), ("CrOS", "ChromeOS"),
    ("Mac OS X", "macOS"), ("Macintosh", "macOS"), ("Linux", "Linux"), ("FreeBSD", "FreeBSD"),
)
_PRODUCT = re.compile(r"^([A-Za-z][A-Za-z0-9._-]{0,39})(?:/|$)")


def describe_device(user_agent: str | None) -> str | None:
    """«Chrome, Windows» from a user agent by simple substring rules; None when nothing is known.

    A program that is not a browser (``curl/8.5``, ``python-httpx/0.27``) is named by its first
    product token.  The description is for recognising one's own devices, not for security.
    """
    ua = (user_agent or "")[:512]
    if not ua:
        return None
    browser = next((name for needle, name in _BROWSERS if needle in ua), None)
    system = next((name for needle, name in _SYSTEMS if needle in ua), None)
    if browser is None and system is None:
        m = _PRODUCT.match(ua)
        return m.group(1) if m and m.group(1) != "Mozilla" else None
    return ", ".join(part for part in (browser, system) if part)


# -- masking of event details ----------------------------------------------------------------

_SHOWN_DETAILS = ("method", "channel", "identifier", "destination", "count")
_PHONE = re.compile(r"^\+?[0-9][0-9 ()-]{6,}$")


def _masked(value: object) -> str:
    text = str(value)[:100]
    if "*" in text:
        return text  # already masked where it was written
    if "@" in text:
        return mask_email(text)
    if _PHONE.match(text):
        digits = "+" + re.sub(r"\D", "", text)
        return mask_phone(digits)
    return text


def _detail(detail: object) -> dict[str, str]:
    if not isinstance(detail, dict):
        return {}
    return {k: _masked(detail[k]) for k in _SHOWN_DETAILS if detail.get(k) not in (None, "")}


# -- names from the catalog ------------------------------------------------------------------

def _name(catalog: Catalog, prefix: str, value: str, locale: str) -> str:
    message_id = f"{prefix}.{value}"
    if not catalog.has(message_id, locale) and not catalog.has(message_id):
        message_id = f"{prefix}.other"
    return catalog.text(message_id, locale)


def notification_kind_name(catalog: Catalog, kind: str, locale: str) -> str:
    return _name(catalog, "history.kind", kind, locale)


def status_name(catalog: Catalog, status: str, locale: str) -> str:
    return _name(catalog, "history.status", status, locale)


def channel_name(catalog: Catalog, channel: str, locale: str) -> str:
    return _name(catalog, "history.channel", channel, locale)


def event_kind_name(catalog: Catalog, kind: str, locale: str) -> str:
    return _name(catalog, "history.event", kind, locale)


def outcome_name(catalog: Catalog, outcome: str, locale: str) -> str:
    return _name(catalog, "history.outcome", outcome, locale)


# -- the use-cases ---------------------------------------------------------------------------

class History:
    """Reads of the account's history and the two session actions of «Сеансы и безопасность»."""

    def __init__(self, db: Database, clock: Clock, idle_timeout_seconds: int) -> None:
        self._db = db
        self._clock = clock
        self._idle = idle_timeout_seconds

    async def _page(self, count: Select[Any], rows: Select[*tuple[Any, ...]], page: int, per_page: int,
                    clamp: bool) -> tuple[list[Row[Any]], int, int]:
        """Rows of one page, the page actually read, and the total (no query past the end)."""
        async with self._db.read() as s:
            total = int((await s.execute(count)).scalar_one())
            page = _window(total, page, per_page, clamp)
            per_page = min(max(per_page, 1), MAX_PER_PAGE)
            offset = (page - 1) * per_page
            found = list((await s.execute(rows.limit(per_page).offset(offset))).all()) if offset < total else []
        return found, page, total

    async def notifications(self, account_id: str, *, page: int = 1, per_page: int = DEFAULT_PER_PAGE,
                            clamp: bool = False) -> Page[Notification]:
        """Every SMS and email written for the account, newest first (text and code never read)."""
        m = OutboxMessage
        where = m.account_id == account_id
        count = select(func.count()).select_from(m).where(where)
        rows = (select(m.id, m.created_at, m.sent_at, m.channel, m.to, m.kind, m.status)
                .where(where).order_by(m.created_at.desc(), m.id.desc()))
        found, page, total = await self._page(count, rows, page, per_page, clamp)
        items = [Notification(r.id, r.created_at, r.sent_at, r.channel, mask_destination(r.channel, r.to), r.kind,
                              r.status) for r in found]
        return Page(items, page, min(max(per_page, 1), MAX_PER_PAGE), total)

    async def events(self, account_id: str, *, page: int = 1, per_page: int = DEFAULT_PER_PAGE,
                     clamp: bool = False) -> Page[Event]:
        """The account's security events, newest first, with masked details only."""
        e = SecurityEvent
        where = e.account_id == account_id
        count = select(func.count()).select_from(e).where(where)
        rows = (select(e.id, e.created_at, e.kind, e.outcome, e.ip, e.user_agent, e.detail)
                .where(where).order_by(e.created_at.desc(), e.id.desc()))
        found, page, total = await self._page(count, rows, page, per_page, clamp)
        items = [Event(r.id, r.created_at, r.kind, r.outcome, r.ip, describe_device(r.user_agent), _detail(r.detail))
                 for r in found]
        return Page(items, page, min(max(per_page, 1), MAX_PER_PAGE), total)

    async def sessions(self, account_id: str, current_id: str) -> list[ActiveSession]:
        """The account's live sessions; the current one first."""
        async with self._db.read() as s:
            rows = await active_sessions(s, account_id, self._clock.now(), self._idle)
        items = [
            ActiveSession(r.id, r.id == current_id, describe_device(r.user_agent), r.ip, r.created_at,
                          r.last_seen_at, r.expires_at, r.remember, r.state != "active")
            for r in rows
        ]
        return sorted(items, key=lambda i: not i.current)

    async def end(self, account_id: str, session_id: str, ctx: Context) -> None:
        """End one of the account's own sessions; another account's (or an ended) id is not found.

        SECURITY.md: another user's session id gets 404, the same answer as an id that never was.
        """
        if not session_id or len(session_id) > SESSION_ID_MAX:
            raise NotFound("history.session_not_found")
        now = self._clock.now()
        async with self._db.write() as s:
            if not await end_session(s, account_id, session_id, now):
                raise NotFound("history.session_not_found")
            record_event(s, kind="session_ended", outcome="success", ctx=ctx, now=now, account_id=account_id)

    async def end_others(self, account_id: str, current_id: str, ctx: Context) -> int:
        """End every session of the account except ``current_id``; returns how many ended."""
        now = self._clock.now()
        async with self._db.write() as s:
            live = await active_sessions(s, account_id, now, self._idle)
            ended = sum(1 for r in live if r.id != current_id)
            # Sessions that already timed out are revoked too, but only live ones are counted.
            await s.execute(
                update(Session)
                .where(Session.account_id == account_id, Session.id != current_id, Session.revoked_at.is_(None))
                .values(revoked_at=now)
            )
            record_event(s, kind="sessions_ended", outcome="success", ctx=ctx, now=now, account_id=account_id,
                         count=ended)
        return ended
