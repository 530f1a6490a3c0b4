"""Equal-time answers for unknown, wrong-password and locked accounts (SECURITY.md: sign-in)."""

from __future__ import annotations

import statistics
import time

import pytest

from tests.flows.helpers import PASSWORD, phone_e164
from tests.support import PRODUCTION_HASHING, ApiSurface

OPEN = {"DOSTUP_LIMITS__SIGNIN_PER_IP_PER_MINUTE": "100000", "DOSTUP_LIMITS__SIGNIN_CAPTCHA_AFTER_FAILURES": "100000",
        "DOSTUP_LIMITS__SIGNIN_LOCK_AFTER_FAILURES": "100000", **PRODUCTION_HASHING}


@pytest.mark.slow
@pytest.mark.parametrize("settings_overrides", [OPEN])
async def test_unknown_wrong_and_locked_medians_within_ten_percent(client_factory, services, backend):
    if "DOSTUP_REDIS_URL" in backend:
        pytest.skip("timing is measured once, on the embedded backend")
    from dostup.admin.users import create_user

    known, locked = phone_e164(500), phone_e164(501)
    for phone in (known, locked):
        await create_user(services.settings, phone=phone, password=PASSWORD, login=None, email=None,
                          country="RU", role="customer", now=services.clock.now())
    await services.store.put(f"signin-lock:phone:{locked}", 1, 3600)
    api = ApiSurface(client_factory())
    cases = {"unknown": phone_e164(502), "wrong": known, "locked": locked}
    times: dict[str, list[float]] = {k: [] for k in cases}
    bodies: dict[str, set[str]] = {k: set() for k in cases}
    for _ in range(10):  # warm up
        await api.login(method="phone", phone=known, password="Wrong-password-1")
    names = list(cases)
    for round_ in range(67):  # 201 interleaved tries in all; the order rotates each round
        for name in names[round_ % 3:] + names[:round_ % 3]:
            phone = cases[name]
            start = time.perf_counter()
            r = await api.login(method="phone", phone=phone, password=PASSWORD if name == "locked" else "Wrong-password-1")
            times[name].append(time.perf_counter() - start)
            assert r.status == 401
            bodies[name].add(str(r.data))
    assert len({b for s in bodies.values() for b in s}) == 1  # one body for all three
    medians = {k: statistics.median(v) for k, v in times.items()}
    # Each case against the wrong password tried in the same round: a busy moment of the machine (the
    # other worker's browser walk) slows one round's three tries alike and cancels out of their ratio.
    ratios = {k: statistics.median(t / w for t, w in zip(v, times["wrong"], strict=True)) for k, v in times.items()}
    for ratio in ratios.values():
        assert abs(ratio - 1) < 0.10, (ratios, medians)
