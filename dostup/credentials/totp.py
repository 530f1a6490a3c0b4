"""TOTP (RFC 6238): 30-second steps, 6 digits, SHA-1 (what authenticator apps read from the QR
code), ±1 step of drift (SECURITY.md).  The seed is 160 random bits (RFC 4226 §4 recommends
that length), encrypted at rest with the instance secret (:class:`dostup.core.crypto.Sealer`).

Replay: the step of the last accepted code is stored with the credential, and a code is accepted
only for a later step (SECURITY.md: a code accepted once is refused again in its step).
"""

from __future__ import annotations

import base64
import datetime as dt
import hmac
import io

import pyotp
import segno

TYPE = "totp"
STEP_SECONDS = 30
DIGITS = 6
DRIFT_STEPS = 1


def new_secret() -> str:
    return pyotp.random_base32(32)  # 32 base32 characters = 160 bits


def provisioning_uri(secret: str, account_name: str, issuer: str) -> str:
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(name=account_name, issuer_name=issuer)


def qr_svg(uri: str) -> str:
    """The QR code as inline SVG, rendered on the server (no third-party image service sees the seed)."""
    out = io.BytesIO()
    segno.make(uri, error="m").save(out, kind="svg", scale=4, border=2, xmldecl=False, svgns=True,
                                    title="QR", dark="#000", light="#fff")
    return out.getvalue().decode()


def normalize(answer: str | None) -> str | None:
    """Six ASCII digits (spaces allowed between groups), or None: letters or 7 digits are no code."""
    value = "".join((answer or "").split())
    return value if len(value) == DIGITS and value.isascii() and value.isdigit() else None


def matching_step(secret: str, code: str, now: dt.datetime) -> int | None:
    """The time step ``code`` belongs to, within ±1 step of ``now`` (naive UTC), or None.

    Every step of the window is computed and compared in constant time, whichever matches; the
    seed is decoded once and each code is one HMAC-SHA-1 call (RFC 4226 §5.3), not pyotp's
    per-step objects (the second sign-in step is a hot call: issue 10 §7)."""
    key = base64.b32decode(secret.upper() + "=" * (-len(secret) % 8))
    current = int(now.replace(tzinfo=dt.UTC).timestamp()) // STEP_SECONDS
    found = None
    for step in (current, current - DRIFT_STEPS, current + DRIFT_STEPS):
        if hmac.compare_digest(_hotp(key, step), code.encode()) and found is None:
            found = step
    return found


def _hotp(key: bytes, counter: int) -> bytes:
    """RFC 4226 §5.3: HMAC-SHA-1 of the counter, dynamically truncated to :data:`DIGITS` digits."""
    mac = hmac.digest(key, counter.to_bytes(8, "big"), "sha1")
    offset = mac[-1] & 0x0F
    value = int.from_bytes(mac[offset:offset + 4], "big") & 0x7FFFFFFF
    return str(value % 10**DIGITS).zfill(DIGITS).encode()
