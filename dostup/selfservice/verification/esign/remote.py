"""The adapter: an external signature verification service over HTTP (a CryptoPro DSS/SVS-like service that
implements GOST R 34.10-2012, checks revocation and holds the accredited CAs' roots).

**Contract.**  Dostup POSTs to ``DOSTUP_LEVELS__ESIGN_SERVICE_URL``::

    {"content": "<base64 of the statement's UTF-8 bytes>", "signature": "<base64 of the DER CMS>",
     "detached": true}

signed like the registry's requests (:mod:`dostup.core.signatures`: ``X-Dostup-Timestamp`` and
``X-Dostup-Signature: sha256=<HMAC-SHA256 of "<timestamp>.<body>" with DOSTUP_LEVELS__ESIGN_SERVICE_SECRET>``),
so the service knows the call is Dostup's.  It answers 200 with::

    {"valid": true, "signer": {"snils": "11223344595", "surname": "Петрова", "given_name": "Анна Сергеевна",
                               "common_name": "…", "serial": "…", "issuer": "…"}}
    {"valid": false, "reason": "untrusted" | "cert_expired" | "cert_not_yet_valid" | "key_usage" | "revoked" |
                               "revocation_unknown" | "wrong_statement" | "bad_signature" | "not_cms" |
                               "unsupported_algorithm"}

A verdict of invalid is the customer's 422 with the reason's message (an unknown reason: the general one);
``revocation_unknown``: the certificate names nowhere its revocation could be checked (its message says so); a
service that merely could not reach a CA's list or responder this time should give no verdict — the 503 below.
Anything else — no connection, a timeout, another status, a body that is not that JSON — means the service
could not say: 503 ``esign.service_unavailable``, and the customer may try the same statement again.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import ssl
from typing import Any

import httpx

from dostup.core.errors import ServiceUnavailable
from dostup.core.signatures import signed_headers, unix_time
from dostup.selfservice.verification.esign.check import Signer, refused

_FIELDS = ("snils", "surname", "given_name", "common_name", "serial", "issuer")
MAX_ANSWER = 16 * 1024  # bytes of the service's answer read


class ServiceCheck:
    name = "service"

    def __init__(self, *, url: str, secret: str, timeout: float) -> None:
        self._url = url
        self._secret = secret
        self._timeout = timeout
        self._tls = ssl.create_default_context()

    async def check(self, content: bytes, signature: bytes, now: dt.datetime) -> Signer:
        body = json.dumps({"content": base64.b64encode(content).decode(),
                           "signature": base64.b64encode(signature).decode(), "detached": True},
                          separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json", "Accept": "application/json",
                   **signed_headers(self._secret, unix_time(now), body)}
        try:
            async with httpx.AsyncClient(timeout=self._timeout, verify=self._tls) as client:
                resp = await client.post(self._url, content=body, headers=headers)
        except httpx.HTTPError:
            raise _unavailable() from None
        if resp.status_code != 200 or len(resp.content) > MAX_ANSWER:
            raise _unavailable()
        try:
            data = json.loads(resp.content)
        except ValueError:
            raise _unavailable() from None
        return _verdict(data)


def _verdict(data: Any) -> Signer:
    if not isinstance(data, dict) or not isinstance(data.get("valid"), bool):
        raise _unavailable()
    if not data["valid"]:
        reason = data.get("reason")
        raise refused(reason if isinstance(reason, str) else "invalid")
    signer = data.get("signer")
    if not isinstance(signer, dict):
        raise _unavailable()
    values = {k: v if isinstance(v := signer.get(k), str) else "" for k in _FIELDS}
    values["snils"] = re.sub(r"\D", "", values["snils"])
    return Signer(**{k: v[:300] for k, v in values.items()})


def _unavailable() -> ServiceUnavailable:
    return ServiceUnavailable("esign.service_unavailable", code="verification_service_unavailable")
