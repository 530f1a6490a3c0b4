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
    """The app as uvicorn builds it in each web process (``dostup.app:serving_app``)."""
    probe = ("import json, sys; from dostup.app import serving_app; serving_app(); "
             "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))")
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("DOSTUP_")}, "PYTHONPATH": str(ROOT),
           "DOSTUP_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/d.db"}
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, cwd=tmp_path,
                          timeout=120, check=True)
    loaded = set(json.loads(done.stdout.strip().splitlines()[-1]))
    assert "fastapi" in loaded and "sqlalchemy" in loaded  # the probe did build the app
    assert not loaded & {"typer", "rich", "pygments", "alembic", "mako", "webauthn", "cbor2", "OpenSSL"}, loaded


def test_passkeys_spell_the_library_values_they_no_longer_import_at_start():
    assert passkeys._TRANSPORTS == {t.value for t in AuthenticatorTransport}
    assert passkeys.strength(CredentialDeviceType.MULTI_DEVICE.value).amr[0] == "swk"
    assert passkeys.strength(CredentialDeviceType.SINGLE_DEVICE.value).amr[0] == "hwk"


def test_malloc_is_tuned_on_glibc():
    assert tune_malloc() is True  # Linux with glibc (this machine, the Debian image)
