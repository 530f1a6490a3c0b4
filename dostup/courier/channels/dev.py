"""The dev outbox: delivery is only a record, read at ``/dev/outbox`` and by ``dostup outbox``."""

from __future__ import annotations

from dostup.persistence.models import OutboxMessage


class DevOutboxChannel:
    name = "dev"
    keeps_text = True

    async def send(self, message: OutboxMessage) -> None:
        return None
