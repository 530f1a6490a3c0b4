"""Bodies of the history endpoints: notifications, sessions, security events."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel


class _Paged(BaseModel):
    page: int
    per_page: int
    total: int
    pages: int


class NotificationOut(BaseModel):
    id: str
    created_at: dt.datetime
    sent_at: dt.datetime | None
    channel: str
    channel_name: str
    destination: str  # masked
    kind: str
    kind_name: str
    status: str  # pending | sent | failed
    status_name: str


class NotificationsOut(_Paged):
    items: list[NotificationOut]


class SessionItemOut(BaseModel):
    id: str
    current: bool
    device: str | None
    ip: str | None
    created_at: dt.datetime
    last_seen_at: dt.datetime
    expires_at: dt.datetime
    remember: bool
    limited: bool


class SessionsOut(BaseModel):
    items: list[SessionItemOut]


class EndedOut(BaseModel):
    ended: int


class SecurityEventOut(BaseModel):
    id: str
    created_at: dt.datetime
    kind: str
    kind_name: str
    outcome: str
    outcome_name: str
    ip: str | None
    device: str | None
    detail: dict[str, str]  # masked identifiers only


class SecurityEventsOut(_Paged):
    items: list[SecurityEventOut]
