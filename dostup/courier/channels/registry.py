"""The identity registry's channel: verification requests delivered by the courier (SPEC §4.8).

A request to check a profile is an outbox message (``channel = "registry"``) written in the unit of work
that submits it, so it exists exactly when the submission committed, and the worker delivers it with its
retries, back-off and claims like an SMS.  ``send`` POSTs the message's JSON body to the registry's URL,
signed (:mod:`dostup.core.signatures`) with the shared secret and carrying the message id as
``Idempotency-Key`` (a re-send after a crash is the same request); any 2xx means the registry took it and
will answer later on the callback.  After delivery the body (passport data) is redacted like an SMS's.
"""

from __future__ import annotations

import ssl

import httpx

from dostup.core.clock import Clock
from dostup.core.signatures import signed_headers, unix_time
from dostup.courier.channels import DeliveryError
from dostup.persistence.models import OutboxMessage
from dostup.settings import LevelSettings

CHANNEL = "registry"


class RegistryChannel:
    name = CHANNEL
    keeps_text = False
    personal = True  # the body is a person's passport data: redacted when it is given up on, not only when sent

    def __init__(self, settings: LevelSettings, clock: Clock) -> None:
        self._s = settings
        self._clock = clock  # the signature's time
        self._tls = ssl.create_default_context()

    async def send(self, message: OutboxMessage) -> None:
        body = message.body.encode()
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
