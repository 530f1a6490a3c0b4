"""Run the Alembic history programmatically (``dostup migrate`` and start-up in development)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection

from dostup.persistence.db import make_migration_engine

_HERE = Path(__file__).resolve().parent


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(_HERE / "migrations"))
    cfg.set_main_option("sqlalchemy.url", url)
    return cfg


async def migrate(url: str, revision: str = "head") -> None:
    engine = make_migration_engine(url)
    cfg = alembic_config(url)

    def _upgrade(conn: Connection) -> None:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)

    try:
        async with engine.begin() as conn:
            if not url.startswith("sqlite"):
                # One migrator at a time when several processes start together.
                await conn.exec_driver_sql("SELECT pg_advisory_xact_lock(7715001)")
            await conn.run_sync(_upgrade)
    finally:
        await engine.dispose()


def migrate_sync(url: str) -> None:
    asyncio.run(migrate(url))
