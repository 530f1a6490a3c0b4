"""What the user can see of their account's past: messages sent, sessions, security events.

SPEC §4.5 («История уведомлений») and §4.10 (sessions and security events); SECURITY.md: logging.
Everything here reads only what a list needs: a message's text and code never leave the outbox
table, destinations are masked before they leave this module, and event details pass through an
allow-list that masks phones and emails again (a detail written by any flow is shown only masked).
"""

from __future__ import annotations

import base64
import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Row, func, literal, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from dostup.accounts.events import record_event
from dostup.core.clock import Clock, UtcTime
from dostup.core.context import Context
from dostup.core.errors import NotFound, ValidationFailed
from dostup.core.i18n import Catalog
from dostup.core.masking import mask_destination, mask_email, mask_phone
from dostup.credentials import devices
from dostup.persistence.db import Database
from dostup.persistence.models import OutboxMessage, SecurityEvent, Session
from dostup.session.manage import active_sessions, end_session
from dostup.session.service import SID, SessionsEnded

T = TypeVar("T")

DEFAULT_PER_PAGE = 20
MAX_PER_PAGE = 100
CURSOR_MAX = 120  # an encoded (created_at, id) position is about 70 characters
SESSION_ID_MAX = 64


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a list read by keyset: ``next`` / ``prev`` are the cursors of the older and the
    newer neighbouring pages (None at either end); ``total`` counts the whole list."""

    items: list[T]
    per_page: int
    total: int
    next: str | None = None
    prev: str | None = None


@dataclass(frozen=True, slots=True)
class Notification:
    id: str
    created_at: UtcTime
    sent_at: UtcTime | None
    channel: str
    destination: str  # masked
    kind: str
    status: str


@dataclass(frozen=True, slots=True)
class Event:
    id: str
    created_at: UtcTime
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
    created_at: UtcTime
    last_seen_at: UtcTime
    expires_at: UtcTime
    remember: bool
    limited: bool  # signed in with a temporary password: may only set a new one
    aal: int = 1
    amr: tuple[str, ...] = ()  # how it was signed in (RFC 8176: pwd, sms, otp, hwk …)


# -- paging by keyset ------------------------------------------------------------------------
#
# A page is found by the position (created_at, id) of its neighbour, never by OFFSET: reading page
# 5,000 of a long history costs what reading the first one costs (one index range from the
# account's ``(account_id, created_at, id)`` index), and a row written meanwhile does not shift
# the pages.  The cursor is that position, base64url-encoded; it is not secret (the rows are the
# reader's own) and a forged one only moves the window within the reader's own list.


@dataclass(frozen=True, slots=True)
class Cursor:
    created_at: dt.datetime
    id: str


def encode_cursor(created_at: dt.datetime, row_id: str) -> str:
    raw = f"{created_at.isoformat(timespec='microseconds')}|{row_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(value: str, *, field: str) -> Cursor:
    """A cursor from :func:`encode_cursor`; anything else is the localised 422 of ``field``."""
    try:
        if not value or len(value) > CURSOR_MAX:
            raise ValueError(value)
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
        at, _, row_id = raw.partition("|")
        if not row_id or len(row_id) > SESSION_ID_MAX or not row_id.isascii():
            raise ValueError(value)
        return Cursor(dt.datetime.fromisoformat(at).replace(tzinfo=None), row_id)
    except ValueError:
        raise ValidationFailed("history.cursor_invalid", field=field, code="invalid_cursor") from None


async def oldest_first(s: AsyncSession, rows: Any, at: Any, row_id: Any, after: str | None,
                       per_page: int) -> tuple[list[Row[Any]], str | None]:
    """A queue's page: ``rows`` in ascending ``(at, row_id)`` order past the cursor ``after`` (keyset, served by
    an index on those columns), at most ``per_page``, and the cursor of the next page (None at the end)."""
    if after:
        cursor = decode_cursor(after, field="after")
        rows = rows.where(tuple_(at, row_id) > tuple_(literal(cursor.created_at), literal(cursor.id)))
    found = (await s.execute(rows.order_by(at, row_id).limit(per_page + 1))).all()
    shown = list(found[:per_page])
    last = shown[-1] if len(found) > per_page else None
    return shown, encode_cursor(getattr(last, at.key), getattr(last, row_id.key)) if last else None


def check_paging(per_page: int) -> None:
    """Refuse page sizes outside 1..100."""
    if not 1 <= per_page <= MAX_PER_PAGE:
        raise ValidationFailed("history.per_page_invalid", field="per_page", code="invalid_per_page",
                               params={"max": MAX_PER_PAGE})


def cursors(before: str | None, after: str | None, *, clamp: bool) -> tuple[Cursor | None, Cursor | None]:
    """The decoded ``before`` / ``after`` cursors; with ``clamp`` a bad one means the first page."""
    if before and after:
        if clamp:
            return None, None
        raise ValidationFailed("history.cursor_invalid", field="after", code="invalid_cursor")
    try:
        return (decode_cursor(before, field="before") if before else None,
                decode_cursor(after, field="after") if after else None)
    except ValidationFailed:
        if clamp:
            return None, None
        raise


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
    shown = {k: _masked(detail[k]) for k in _SHOWN_DETAILS if detail.get(k) not in (None, "")}
    amr = detail.get("amr")
    if isinstance(amr, list) and all(isinstance(v, str) and v.isalpha() for v in amr):
        shown["amr"] = " ".join(amr)  # how a sign-in was made (RFC 8176 values; never secret)
    return shown


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


def amr_names(catalog: Catalog, amr: Iterable[str], locale: str) -> str:
    """«пароль, код из приложения»: the ways a session was signed in, in the reader's language."""
    return ", ".join(_name(catalog, "history.amr", value, locale) for value in amr if value != "mfa")


def detail_text(catalog: Catalog, detail: dict[str, str], locale: str) -> str:
    """An event's detail in one line for «Сеансы и безопасность»: «по номеру телефона · +7 *** ***-67-67»."""
    parts: list[str] = []
    method = detail.get("method")
    if method and catalog.has(f"history.detail.method.{method}"):
        parts.append(catalog.text(f"history.detail.method.{method}", locale))
    parts += [detail[key] for key in ("identifier", "destination") if detail.get(key)]
    if detail.get("count"):
        parts.append(catalog.text("history.detail.count", locale, count=detail["count"]))
    if detail.get("amr"):
        methods = amr_names(catalog, detail["amr"].split(), locale)
        parts.append(catalog.text("history.detail.amr", locale, methods=methods))
    return " · ".join(parts)


def event_kind_name(catalog: Catalog, kind: str, locale: str) -> str:
    return _name(catalog, "history.event", kind, locale)


def outcome_name(catalog: Catalog, outcome: str, locale: str) -> str:
    return _name(catalog, "history.outcome", outcome, locale)


async def newest_first(db: Database, table: Any, columns: tuple[Any, ...], account_id: str, before: str | None,
                       after: str | None, per_page: int, clamp: bool) -> tuple[list[Row[Any]], int, str | None, str | None]:
    """One page of an account's rows by keyset, newest first (``table`` has ``account_id``, ``created_at`` and
    ``id``, indexed so): the rows, the total, and the older / newer cursors.  With ``clamp`` a bad cursor or
    page size shows the first page (the pages' links), else it is a 422 (the API)."""
    if clamp:
        per_page = min(max(per_page, 1), MAX_PER_PAGE)
    check_paging(per_page)
    older, newer = cursors(before, after, clamp=clamp)
    key = tuple_(table.created_at, table.id)
    mine = table.account_id == account_id
    rows = select(*columns).where(mine)
    if newer is not None:  # the page just above ``after``: read upwards, then newest first
        rows = rows.where(key > tuple_(literal(newer.created_at), literal(newer.id)))
        rows = rows.order_by(table.created_at.asc(), table.id.asc())
    else:
        if older is not None:
            rows = rows.where(key < tuple_(literal(older.created_at), literal(older.id)))
        rows = rows.order_by(table.created_at.desc(), table.id.desc())
    async with db.read() as s:
        total = int((await s.execute(select(func.count()).select_from(table).where(mine))).scalar_one())
        found = list((await s.execute(rows.limit(per_page + 1))).all())
    more = len(found) > per_page
    found = found[:per_page]
    if newer is not None:
        found.reverse()
        next_at, prev_at = found[-1] if found else None, found[0] if found and more else None
    else:
        next_at, prev_at = found[-1] if found and more else None, found[0] if found and older else None
    return (found, total, encode_cursor(next_at.created_at, next_at.id) if next_at else None,
            encode_cursor(prev_at.created_at, prev_at.id) if prev_at else None)


# -- the use-cases ---------------------------------------------------------------------------

class History:
    """Reads of the account's history and the two session actions of «Сеансы и безопасность»."""

    def __init__(self, db: Database, clock: Clock, idle_timeout_seconds: int, ended: Sequence[SessionsEnded] = ()
                 ) -> None:
        self._db = db
        self._clock = clock
        self._idle = idle_timeout_seconds
        self._ended = ended

    async def _tell(self, sids: Sequence[str]) -> None:
        for tell in self._ended:
            await tell(sids)

    async def notifications(self, account_id: str, *, before: str | None = None, after: str | None = None,
                            per_page: int = DEFAULT_PER_PAGE, clamp: bool = False) -> Page[Notification]:
        """Every SMS and email written for the account, newest first (text and code never read)."""
        m = OutboxMessage
        found, total, nxt, prev = await newest_first(
            self._db, m, (m.id, m.created_at, m.sent_at, m.channel, m.to, m.kind, m.status), account_id, before,
            after, per_page, clamp)
        items = [Notification(r.id, r.created_at, r.sent_at, r.channel, mask_destination(r.channel, r.to), r.kind,
                              r.status) for r in found]
        return Page(items, min(max(per_page, 1), MAX_PER_PAGE), total, nxt, prev)

    async def events(self, account_id: str, *, before: str | None = None, after: str | None = None,
                     per_page: int = DEFAULT_PER_PAGE, clamp: bool = False) -> Page[Event]:
        """The account's security events, newest first, with masked details only."""
        e = SecurityEvent
        found, total, nxt, prev = await newest_first(
            self._db, e, (e.id, e.created_at, e.kind, e.outcome, e.ip, e.user_agent, e.detail), account_id, before,
            after, per_page, clamp)
        items = [Event(r.id, r.created_at, r.kind, r.outcome, r.ip, describe_device(r.user_agent), _detail(r.detail))
                 for r in found]
        return Page(items, min(max(per_page, 1), MAX_PER_PAGE), total, nxt, prev)

    async def sessions(self, account_id: str, current_id: str) -> list[ActiveSession]:
        """The account's live sessions; the current one first."""
        async with self._db.read() as s:
            rows = await active_sessions(s, account_id, self._clock.now(), self._idle)
        items = [
            ActiveSession(r.id, r.id == current_id, describe_device(r.user_agent), r.ip, r.created_at,
                          r.last_seen_at, r.expires_at, r.remember, "password_change" in r.restrictions.split(), r.aal,
                          tuple(r.amr.split()))
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
            sid = await end_session(s, account_id, session_id, now)
            if sid is None:
                raise NotFound("history.session_not_found")
            record_event(s, kind="session_ended", outcome="success", ctx=ctx, now=now, account_id=account_id)
        await self._tell([sid])

    async def end_others(self, account_id: str, current_id: str, ctx: Context) -> int:
        """End every session of the account except ``current_id``; returns how many ended."""
        now = self._clock.now()
        async with self._db.write() as s:
            live = await active_sessions(s, account_id, now, self._idle)
            ended = sum(1 for r in live if r.id != current_id)
            # Sessions that already timed out are revoked too, but only live ones are counted.
            sids = (await s.execute(
                update(Session)
                .where(Session.account_id == account_id, Session.id != current_id, Session.revoked_at.is_(None))
                .values(revoked_at=now)
                .returning(SID)
            )).scalars().all()
            await devices.revoke(s, account_id, now)  # «выйти на всех устройствах»: passcode bindings too
            record_event(s, kind="sessions_ended", outcome="success", ctx=ctx, now=now, account_id=account_id,
                         count=ended)
        await self._tell(sids)
        return ended
