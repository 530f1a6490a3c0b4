"""What a serving process loads and keeps (issue 13 §0; figures in bench/RESULTS.md, bench/memory.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from webauthn.helpers.structs import AuthenticatorTransport, CredentialDeviceType

from dostup.core.memory import tune_malloc
from dostup.credentials import passkeys

ROOT = Path(__file__).resolve().parents[2]


def test_a_serving_process_loads_neither_the_command_line_nor_alembic_nor_webauthn(tmp_path):
    """The app as uvicorn builds it in each web process (``dostup.app:serving_app``); the e-signature's CMS
    parser (asn1crypto, ~2 MiB) only where a built-in check is configured."""
    probe = ("import json, sys; from dostup.app import serving_app; serving_app(); "
             "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))")
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("DOSTUP_")}, "PYTHONPATH": str(ROOT),
           "DOSTUP_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/d.db"}
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, cwd=tmp_path,
                          timeout=120, check=True)
    loaded = set(json.loads(done.stdout.strip().splitlines()[-1]))
    assert "fastapi" in loaded and "sqlalchemy" in loaded  # the probe did build the app
    assert not loaded & {"typer", "rich", "pygments", "alembic", "mako", "webauthn", "cbor2", "OpenSSL",
                         "asn1crypto"}, loaded


def test_passkeys_spell_the_library_values_they_no_longer_import_at_start():
    assert passkeys._TRANSPORTS == {t.value for t in AuthenticatorTransport}
    assert passkeys.strength(CredentialDeviceType.MULTI_DEVICE.value).amr[0] == "swk"
    assert passkeys.strength(CredentialDeviceType.SINGLE_DEVICE.value).amr[0] == "hwk"


def test_malloc_is_tuned_on_glibc():
    assert tune_malloc() is True  # Linux with glibc (this machine, the Debian image)


_HASHES = """
import json, resource
from argon2 import PasswordHasher, Type
from dostup.core.memory import give_back, tune_malloc
assert tune_malloc()
ph = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1, type=Type.ID)
stored = ph.hash("a password")
def rss():
    return int(next(l for l in open("/proc/self/status") if l.startswith("VmRSS")).split()[1])
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(5):
    ph.verify(stored, "a password")
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
kept = rss()
give_back()
print(json.dumps({"faults": faults, "kept_kib": kept, "after_kib": rss()}))
"""


def test_hashes_reuse_their_working_memory_and_give_it_back_when_asked():
    """Five argon2id verifies at SECURITY.md's cost fault in far fewer pages than one 19 MiB block
    (4,864 pages): the block is reused, not mapped and zeroed afresh each time (a verify cost 36 ms
    instead of 23-25 ms that way).  ``give_back`` then returns it to the system."""
    done = subprocess.run([sys.executable, "-c", _HASHES], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120, check=True)
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["faults"] < 1000, seen
    assert seen["kept_kib"] - seen["after_kib"] > 15 * 1024, seen


async def test_the_hasher_gives_memory_back_once_hashing_has_been_idle(monkeypatch):
    import asyncio

    from dostup.credentials import password
    from dostup.settings import PasswordSettings

    calls: list[int] = []
    monkeypatch.setattr(password, "give_back", lambda: calls.append(1) or True)  # runs in a hashing thread
    monkeypatch.setattr(password, "GIVE_BACK_AFTER_SECONDS", 30.0)
    hasher = password.PasswordHasher(PasswordSettings(argon2_memory_kib=64, argon2_time_cost=1))
    loop = asyncio.get_running_loop()
    try:
        stored = await hasher.hash("a password")
        first = hasher._give_back
        assert first is not None and first.when() - loop.time() > 29  # waits the idle time after the last hash
        assert await hasher.verify(stored, "a password") == (True, False)
        assert first.cancelled() and hasher._give_back is not None and hasher._give_back is not first
        assert calls == []
        monkeypatch.setattr(password, "GIVE_BACK_AFTER_SECONDS", 0.05)
        await hasher.verify(stored, "another")
        for _ in range(200):  # once idle: one give-back, in the pool
            if calls:
                break
            await asyncio.sleep(0.05)
        assert calls == [1] and hasher._give_back is None
    finally:
        hasher.close()
