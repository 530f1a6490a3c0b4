"""``DOSTUP_HOUSEKEEPING__*``: bounded like every other number, and the security history kept by default."""

from __future__ import annotations

import datetime as dt

import pytest

from dostup.core.clock import FrozenClock
from dostup.courier.build import housekeeping
from dostup.persistence.db import Database
from dostup.settings import SettingsError, load_settings
from tests.support import base_env


@pytest.mark.parametrize(("name", "value"), [
    ("DOSTUP_HOUSEKEEPING__INTERVAL_SECONDS", "0"),
    ("DOSTUP_HOUSEKEEPING__INTERVAL_SECONDS", "100000"),
    ("DOSTUP_HOUSEKEEPING__GRACE_SECONDS", "-1"),
    ("DOSTUP_HOUSEKEEPING__GRACE_SECONDS", str(31 * 86400)),
    ("DOSTUP_HOUSEKEEPING__ENDED_SESSIONS_SECONDS", "-5"),
    ("DOSTUP_HOUSEKEEPING__ENDED_SESSIONS_SECONDS", str(366 * 86400)),
    ("DOSTUP_HOUSEKEEPING__SECURITY_EVENTS_DAYS", "-1"),
    ("DOSTUP_HOUSEKEEPING__SECURITY_EVENTS_DAYS", "7"),  # a week of security history is no history
    ("DOSTUP_HOUSEKEEPING__SECURITY_EVENTS_DAYS", "1000000"),
    ("DOSTUP_HOUSEKEEPING__SUPPORT_REQUESTS_DAYS", "0"),  # support requests are not kept for ever
    ("DOSTUP_HOUSEKEEPING__SUPPORT_REQUESTS_DAYS", "7"),
    ("DOSTUP_HOUSEKEEPING__SUPPORT_REQUESTS_DAYS", str(11 * 365)),
    ("DOSTUP_HOUSEKEEPING__BATCH_SIZE", "1"),
    ("DOSTUP_HOUSEKEEPING__BATCH_SIZE", "10000000"),
    ("DOSTUP_HOUSEKEEPING__PAUSE_SECONDS", "-0.1"),
    ("DOSTUP_HOUSEKEEPING__PAUSE_SECONDS", "3600"),
])
def test_bad_housekeeping_values_are_refused_naming_the_variable(tmp_path, name, value):
    with pytest.raises(SettingsError) as err:
        load_settings(base_env(**{name: value}), workdir=tmp_path)
    assert name in str(err.value)


async def test_the_defaults_purge_every_few_minutes_an_hour_late_and_keep_the_security_history(tmp_path):
    h = load_settings(base_env(), workdir=tmp_path).housekeeping
    assert h.enabled and h.interval_seconds == 300 and h.grace_seconds == 3600
    assert h.ended_sessions_seconds == 86400 and h.security_events_days == 0 and h.batch_size == 1000
    db = Database(f"sqlite+aiosqlite:///{tmp_path}/x.db")
    try:
        retention = housekeeping(h, db, FrozenClock()).retention
    finally:
        await db.dispose()
    assert retention.security_events is None and retention.grace == dt.timedelta(hours=1)
    assert h.support_requests_days == 3 * 365 and retention.support_requests == dt.timedelta(days=3 * 365)


def test_a_security_history_retention_of_a_year_is_accepted(tmp_path):
    h = load_settings(base_env(DOSTUP_HOUSEKEEPING__SECURITY_EVENTS_DAYS="365"), workdir=tmp_path).housekeeping
    assert h.security_events_days == 365
