"""Fixtures of the resilience tests: a PostgreSQL cluster of their own, migrated, and Dostup on it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from dostup.persistence.migrate import migrate
from dostup.services import Services, build_services
from dostup.web.app import create_app
from tests.resilience.support import FreezingProxy, OwnPostgres, OwnRedis
from tests.support import make_settings


@pytest.fixture(scope="module")
def own_pg() -> Iterator[OwnPostgres]:
    pg = OwnPostgres()
    try:
        asyncio.run(migrate(pg.url))
        yield pg
    finally:
        pg.close()


@pytest.fixture
def own_redis() -> Iterator[OwnRedis]:
    redis = OwnRedis()
    try:
        yield redis
    finally:
        redis.close()


@pytest.fixture
def proxy(own_pg: OwnPostgres) -> Iterator[FreezingProxy]:
    p = FreezingProxy(own_pg.port)
    try:
        yield p
    finally:
        p.close()


async def start_services(**env: str) -> Services:
    svc = build_services(make_settings(**env))
    await svc.start(run_migrations=False)
    return svc


def asgi_client(svc: Services, ip: str = "127.0.0.1") -> httpx.AsyncClient:
    app = create_app(services=svc, run_migrations=False)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(ip, 51000), raise_app_exceptions=False), base_url="http://testserver")


@pytest.fixture
async def stopper() -> AsyncIterator[list[Any]]:
    """Services and clients to close at the end of the test, whatever happened."""
    things: list[Any] = []
    yield things
    for thing in reversed(things):
        try:
            if isinstance(thing, httpx.AsyncClient):
                await thing.aclose()
            else:
                await asyncio.wait_for(thing.stop(), 30)
        except Exception:  # noqa: BLE001, S110 - closing anyway
            pass
