"""SMS over HTTP: a generic gateway (URL + body template) and SMS.ru's API.

The generic gateway posts ``body_template`` with ``{to}`` and ``{text}`` filled in (JSON-escaped
for a JSON body, URL-encoded for a form); any 2xx answer counts as accepted.
"""

from __future__ import annotations

import json
import re
import ssl
from urllib.parse import quote_plus

import httpx

from dostup.courier.channels import DeliveryError
from dostup.persistence.models import OutboxMessage
from dostup.settings import SmsSettings

_PLACEHOLDER = re.compile(r"\{(to|text|sender)\}")


class HttpSmsChannel:
    name = "http"
    keeps_text = False

    def __init__(self, settings: SmsSettings) -> None:
        self._s = settings
        self._tls = ssl.create_default_context()  # loaded once: not on the event loop at every send

    def _escape(self, value: str) -> str:
        # A query string (GET) is always URL-encoded, whatever the configured content type says.
        if "json" in self._s.content_type and self._s.method == "POST":
            return json.dumps(value)[1:-1]
        return quote_plus(value)

    async def send(self, message: OutboxMessage) -> None:
        s = self._s
        values = {"to": message.to, "text": message.body, "sender": s.sender}
        # One pass, so a placeholder inside the text (``{sender}``) is sent as written, not filled in.
        body = _PLACEHOLDER.sub(lambda m: self._escape(values[m.group(1)]), s.body_template)
        headers = {"Content-Type": s.content_type}
        if s.idempotency_header:
            headers[s.idempotency_header] = message.id  # a repeated send is the same message
        if s.auth_header:
            name, _, value = s.auth_header.partition(":")
            headers[name.strip()] = value.strip()
        try:
            async with httpx.AsyncClient(timeout=s.timeout_seconds, verify=self._tls) as client:
                if s.method == "GET":
                    headers.pop("Content-Type")
                    resp = await client.get(s.url + ("&" if "?" in s.url else "?") + body, headers=headers)
                else:
                    resp = await client.post(s.url, content=body.encode(), headers=headers)
        except httpx.HTTPError as exc:
            raise DeliveryError(type(exc).__name__) from exc
        if not 200 <= resp.status_code < 300:
            raise DeliveryError(f"gateway answered {resp.status_code}")


class SmsRuChannel:
    """SMS.ru ``/sms/send`` (JSON answer; ``status == "OK"`` per message)."""

    name = "smsru"
    keeps_text = False

    def __init__(self, settings: SmsSettings) -> None:
        self._s = settings
        self._tls = ssl.create_default_context()
        self._url = settings.url or "https://sms.ru/sms/send"

    async def send(self, message: OutboxMessage) -> None:
        data = {"api_id": self._s.api_id, "to": message.to.lstrip("+"), "msg": message.body, "json": "1"}
        if self._s.sender:
            data["from"] = self._s.sender
        try:
            async with httpx.AsyncClient(timeout=self._s.timeout_seconds, verify=self._tls) as client:
                resp = await client.post(self._url, data=data)
            body = resp.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise DeliveryError(type(exc).__name__) from exc
        if resp.status_code != 200 or not isinstance(body, dict) or body.get("status") != "OK":
            raise DeliveryError("provider refused")
        per_number = body.get("sms") or {}
        if not isinstance(per_number, dict):
            raise DeliveryError("provider answer not understood")
        sms = per_number.get(message.to.lstrip("+")) or {}
        if sms and (not isinstance(sms, dict) or sms.get("status") != "OK"):
            raise DeliveryError("provider refused the number")
