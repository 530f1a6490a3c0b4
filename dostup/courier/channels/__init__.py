"""Delivery channels.  Each ``send`` raises :class:`DeliveryError` on any failure."""

from __future__ import annotations

from typing import Protocol

from dostup.persistence.models import OutboxMessage


class DeliveryError(Exception):
    """The provider did not take the message; the worker will retry it later."""


class Channel(Protocol):
    name: str
    keeps_text: bool

    async def send(self, message: OutboxMessage) -> None: ...
