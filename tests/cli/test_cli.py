"""The command line: migrate, admin create-user, outbox, and refusing bad settings."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dostup.cli import app
from tests.support import TEST_SECRET


@dataclass
class Ran:
    returncode: int
    stdout: str
    stderr: str


def _run(tmp_path: Path, *args: str, **env: str) -> Ran:
    """Run the CLI in-process with a clean DOSTUP_* environment and its own SQLite file."""
    clean = {k: None for k in os.environ if k.startswith("DOSTUP_")}
    clean.update({"DOSTUP_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/cli.db", **env})
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        result = CliRunner().invoke(app, list(args), env=clean)
    finally:
        os.chdir(cwd)
    return Ran(result.exit_code, result.stdout, result.stderr)


def test_migrate_then_create_user_then_duplicate_is_refused(tmp_path):
    assert _run(tmp_path, "migrate").returncode == 0
    ok = _run(tmp_path, "admin", "create-user", "--phone", "8 912 345-67-89", "--password", "Tundra-Lantern-42",
              "--login", "Admin.One", "--role", "admin")
    assert ok.returncode == 0, ok.stderr
    assert len(ok.stdout.strip()) == 32
    dup = _run(tmp_path, "admin", "create-user", "--phone", "+79123456789", "--password", "Tundra-Lantern-43")
    assert dup.returncode == 1 and "already used" in dup.stderr


@pytest.mark.parametrize(("args", "needle"), [
    (["--phone", "12ab", "--password", "Tundra-Lantern-42"], "phone"),
    (["--login", "ivan", "--password", "short"], "password"),
    (["--login", "ivan", "--password", "Tundra-Lantern-42", "--role", "root"], "role"),
    (["--password", "Tundra-Lantern-42"], "at least one"),
])
def test_create_user_refuses_bad_input_with_a_clear_message(tmp_path, args, needle):
    r = _run(tmp_path, "admin", "create-user", *args)
    assert r.returncode == 1 and needle in r.stderr


def test_outbox_json_is_newest_first_and_empty_at_start(tmp_path):
    _run(tmp_path, "migrate")
    r = _run(tmp_path, "outbox", "--json")
    assert r.returncode == 0 and json.loads(r.stdout) == []


def test_a_wrong_setting_stops_the_start_naming_it(tmp_path):
    r = _run(tmp_path, "migrate", DOSTUP_ENV="production")
    assert r.returncode == 2 and "DOSTUP_SECRET_KEY" in r.stderr
    r = _run(tmp_path, "migrate", DOSTUP_PRESET="nonesuch", DOSTUP_SECRET_KEY=TEST_SECRET)
    assert r.returncode == 2 and "DOSTUP_PRESET" in r.stderr


def test_import_users_reports_bad_rows_and_imports_the_rest(tmp_path):
    from tests.unit.test_legacy_hashes import VECTORS

    data = tmp_path / "users.csv"
    data.write_text(f"phone,email,password_hash\n+79120004401,a@example.ru,{VECTORS['werkzeug sha256'][1]}\n"
                    "12345,,\n", encoding="utf-8")
    ran = _run(tmp_path, "admin", "import-users", str(data))
    assert ran.returncode == 1
    assert "imported 1; rows with errors: 1" in ran.stdout
    assert "line 3: phone:" in ran.stderr
    again = _run(tmp_path, "admin", "import-users", str(data))  # nothing is created twice
    assert "imported 0; rows with errors: 2" in again.stdout and "line 2: phone: Another account" in again.stderr
    data.write_bytes("phone\n+7912\xff".encode("latin-1"))
    bad = _run(tmp_path, "admin", "import-users", str(data))
    assert bad.returncode == 1 and "UTF-8" in bad.stderr
    assert _run(tmp_path, "admin", "import-users", str(tmp_path / "missing.csv")).returncode == 1
