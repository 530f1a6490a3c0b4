"""Security events: every authentication event, shown to the user as their security history.

Recorded with time, account, IP, user agent and outcome; details hold only masked identifiers —
never passwords, codes or tokens (SECURITY.md: logging).
"""

from __future__ import annotations

import datetime as dt

from dostup.core.context import Context
from dostup.core.crypto import random_id
from dostup.persistence.db import Adds, add_row
from dostup.persistence.models import SecurityEvent


def record_event(
    db: Adds,
    *,
    kind: str,
    outcome: str,
    ctx: Context,
    now: dt.datetime,
    account_id: str | None = None,
    **detail: object,
) -> None:
    add_row(db, SecurityEvent, {
        "id": random_id(), "account_id": account_id, "kind": kind, "outcome": outcome, "ip": ctx.ip[:64],
        "user_agent": ctx.user_agent[:512], "detail": detail, "created_at": now,
    })
