"""Run the Alembic history programmatically (``dostup migrate`` and start-up in development).

The models (``dostup/persistence/models*.py``) and the history (``migrations/versions``) must describe the
same schema: :func:`schema_drift` compares them (``tests/unit/test_migrations_match_models.py`` runs it on
SQLite and PostgreSQL), and :func:`new_revision` writes the next migration from the difference
(``dostup migrate --new "what changed"``, see README «Creating a migration»).
"""

from __future__ import annotations

import asyncio
import importlib
import pkgutil
import tempfile
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData
from sqlalchemy.engine import Connection

from dostup.persistence.db import make_migration_engine

_HERE = Path(__file__).resolve().parent
_PACKAGE = __name__.rsplit(".", 1)[0]


def model_metadata() -> MetaData:
    """Every table of every ``dostup.persistence.models*`` module: a new module registers itself by
    its name, so neither the migration environment nor the drift check can forget one."""
    for info in pkgutil.iter_modules([str(_HERE)]):
        if info.name == "models" or info.name.startswith("models_"):
            importlib.import_module(f"{_PACKAGE}.{info.name}")
    from dostup.persistence.models import Base

    return Base.metadata


def compare_options(dialect: str) -> dict[str, Any]:
    """The options the history is written and checked with (batch operations on SQLite)."""
    return {"render_as_batch": dialect == "sqlite", "compare_type": True}


def alembic_config(url: str, script_location: Path = _HERE / "migrations") -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(script_location))
    cfg.set_main_option("sqlalchemy.url", url)
    return cfg


async def _with_connection(url: str, work: Any, *, lock: bool = True) -> Any:
    engine = make_migration_engine(url)
    try:
        async with engine.begin() as conn:
            if lock and not url.startswith("sqlite"):
                # One migrator at a time when several processes start together.
                await conn.exec_driver_sql("SELECT pg_advisory_xact_lock(7715001)")
            return await conn.run_sync(work)
    finally:
        await engine.dispose()


async def migrate(url: str, revision: str = "head") -> None:
    cfg = alembic_config(url)

    def _upgrade(conn: Connection) -> None:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)

    await _with_connection(url, _upgrade)


def migrate_sync(url: str) -> None:
    asyncio.run(migrate(url))


async def schema_drift(url: str) -> list[Any]:
    """What the models have that the database at ``url`` lacks, or the reverse (Alembic's autogenerate
    diff); empty when they agree.  Run it on a database just migrated to ``head``."""
    metadata = model_metadata()

    def _compare(conn: Connection) -> list[Any]:
        ctx = MigrationContext.configure(conn, opts=compare_options(conn.dialect.name))
        return list(compare_metadata(ctx, metadata))

    return list(await _with_connection(url, _compare, lock=False))


def _next_revision_id(cfg: Config) -> str:
    ids = [int(s.revision) for s in ScriptDirectory.from_config(cfg).walk_revisions() if s.revision.isdigit()]
    return f"{max(ids, default=0) + 1:04d}"


def new_revision(message: str, url: str | None = None, script_location: Path = _HERE / "migrations") -> Path:
    """Write ``migrations/versions/NNNN_<message>.py`` from the models' difference to the history's head.

    Without ``url`` a scratch SQLite database is migrated to ``head`` and compared (batch operations,
    which PostgreSQL runs too); the file is a draft to read, complete (data moves, server defaults)
    and test on both backends before committing.
    """
    with tempfile.TemporaryDirectory(prefix="dostup-revision-") as scratch:
        url = url or f"sqlite+aiosqlite:///{scratch}/head.db"
        cfg = alembic_config(url, script_location)

        def _upgrade(conn: Connection) -> None:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")

        asyncio.run(_with_connection(url, _upgrade))
        rev_id = _next_revision_id(cfg)

        def _revision(conn: Connection) -> Any:
            cfg.attributes["connection"] = conn
            return command.revision(cfg, message=message, autogenerate=True, rev_id=rev_id)

        script = asyncio.run(_with_connection(url, _revision, lock=False))
    scripts = script if isinstance(script, list) else [script]
    return Path(scripts[0].path)
