"""Abuse limits hold across real server processes and fail closed without their store (SECURITY.md).

Two ``dostup serve`` processes share one PostgreSQL database and one Redis; a third is pointed at
a Redis port where nothing listens.  Each request alternates between processes, so a limit that
lived in one process's memory would let twice as many through.  Needs PostgreSQL and Redis: it is
skipped when ``DOSTUP_TEST_BACKENDS`` leaves out ``postgres``.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from dostup.persistence.migrate import migrate
from tests.flows.helpers import PASSWORD, phone_e164
from tests.support import PG_ADMIN_URL, REDIS_URL, TEST_SECRET, solve_captcha

pytestmark = pytest.mark.skipif(
    "postgres" not in os.environ.get("DOSTUP_TEST_BACKENDS", "sqlite,postgres").split(","),
    reason="needs PostgreSQL and Redis (DOSTUP_TEST_BACKENDS without postgres)",
)

READY_SECONDS = 60.0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _dostup_command() -> list[str]:
    script = Path(sys.executable).with_name("dostup")
    return [str(script)] if script.exists() else [sys.executable, "-m", "dostup.cli"]


@dataclass
class Server:
    port: int
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _start(port: int, env: dict[str, str], workdir: Path, name: str) -> Server:
    log = workdir / f"{name}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*_dostup_command(), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env, cwd=workdir, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
    return Server(port, proc, log)


def _wait_ready(servers: list[Server]) -> None:
    deadline = time.monotonic() + READY_SECONDS
    waiting = list(servers)
    while waiting:
        for server in list(waiting):
            if server.proc.poll() is not None:
                raise AssertionError(f"server on {server.port} exited:\n{server.log.read_text()[-3000:]}")
            try:
                if httpx.get(server.url + "/login", timeout=1.0).status_code == 200:
                    waiting.remove(server)
            except httpx.TransportError:
                pass
        if waiting and time.monotonic() > deadline:
            raise AssertionError(f"server on {waiting[0].port} not ready:\n{waiting[0].log.read_text()[-3000:]}")
        if waiting:
            time.sleep(0.2)


def _stop(servers: list[Server]) -> None:
    """SIGTERM to each server's own PID (all at once, so their shutdowns overlap), then reap them."""
    for server in servers:
        if server.proc.poll() is None:
            server.proc.terminate()
    for server in servers:
        try:
            server.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.proc.kill()
            server.proc.wait(timeout=5)


async def _create_db(admin_url: str, name: str) -> None:
    engine = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    async with engine.connect() as conn:
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    await engine.dispose()


async def _drop_db(admin_url: str, name: str) -> None:
    engine = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    async with engine.connect() as conn:
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    await engine.dispose()


async def _drop_keys(prefix: str) -> None:
    import redis.asyncio as aioredis

    r = aioredis.Redis.from_url(REDIS_URL)
    try:
        keys = [k async for k in r.scan_iter(match=prefix + "*", count=500)]
        if keys:
            await r.delete(*keys)
    finally:
        await r.aclose()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Server, Server]]:
    """Two processes sharing PostgreSQL + Redis, and one whose Redis is unreachable."""
    workdir = tmp_path_factory.mktemp("multiprocess")
    run = f"{os.getpid()}_{uuid.uuid4().hex[:8]}"
    name = f"dostup_mp_{run}"
    admin_url = PG_ADMIN_URL.replace("postgresql://", "postgresql+asyncpg://")
    db_url = admin_url.rsplit("/", 1)[0] + f"/{name}"
    prefix = f"dostup-mp-{run}:"
    asyncio.run(_create_db(admin_url, name))
    servers: list[Server] = []
    try:
        asyncio.run(migrate(db_url))  # once, before two processes would race to do it
        env = {k: v for k, v in os.environ.items() if not k.upper().startswith("DOSTUP_")}
        env.update({
            "DOSTUP_DATABASE_URL": db_url,
            "DOSTUP_REDIS_URL": REDIS_URL,
            "DOSTUP_REDIS_PREFIX": prefix,
            "DOSTUP_SECRET_KEY": TEST_SECRET,
            "DOSTUP_CAPTCHA__MAX_NUMBER": "300",
            "PYTHONDONTWRITEBYTECODE": "1",
        })
        dead_redis = f"redis://127.0.0.1:{_free_port()}"  # nothing listens there
        servers.append(_start(_free_port(), env, workdir, "a"))
        servers.append(_start(_free_port(), env, workdir, "b"))
        servers.append(_start(_free_port(), {**env, "DOSTUP_REDIS_URL": dead_redis}, workdir, "no-redis"))
        _wait_ready(servers)
        yield servers[0], servers[1], servers[2]
    finally:
        _stop(servers)
        asyncio.run(_drop_keys(prefix))
        asyncio.run(_drop_db(admin_url, name))


def _captcha(client: httpx.Client, base: str, action: str) -> str:
    resp = client.get(base + "/api/v1/captcha/challenge", params={"action": action})
    assert resp.status_code == 200, resp.text
    return solve_captcha(resp.json())


def _registration(client: httpx.Client, base: str, phone: str) -> httpx.Response:
    return client.post(base + "/api/v1/registration", json={
        "phone": phone, "country": "RU", "password": PASSWORD, "password_repeat": PASSWORD,
        "consent_personal_data": True, "captcha": _captcha(client, base, "register"),
    })


def test_the_per_ip_sign_in_limit_holds_across_two_processes(cluster):
    a, b, _ = cluster
    with httpx.Client(timeout=10.0) as client:
        statuses = []
        for i in range(11):
            server = (a, b)[i % 2]
            resp = client.post(server.url + "/api/v1/login",
                               json={"method": "phone", "phone": phone_e164(700 + i), "password": "Wrong-password-1"})
            statuses.append(resp.status_code)
    assert statuses[:10] == [401] * 10, statuses
    assert statuses[10] == 429
    assert resp.json()["error"]["code"] == "rate_limited"
    assert 0 < int(resp.headers["retry-after"]) <= 60


def test_the_code_cooldown_for_one_phone_holds_across_two_processes(cluster):
    a, b, _ = cluster
    phone = phone_e164(720)
    with httpx.Client(timeout=10.0) as client:
        first = _registration(client, a.url, phone)
        assert first.status_code == 201, first.text
        second = _registration(client, b.url, phone)
    assert second.status_code == 429, second.text
    assert second.json()["error"]["code"] == "rate_limited"
    assert int(second.headers["retry-after"]) > 0
    # The second process saw the first one's code, not a second one.
    with httpx.Client(timeout=10.0) as client:
        sent = [m for m in client.get(b.url + "/dev/outbox.json").json() if m["to"] == phone]
    assert len(sent) == 1


def test_without_redis_sign_in_and_registration_fail_closed_while_pages_render(cluster):
    a, _, broken = cluster
    with httpx.Client(timeout=10.0) as client:
        login = client.post(broken.url + "/api/v1/login",
                            json={"method": "phone", "phone": phone_e164(730), "password": "Wrong-password-1"})
        assert login.status_code == 503, login.text
        assert login.json()["error"]["code"] == "service_unavailable"
        registration = _registration(client, broken.url, phone_e164(731))
        assert registration.status_code == 503, registration.text
        page_login = client.post(broken.url + "/login", data={"method": "phone", "phone": phone_e164(730),
                                                              "password": "Wrong-password-1",
                                                              "csrf_token": _csrf(client, broken.url)})
        assert page_login.status_code == 503
        for path in ("/", "/login", "/registration"):
            assert client.get(broken.url + path).status_code == 200, path
    # A session opened where Redis works is honoured there too: signed-in pages need no limiter.
    with httpx.Client(timeout=10.0) as client:
        phone = phone_e164(732)
        started = _registration(client, a.url, phone)
        assert started.status_code == 201, started.text
        code = next(m["code"] for m in client.get(a.url + "/dev/outbox.json").json() if m["to"] == phone)
        done = client.post(a.url + f"/api/v1/registration/{started.json()['flow_id']}/code", json={"code": code})
        assert done.status_code == 201, done.text
        token = done.json()["session"]["token"]
        for path in ("/api/v1/whoami", "/api/v1/notifications", "/api/v1/sessions"):
            resp = client.get(broken.url + path, headers={"Authorization": f"Bearer {token}"})
            assert resp.status_code == 200, (path, resp.text)


def _csrf(client: httpx.Client, base: str) -> str:
    import re

    page = client.get(base + "/login")
    m = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert m
    return m.group(1)
