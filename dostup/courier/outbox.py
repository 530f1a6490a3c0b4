"""Writing messages: always into the caller's unit of work.

A message exists exactly when the flow that caused it committed: no code is lost when a provider
is down (the worker retries), and no message goes out for a transaction that rolled back.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from dostup.core.crypto import random_id
from dostup.core.i18n import Catalog
from dostup.persistence.db import Adds
from dostup.persistence.models import OutboxMessage


@dataclass(frozen=True, slots=True)
class Brand:
    product_name: str
    support_phone: str
    public_url: str


class Outbox:
    def __init__(self, catalog: Catalog, brand: Brand) -> None:
        self._catalog = catalog
        self._brand = brand
        self.listeners: list[object] = []

    def render(self, kind: str, channel: str, locale: str, params: dict[str, object]) -> tuple[str, str]:
        values = {
            "product": self._brand.product_name,
            "support_phone": self._brand.support_phone,
            "url": self._brand.public_url,
            **params,
        }
        body = self._catalog.text(f"courier.{kind}.{channel}", locale, **values)
        subject = self._catalog.text(f"courier.{kind}.subject", locale, **values) if channel == "email" else ""
        return subject, body

    def enqueue(
        self,
        db: Adds,
        *,
        kind: str,
        channel: str,
        to: str,
        now: dt.datetime,
        locale: str = "ru",
        account_id: str | None = None,
        code: str | None = None,
        params: dict[str, object] | None = None,
    ) -> OutboxMessage:
        values = dict(params or {})
        if code is not None:
            values["code"] = code
        subject, body = self.render(kind, channel, locale, values)
        msg = OutboxMessage(
            id=random_id(),
            account_id=account_id,
            channel=channel,
            kind=kind,
            to=to,
            subject=subject,
            body=body,
            code=code,
            locale=locale,
            status="pending",
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
        db.add(msg)
        return msg
