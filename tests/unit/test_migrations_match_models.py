"""The models and the migration history describe the same schema, on SQLite and on PostgreSQL.

A model changed without a migration (or a migration without its model) leaves a difference that
Alembic's autogenerate comparison reports here; ``dostup migrate --new "…"`` writes the missing one.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Column, String, Table, text
from sqlalchemy.ext.asyncio import create_async_engine

from dostup.persistence.migrate import migrate, model_metadata, new_revision, schema_drift
from tests.conftest import BACKENDS
from tests.support import PG_ADMIN_URL

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(params=BACKENDS)
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of its own, on each backend."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path}/fresh.db"
        return
    name = f"dostup_drift_{os.getpid()}_{os.environ.get('PYTEST_XDIST_WORKER', 'gw0')}"
    admin = PG_ADMIN_URL.replace("postgresql://", "postgresql+asyncpg://")

    async def admin_sql(sql: str) -> None:
        engine = create_async_engine(admin, isolation_level="AUTOCOMMIT")
        async with engine.connect() as conn:
            await conn.execute(text(sql))
        await engine.dispose()

    asyncio.run(admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    asyncio.run(admin_sql(f'CREATE DATABASE "{name}"'))
    try:
        yield admin.rsplit("/", 1)[0] + f"/{name}"
    finally:
        asyncio.run(admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def test_a_freshly_migrated_database_matches_the_models(fresh_url):
    await migrate(fresh_url)
    assert await schema_drift(fresh_url) == []


async def test_a_model_change_without_a_migration_is_reported(fresh_url):
    await migrate(fresh_url)
    metadata = model_metadata()
    extra = Table("drift_probe", metadata, Column("id", String(8), primary_key=True))
    try:
        drift = await schema_drift(fresh_url)
    finally:
        metadata.remove(extra)
    assert [d[0] for d in drift] == ["add_table"] and drift[0][1].name == "drift_probe"


def test_every_models_module_is_in_the_metadata_without_being_imported_by_hand():
    tables = set(model_metadata().tables)
    assert {"accounts", "companies", "contract_links", "contract_registry"} <= tables
    for path in (ROOT / "dostup" / "persistence").glob("models*.py"):
        assert f"dostup.persistence.{path.stem}" in sys.modules


def test_a_new_migration_is_written_from_the_models_with_the_next_number(tmp_path):
    """``dostup migrate --new`` calls this; run on a copy of the history so no other test sees the draft."""
    history = tmp_path / "migrations"
    shutil.copytree(ROOT / "dostup" / "persistence" / "migrations", history,
                    ignore=shutil.ignore_patterns("__pycache__"))
    metadata = model_metadata()
    extra = Table("drift_probe", metadata, Column("id", String(8), primary_key=True))
    try:
        path = new_revision("add drift probe", script_location=history)
    finally:
        metadata.remove(extra)
    latest = max(p.name[:4] for p in (ROOT / "dostup" / "persistence" / "migrations" / "versions").glob("0*.py"))
    assert path.parent == history / "versions"
    assert path.name == f"{int(latest) + 1:04d}_add_drift_probe.py"
    body = path.read_text()
    assert f"down_revision = '{latest}'" in body and "op.create_table('drift_probe'" in body


def test_the_command_line_offers_migrate_new():
    done = subprocess.run([sys.executable, "-m", "dostup.cli", "migrate", "--help"], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=60)
    assert done.returncode == 0 and "--new" in done.stdout
