"""The SQLite session reader's page cache is a setting (docs/scaling.md, bench/RESULTS.md issue 13 §1).

SQLite's own default is 2 MiB per connection; at 10^6 accounts the B-tree leaves that the session
look-up of a few thousand active sessions reads no longer fit in it, and whoami cost 1.14x the
server CPU of 10^3 accounts (the scale bench).  The reader opens its connection with
``DOSTUP_DB__SQLITE_READER_CACHE_MIB`` (64 MiB by default).
"""

from __future__ import annotations

import pytest

from dostup.services import build_services
from dostup.settings import SettingsError, load_settings
from tests.support import base_env


def _cache_kib(services) -> int:
    return -int(services.sessions._reader._conn.execute("PRAGMA cache_size").fetchone()[0])


@pytest.mark.parametrize(("value", "kib"), [(None, 64 * 1024), ("8", 8 * 1024)])
async def test_the_reader_connection_gets_the_configured_page_cache(tmp_path, value, kib):
    extra = {"DOSTUP_DB__SQLITE_READER_CACHE_MIB": value} if value else {}
    settings = load_settings(base_env(DOSTUP_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/r.db", **extra),
                             workdir=tmp_path)
    services = build_services(settings)
    try:
        assert _cache_kib(services) == kib
    finally:
        await services.sessions._reader.close()
        await services.db.dispose()


def test_a_cache_of_nothing_is_refused(tmp_path):
    with pytest.raises(SettingsError) as err:
        load_settings(base_env(DOSTUP_DB__SQLITE_READER_CACHE_MIB="0"), workdir=tmp_path)
    assert "DOSTUP_DB__SQLITE_READER_CACHE_MIB" in str(err.value)
