"""Notification and security-event rows with their names in the reader's language.

One shape for «История уведомлений» / «Сеансы и безопасность» and for the JSON API, so a name
shown on a page and the ``*_name`` field of the API never disagree.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from dostup.accounts import history as H
from dostup.core.i18n import Catalog


@dataclass(frozen=True, slots=True)
class NamedNotification(H.Notification):
    channel_name: str
    kind_name: str
    status_name: str


@dataclass(frozen=True, slots=True)
class NamedEvent(H.Event):
    kind_name: str
    outcome_name: str


def notification_rows(cat: Catalog, locale: str, items: Iterable[H.Notification]) -> list[NamedNotification]:
    return [NamedNotification(**asdict(n), channel_name=H.channel_name(cat, n.channel, locale),
                              kind_name=H.notification_kind_name(cat, n.kind, locale),
                              status_name=H.status_name(cat, n.status, locale)) for n in items]


def event_rows(cat: Catalog, locale: str, items: Iterable[H.Event]) -> list[NamedEvent]:
    return [NamedEvent(**asdict(e), kind_name=H.event_kind_name(cat, e.kind, locale),
                       outcome_name=H.outcome_name(cat, e.outcome, locale)) for e in items]


def page_info(page: H.Page[Any]) -> dict[str, Any]:
    return {"per_page": page.per_page, "total": page.total, "next": page.next, "prev": page.prev}
