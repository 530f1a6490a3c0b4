"""The identity registry's channel: verification requests delivered by the courier (SPEC §4.8).

A request to check a profile is an outbox message (``channel = "registry"``) written in the unit of work
that submits it, so it exists exactly when the submission committed, and the worker delivers it with its
retries, back-off and claims like an SMS.  ``send`` POSTs the message's JSON body to the registry's URL,
signed (:mod:`dostup.core.signatures`) with the shared secret and carrying the message id as
``Idempotency-Key`` (a re-send after a crash is the same request); any 2xx means the registry took it and
will answer later on the callback.  While it waits — seconds, or hours of back-off when the registry is down — the
body holds the person as the waiting request does, the passport sealed (:mod:`dostup.core.passport`); ``send``
opens it into the body the registry gets (a message written before the passport was sealed goes as it is).  After
delivery the body is redacted like an SMS's.
"""

from __future__ import annotations

import json
import ssl

import httpx

from dostup.core.clock import Clock
from dostup.core.passport import SEALED, PassportSealer
from dostup.core.signatures import signed_headers, unix_time
from dostup.courier.channels import DeliveryError
from dostup.persistence.models import OutboxMessage
from dostup.settings import LevelSettings

CHANNEL = "registry"


class RegistryChannel:
    name = CHANNEL
    keeps_text = False
    personal = True  # the body is a person's passport data: redacted when it is given up on, not only when sent

    def __init__(self, settings: LevelSettings, clock: Clock, passports: PassportSealer) -> None:
        self._s = settings
        self._clock = clock  # the signature's time
        self._passports = passports
        self._tls = ssl.create_default_context()

    def body(self, stored: str) -> bytes:
        """What the registry gets: the stored body with the person's passport opened."""
        try:
            data = json.loads(stored)
        except ValueError:
            return stored.encode()  # not ours to read: it goes as it is, and the registry says what it thinks
        person = data.get("person") if isinstance(data, dict) else None
        if not isinstance(person, dict) or SEALED not in person:
            return stored.encode()  # written before the passport was sealed
        data["person"] = self._passports.open_within(person)
        return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()

    async def send(self, message: OutboxMessage) -> None:
        body = self.body(message.body)
        stamp = unix_time(self._clock.now())
        headers = {"Content-Type": "application/json", "Idempotency-Key": message.id,
                   **signed_headers(self._s.registry_secret, stamp, body)}
        try:
            async with httpx.AsyncClient(timeout=self._s.registry_timeout_seconds, verify=self._tls) as client:
                resp = await client.post(self._s.registry_url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise DeliveryError(type(exc).__name__) from exc
        if not 200 <= resp.status_code < 300:
            raise DeliveryError(f"registry answered {resp.status_code}")
