"""``credentials.totp.matching_step`` computes codes itself (one HMAC call a step): every verdict is
pyotp's, the library authenticator apps are tested against (RFC 6238, ±1 step)."""

from __future__ import annotations

import datetime as dt
import random

import pyotp

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
