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
import re

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
    seed is decoded once, the HMAC key set once and copied for each step (RFC 4226 §5.3), not
    pyotp's per-step objects (the second sign-in step is a hot call: issue 10 §7)."""
    keyed = hmac.new(_seed(secret), None, "sha1")
    current = int(now.replace(tzinfo=dt.UTC).timestamp()) // STEP_SECONDS
    given = code.encode()
    found = None
    for step in (current, current - DRIFT_STEPS, current + DRIFT_STEPS):
        if hmac.compare_digest(_hotp(keyed, step), given) and found is None:
            found = step
    return found


_BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_AS_BASE32HEX = str.maketrans(_BASE32, "0123456789abcdefghijklmnopqrstuv")  # the digits ``int(…, 32)`` reads
_SEED = re.compile(f"[{_BASE32}]{{32}}")


def _seed(secret: str) -> bytes:
    """The seed's bytes: ``base64.b32decode`` of the text in upper case, padded.  A seed of ours
    (32 characters, 160 bits) is read as one base-32 integer (``b32decode`` is a Python loop, a
    third of a step's code check); any other text goes through ``b32decode``, its checks included."""
    text = secret.upper()
    if _SEED.fullmatch(text):
        return int(text.translate(_AS_BASE32HEX), 32).to_bytes(20, "big")
    return base64.b32decode(text + "=" * (-len(text) % 8))


def _hotp(keyed: hmac.HMAC, counter: int) -> bytes:
    """RFC 4226 §5.3: HMAC-SHA-1 of the counter, dynamically truncated to :data:`DIGITS` digits."""
    step = keyed.copy()
    step.update(counter.to_bytes(8, "big"))
    mac = step.digest()
    offset = mac[-1] & 0x0F
    return b"%0*d" % (DIGITS, (int.from_bytes(mac[offset:offset + 4], "big") & 0x7FFFFFFF) % 10**DIGITS)
