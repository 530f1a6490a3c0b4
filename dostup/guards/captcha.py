"""Captcha verification, server-side (SECURITY.md: registration and consent).

The default is ALTCHA, a self-hosted proof of work: the challenge is HMAC-signed, carries its
expiry and the *action* it was issued for, and a solved payload is accepted once (its signature
is remembered in the shared store until it expires).  A missing, replayed, expired or
other-action token is refused.  Yandex SmartCaptcha and reCAPTCHA are verified over HTTP by
:class:`HttpCaptchaVerifier` with the provider's secret.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import ssl
from typing import Any, Protocol, cast

import httpx
from altcha.v1 import ChallengeOptions, PayloadType, create_challenge, extract_params, verify_solution

from dostup.core.crypto import Keyring
from dostup.core.errors import CaptchaRequired
from dostup.guards.store import CounterStore
from dostup.settings import CaptchaSettings

ACTIONS = ("register", "login", "recover", "code")


class CaptchaVerifier(Protocol):
    kind: str

    def challenge(self, action: str) -> dict[str, Any]: ...

    async def verify(self, token: str | None, action: str, ip: str) -> bool: ...


class AltchaVerifier:
    kind = "altcha"

    def __init__(self, settings: CaptchaSettings, keyring: Keyring, store: CounterStore) -> None:
        self._settings = settings
        self._key = keyring.key("altcha").hex()
        self._store = store

    def challenge(self, action: str) -> dict[str, Any]:
        expires = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=self._settings.ttl_seconds)
        ch = create_challenge(
            ChallengeOptions(
                hmac_key=self._key, max_number=self._settings.max_number, expires=expires, params={"action": action}
            )
        )
        return dict(ch.to_dict())

    async def verify(self, token: str | None, action: str, ip: str) -> bool:
        if not token or len(token) > 4096:
            return False
        try:
            payload = json.loads(base64.b64decode(token, validate=True))
        except (ValueError, TypeError):
            return False
        if not isinstance(payload, dict):
            return False
        try:
            ok, _err = verify_solution(cast(PayloadType, payload), self._key, check_expires=True)
        except (ValueError, TypeError, KeyError):
            return False
        if not ok:
            return False
        params = extract_params(cast(PayloadType, payload))
        if params.get("action") != [action]:
            return False
        return await self._store.add_once(f"captcha-used:{payload['signature']}", self._settings.ttl_seconds + 60)


class HttpCaptchaVerifier:
    """Yandex SmartCaptcha (``status == "ok"``) or reCAPTCHA (``success``) token check."""

    def __init__(self, settings: CaptchaSettings, kind: str) -> None:
        self._tls = ssl.create_default_context()  # loaded once, not at every check
        self.kind = kind
        self._settings = settings

    def challenge(self, action: str) -> dict[str, Any]:
        return {"provider": self.kind, "site_key": self._settings.site_key, "action": action}

    async def verify(self, token: str | None, action: str, ip: str) -> bool:
        if not token or len(token) > 4096:
            return False
        data = {"secret": self._settings.server_key, "token": token, "ip": ip}
        if self.kind == "recaptcha":
            data = {"secret": self._settings.server_key, "response": token, "remoteip": ip}
        try:
            async with httpx.AsyncClient(timeout=5.0, verify=self._tls) as client:
                resp = await client.post(self._settings.verify_url, data=data)
            body = resp.json()
        except (httpx.HTTPError, ValueError):
            return False
        # Fail closed on anything but a 200 with a JSON object (an error page or a list is no verdict).
        if resp.status_code != 200 or not isinstance(body, dict):
            return False
        if self.kind == "recaptcha":
            return body.get("success") is True and body.get("action", action) == action
        return bool(body.get("status") == "ok")


class NoCaptcha:
    """Only for development set-ups that turned captcha off; refused in production."""

    kind = "none"

    def challenge(self, action: str) -> dict[str, Any]:
        return {"provider": "none"}

    async def verify(self, token: str | None, action: str, ip: str) -> bool:
        return True


async def require_captcha(verifier: CaptchaVerifier, token: str | None, action: str, ip: str) -> None:
    """A solved captcha or :class:`CaptchaRequired`; nothing to solve when captcha is off (development)."""
    if verifier.kind == "none":
        return
    if not token:
        raise CaptchaRequired()
    if not await verifier.verify(token, action, ip):
        raise CaptchaRequired("captcha.invalid", code="captcha_invalid")


def make_verifier(settings: CaptchaSettings, keyring: Keyring, store: CounterStore) -> CaptchaVerifier:
    if settings.provider == "altcha":
        return AltchaVerifier(settings, keyring, store)
    if settings.provider in ("smartcaptcha", "recaptcha"):
        return HttpCaptchaVerifier(settings, settings.provider)
    return NoCaptcha()
