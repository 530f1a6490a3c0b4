"""Signed HTTP bodies between Dostup and a service it trusts by a shared secret (the identity registry).

The signature is ``sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`` in ``X-Dostup-Signature``,
with the Unix time in ``X-Dostup-Timestamp`` — the scheme Stripe's and GitHub's webhooks use.  Binding the
time into the MAC lets the receiver refuse an old message outright (a replay after the window); inside the
window, what the message does must itself be one-shot (an answer moves a request out of ``submitted``
once).  Comparison is constant-time (:func:`hmac.compare_digest`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac

TIMESTAMP_HEADER = "X-Dostup-Timestamp"
SIGNATURE_HEADER = "X-Dostup-Signature"


def unix_time(naive_utc: dt.datetime) -> int:
    """Seconds since the epoch of a naive UTC time (Dostup's times are naive UTC)."""
    return int(naive_utc.replace(tzinfo=dt.UTC).timestamp())


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def signed_headers(secret: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {TIMESTAMP_HEADER: str(timestamp), SIGNATURE_HEADER: sign(secret, timestamp, body)}


def verify(secret: str, timestamp: str | None, signature: str | None, body: bytes, *, now: int,
           window: int) -> bool:
    """The signature is the secret's over this body and time, and the time is within ``window`` seconds
    of ``now`` (either way: clocks drift)."""
    if not timestamp or not signature or len(timestamp) > 12 or not timestamp.isascii() or not timestamp.isdigit():
        return False
    sent = int(timestamp)
    expected = sign(secret, sent, body)
    good = hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace"))
    return good and abs(now - sent) <= window
