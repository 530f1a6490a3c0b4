"""Fixtures: every flow test runs on SQLite and on PostgreSQL + Redis, through the pages and the API.

Set ``DOSTUP_TEST_BACKENDS=sqlite`` to run only the embedded backend.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from dostup.core.clock import FrozenClock
from dostup.persistence.migrate import migrate
from dostup.services import Services, build_services
from dostup.web.app import create_app
from tests.support import PG_ADMIN_URL, REDIS_URL, ApiSurface, UiSurface, make_settings

BACKENDS = [b for b in os.environ.get("DOSTUP_TEST_BACKENDS", "sqlite,postgres").split(",") if b]
# Every table but Alembic's: each test starts from an empty database, whatever ran before it on this worker.
EVERY_TABLE = ("SELECT string_agg(quote_ident(tablename), ', ') FROM pg_tables "
               "WHERE schemaname = current_schema() AND tablename <> 'alembic_version'")


def _run_id() -> str:
    """Unique per pytest process, so parallel runs on one machine never share data."""
    return f"{os.getpid()}_{os.environ.get('PYTEST_XDIST_WORKER', 'gw0')}"


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A database of our own for this test run, migrated once."""
    name = f"dostup_test_{_run_id()}"
    admin_url = PG_ADMIN_URL.replace("postgresql://", "postgresql+asyncpg://")

    async def create() -> None:
        engine = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
        async with engine.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
        await engine.dispose()

    asyncio.run(create())
    url = admin_url.rsplit("/", 1)[0] + f"/{name}"
    asyncio.run(migrate(url))
    yield url

    async def drop() -> None:
        engine = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
        async with engine.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await engine.dispose()

    asyncio.run(drop())


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "dostup.db"
    asyncio.run(migrate(f"sqlite+aiosqlite:///{path}"))
    conn = sqlite3.connect(path)
    try:  # everything into the main file, so that copying that file copies the schema
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    finally:
        conn.close()
    return path


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    """Settings overrides for one backend, with a clean database and limiter store."""
    if request.param == "sqlite":
        # A copy of a database migrated once per run: Alembic per test was half the suite's time.
        shutil.copyfile(request.getfixturevalue("sqlite_template"), tmp_path / "dostup.db")
        return {"DOSTUP_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/dostup.db"}
    url = request.getfixturevalue("pg_url")

    async def clean() -> None:
        engine = create_async_engine(url)
        async with engine.begin() as conn:
            tables = (await conn.execute(text(EVERY_TABLE))).scalar_one()
            await conn.execute(text(f"TRUNCATE {tables} CASCADE"))
        await engine.dispose()
        import redis.asyncio as aioredis

        r = aioredis.Redis.from_url(REDIS_URL)
        keys = [k async for k in r.scan_iter(match=redis_prefix() + "*", count=500)]
        if keys:
            await r.delete(*keys)
        await r.aclose()

    asyncio.run(clean())
    # The suite runs beside browsers and other workers on two cores: the production waits (2 s connect, 3 s per
    # statement, 1 s per Redis command) would turn a slow moment into a 503 here (a first registration's Redis
    # call did once); tests/resilience checks those waits on its own cluster and Redis.
    return {"DOSTUP_DATABASE_URL": url, "DOSTUP_REDIS_URL": REDIS_URL, "DOSTUP_REDIS_PREFIX": redis_prefix(),
            "DOSTUP_DB__CONNECT_TIMEOUT_SECONDS": "15", "DOSTUP_DB__STATEMENT_TIMEOUT_SECONDS": "30",
            "DOSTUP_DB__POOL_TIMEOUT_SECONDS": "15", "DOSTUP_REDIS_TIMEOUT_SECONDS": "15"}


def redis_prefix() -> str:
    return f"dostup-test-{_run_id()}:"


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def settings_overrides() -> dict[str, str]:
    """Tests override this to change settings (e.g. enumeration-safe mode)."""
    return {}


@pytest.fixture
async def services(backend: dict[str, str], settings_overrides: dict[str, str], clock: FrozenClock) -> AsyncIterator[Services]:
    settings = make_settings(**backend, **settings_overrides)
    svc = build_services(settings, clock=clock)
    await svc.start(run_migrations=False)  # both backends arrive migrated (template copy / pg_url)
    try:
        yield svc
    finally:
        await svc.stop()


@pytest.fixture
def app(services: Services) -> Any:
    return create_app(services=services, run_migrations=False)


@pytest.fixture
async def client_factory(app: Any) -> AsyncIterator[Callable[..., httpx.AsyncClient]]:
    clients: list[httpx.AsyncClient] = []

    def make(ip: str = "127.0.0.1", **kw: Any) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=app, client=(ip, 51000))
        c = httpx.AsyncClient(transport=transport, base_url="http://testserver", **kw)
        clients.append(c)
        return c

    yield make
    for c in clients:
        await c.aclose()


@pytest.fixture
def client(client_factory: Callable[..., httpx.AsyncClient]) -> httpx.AsyncClient:
    return client_factory()


@pytest.fixture(params=["ui", "api"])
def surface(request: pytest.FixtureRequest, client_factory: Callable[..., httpx.AsyncClient]) -> ApiSurface | UiSurface:
    cls = UiSurface if request.param == "ui" else ApiSurface
    return cls(client_factory())


@pytest.fixture
def surface_factory(request: pytest.FixtureRequest, client_factory: Callable[..., httpx.AsyncClient]) -> Callable[..., Any]:
    """More surfaces of the same kind as ``surface`` (new client, new cookies)."""
    kind = request.node.callspec.params.get("surface", "api") if hasattr(request.node, "callspec") else "api"

    def make(ip: str = "127.0.0.1") -> ApiSurface | UiSurface:
        cls = UiSurface if kind == "ui" else ApiSurface
        return cls(client_factory(ip))

    return make
