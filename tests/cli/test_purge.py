"""``dostup admin purge`` deletes what expired once and prints the counts; ``dostup worker`` purges
on its own, beside the courier."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from tests.cli.test_cli import _run
from tests.support import TEST_SECRET

TABLES = {"flows", "codes", "counters", "spent_challenges", "oidc_codes", "oidc_tokens", "oidc_grants", "sessions",
          "security_events", "support_messages", "support_requests",
          "verification_requests",  # letters past their expiry: ended, not deleted
          "identity_profiles_sealed", "verification_requests_sealed"}  # passports from before they were sealed


def _text(value: dt.datetime) -> str:
    return value.isoformat(" ", "microseconds")  # how SQLAlchemy stores a time in SQLite


def _flows(db: Path, **expiries: dt.datetime) -> None:
    conn = sqlite3.connect(db)
    try:
        with conn:
            conn.executemany(
                "INSERT INTO flows (id, kind, state, data, created_at, updated_at, expires_at) "
                "VALUES (?, 'login', 'started', '{}', ?, ?, ?)",
                [(fid, _text(at), _text(at), _text(at)) for fid, at in expiries.items()])
    finally:
        conn.close()


def _flow_ids(db: Path) -> set[str]:
    conn = sqlite3.connect(db)
    try:
        return {row[0] for row in conn.execute("SELECT id FROM flows")}
    finally:
        conn.close()


def test_purge_deletes_what_expired_and_prints_json_counts_per_table(tmp_path):
    assert _run(tmp_path, "migrate").returncode == 0
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    _flows(tmp_path / "cli.db", old=now - dt.timedelta(hours=2), recent=now - dt.timedelta(minutes=5),
           live=now + dt.timedelta(minutes=10))
    r = _run(tmp_path, "admin", "purge")
    assert r.returncode == 0, r.stderr
    counts = json.loads(r.stdout)
    assert set(counts) == TABLES and counts["flows"] == 1 and sum(counts.values()) == 1
    assert _flow_ids(tmp_path / "cli.db") == {"recent", "live"}
    again = _run(tmp_path, "admin", "purge", DOSTUP_HOUSEKEEPING__GRACE_SECONDS="0")
    assert json.loads(again.stdout)["flows"] == 1 and _flow_ids(tmp_path / "cli.db") == {"live"}


def test_purge_refuses_a_bad_retention_naming_the_variable(tmp_path):
    r = _run(tmp_path, "admin", "purge", DOSTUP_HOUSEKEEPING__BATCH_SIZE="0")
    assert r.returncode == 2 and "DOSTUP_HOUSEKEEPING__BATCH_SIZE" in r.stderr


def test_the_worker_command_purges_at_its_start(tmp_path):
    """``dostup worker`` as deployed (a process of its own, exec'd into ``python -m dostup.app --courier``)."""
    db = tmp_path / "worker.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOSTUP_")}
    env.update(DOSTUP_DATABASE_URL=f"sqlite+aiosqlite:///{db}", DOSTUP_SECRET_KEY=TEST_SECRET)
    cli = [sys.executable, "-m", "dostup.cli"]
    subprocess.run([*cli, "migrate"], env=env, cwd=tmp_path, check=True, capture_output=True, timeout=60)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    _flows(db, old=now - dt.timedelta(hours=2), live=now + dt.timedelta(hours=1))
    worker = subprocess.Popen([*cli, "worker"], env=env, cwd=tmp_path, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while _flow_ids(db) != {"live"} and time.monotonic() < deadline and worker.poll() is None:
            time.sleep(0.1)
        assert _flow_ids(db) == {"live"}
        assert worker.poll() is None  # still running: delivering, and purging again in a few minutes
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=10)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
        assert worker.stderr is not None
        worker.stderr.close()


def test_purge_seals_a_passport_written_in_clear_with_the_instance_key(tmp_path):
    """A profile saved before migration 0051: ``dostup admin purge`` seals its passport (it has the instance key),
    and the profile then opens with that key only."""
    from dostup.core.crypto import Keyring
    from dostup.core.passport import PROFILE, PassportSealer

    assert _run(tmp_path, "migrate").returncode == 0
    now = _text(dt.datetime.now(dt.UTC).replace(tzinfo=None))
    conn = sqlite3.connect(tmp_path / "cli.db")
    try:
        with conn:
            conn.execute("INSERT INTO identity_profiles (account_id, level, no_middle_name, passport_series, "
                         "passport_number, passport_issued_on, passport_division_code, passport_issuer, updated_at) "
                         "VALUES ('old', 1, 0, '4508', '123456', '2010-06-17', '770-001', 'ОВД', ?)", (now,))
    finally:
        conn.close()
    r = _run(tmp_path, "admin", "purge", DOSTUP_SECRET_KEY=TEST_SECRET)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["identity_profiles_sealed"] == 1
    conn = sqlite3.connect(tmp_path / "cli.db")
    try:
        row = conn.execute("SELECT passport, passport_series, passport_number, passport_issuer FROM identity_profiles"
                           ).fetchone()
    finally:
        conn.close()
    assert row[1:] == (None, None, None) and "123456" not in row[0]
    assert PassportSealer(Keyring(TEST_SECRET), PROFILE).open(row[0]) == {
        "passport_series": "4508", "passport_number": "123456", "passport_issued_on": "2010-06-17",
        "passport_division_code": "770-001", "passport_issuer": "ОВД"}
    again = _run(tmp_path, "admin", "purge", DOSTUP_SECRET_KEY=TEST_SECRET)
    assert json.loads(again.stdout)["identity_profiles_sealed"] == 0
