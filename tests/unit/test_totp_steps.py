"""``credentials.totp.matching_step`` computes codes itself (one HMAC call a step): every verdict is
pyotp's, the library authenticator apps are tested against (RFC 6238, ±1 step)."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import random

import pyotp
import pytest

from dostup.credentials import totp


def _pyotp_step(secret: str, code: str, now: dt.datetime) -> int | None:
    t = pyotp.TOTP(secret, digits=totp.DIGITS, interval=totp.STEP_SECONDS)
    current = int(now.replace(tzinfo=dt.UTC).timestamp()) // totp.STEP_SECONDS
    for step in (current, current - 1, current + 1):
        if t.generate_otp(step) == code:
            return step
    return None


def test_every_verdict_is_pyotps() -> None:
    rng = random.Random(10)
    for _ in range(200):
        secret = pyotp.random_base32(32)
        now = dt.datetime(2026, 12, 4) + dt.timedelta(seconds=rng.randrange(10**8))
        current = int(now.replace(tzinfo=dt.UTC).timestamp()) // totp.STEP_SECONDS
        t = pyotp.TOTP(secret)
        codes = [t.generate_otp(current + d) for d in range(-3, 4)] + [f"{rng.randrange(10**6):06d}"]
        for code in codes:
            assert totp.matching_step(secret, code, now) == _pyotp_step(secret, code, now), (secret, code, now)
        assert totp.matching_step(secret, t.generate_otp(current - 1), now) in (current - 1, current, current + 1)
        assert totp.matching_step(secret, t.generate_otp(current + 2), now) in (None, current - 1, current,
                                                                               current + 1)


def test_a_lower_case_or_unpadded_seed_gives_the_same_codes() -> None:
    secret = "JBSWY3DPEHPK3PXPJBSWY3DPEH"  # 26 characters, not a multiple of 8: padding is added
    now = dt.datetime(2026, 12, 4, 3, 0, 0)
    code = pyotp.TOTP(secret).at(now.replace(tzinfo=dt.UTC))
    step = int(now.replace(tzinfo=dt.UTC).timestamp()) // totp.STEP_SECONDS
    assert totp.matching_step(secret.lower(), code, now) == totp.matching_step(secret, code, now) == step


def test_a_seed_is_decoded_as_b32decode_decodes_it() -> None:
    """A seed of ours (32 characters) is read as one base-32 integer: the bytes are ``b32decode``'s,
    in either case; other lengths, and text outside the alphabet, are ``b32decode``'s to read or
    refuse (``0``, ``1``, ``8``, ``9`` are not base32, though ``int(…, 32)`` would take them)."""
    for _ in range(500):
        secret = pyotp.random_base32(32)
        assert totp._seed(secret) == totp._seed(secret.lower()) == base64.b32decode(secret)
    assert totp._seed("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA") == bytes(20)
    assert totp._seed("77777777777777777777777777777777") == b"\xff" * 20
    for secret in ("JBSWY3DPEHPK3PXP", "JBSWY3DPEHPK3PXPJBSWY3DPEH", pyotp.random_base32(40)):
        assert totp._seed(secret) == base64.b32decode(secret + "=" * (-len(secret) % 8))
    for bad in ("0" + "A" * 31, "A" * 31 + "1", "A" * 30 + "_A", "+" + "A" * 31, " " + "A" * 31):
        with pytest.raises(binascii.Error):
            totp._seed(bad)
