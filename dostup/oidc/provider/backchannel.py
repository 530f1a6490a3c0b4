"""OpenID Connect Back-Channel Logout 1.0: telling partners that a Dostup session ended.

Each client that registered a ``backchannel_logout_uri`` and holds a grant of the session gets a
signed *logout token* (``events`` claim, ``sid``, ``sub``, no ``nonce``, §2.4) by a direct POST.
Delivery is best-effort and in the background — sign-out never waits on a partner (§2.8) — with a
short timeout; a partner that misses it still finds the grant revoked at its next token use.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging

import httpx
from joserfc import jwt

from dostup.core.crypto import Keyring, random_id
from dostup.oidc.provider.claims import subject_id
from dostup.oidc.provider.clients import Client
from dostup.oidc.provider.keys import KeySnapshot
from dostup.oidc.provider.records import epoch
from dostup.oidc.provider.tokens import session_sid

log = logging.getLogger("dostup.oidc")
EVENT = "http://schemas.openid.net/event/backchannel-logout"


def logout_token(keys: KeySnapshot, keyring: Keyring, issuer: str, client: Client, account_id: str,
                 session_id: str | None, now: dt.datetime) -> str:
    key = keys.signing["RS256"]
    claims = {"iss": issuer, "aud": client.client_id, "iat": epoch(now), "exp": epoch(now) + 120, "jti": random_id(),
              "sub": subject_id(keyring, client, account_id), "events": {EVENT: {}}}
    if session_id:
        claims["sid"] = session_sid(keyring, session_id)
    return jwt.encode({"alg": key.alg, "kid": key.kid, "typ": "logout+jwt"}, claims, key.key)


class Notifier:
    def __init__(self, timeout: float, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._timeout = timeout
        self.transport = transport  # tests put a mock here
        self._tasks: set[asyncio.Task[None]] = set()

    def send(self, uri: str, token: str) -> None:
        task = asyncio.create_task(self._post(uri, token))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _post(self, uri: str, token: str) -> None:
        try:
            async with httpx.AsyncClient(timeout=self._timeout, transport=self.transport) as http:
                resp = await http.post(uri, data={"logout_token": token})
            if resp.status_code >= 400:
                log.warning("back-channel logout to %s answered %s", uri, resp.status_code)
        except httpx.HTTPError as exc:
            log.warning("back-channel logout to %s failed: %s", uri, exc)

    async def drain(self) -> None:
        """Wait for deliveries in flight (tests, shutdown)."""
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
