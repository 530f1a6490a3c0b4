"""Security events and notices of social sign-in: every link, unlink and provider sign-in is
recorded and told to the account's confirmed phone (or email), as a changed password is."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from dostup.accounts.events import record_event
from dostup.core.context import Context
from dostup.courier.outbox import Outbox
from dostup.persistence.db import Adds
from dostup.persistence.models import Account
from dostup.selfservice.notices import notice_destination


def notify(
    batch: Adds,
    outbox: Outbox,
    sms_countries: Sequence[str],
    account: Account,
    kind: str,
    name: str,
    ctx: Context,
    now: dt.datetime,
) -> None:
    """``kind``: ``social_linked``, ``social_unlinked`` or ``social_signin``."""
    dest = notice_destination(account, sms_countries)
    if dest:
        outbox.enqueue(
            batch,
            kind=kind,
            channel=dest[0],
            to=dest[1],
            now=now,
            locale=account.locale or ctx.locale,
            account_id=account.id,
            params={"name": name},
        )


def event(
    batch: Adds,
    kind: str,
    outcome: str,
    ctx: Context,
    now: dt.datetime,
    account_id: str | None,
    provider: str,
    **detail: object,
) -> None:
    record_event(
        batch,
        kind=kind,
        outcome=outcome,
        ctx=ctx,
        now=now,
        account_id=account_id,
        method="social",
        provider=provider,
        **detail,
    )
