"""Alembic's environment: the models' metadata (every ``models*`` module) and the connection to migrate.

``dostup migrate`` and start-up pass an open connection in ``config.attributes["connection"]``; run by
the ``alembic`` command line instead (``alembic -c dostup/persistence/alembic.ini history``) it connects
to ``sqlalchemy.url`` or, when that is empty, to ``DOSTUP_DATABASE_URL``.  New migrations are written
with ``dostup migrate --new "message"`` (README «Creating a migration»).
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from dostup.persistence.migrate import compare_options, model_metadata

target_metadata = model_metadata()


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata,
                      **compare_options(connection.dialect.name))
    with context.begin_transaction():
        context.run_migrations()


def _url() -> str:
    url = context.config.get_main_option("sqlalchemy.url")
    if url:
        return url
    from dostup.settings import load_settings

    return load_settings().database_url


async def _online(url: str) -> None:
    from dostup.persistence.db import make_migration_engine

    engine = make_migration_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_run)
    finally:
        await engine.dispose()


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
elif context.is_offline_mode():
    url = _url()
    context.configure(url=url, target_metadata=target_metadata, literal_binds=True,
                      **compare_options(url.split("+")[0].split(":")[0]))
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_online(_url()))
