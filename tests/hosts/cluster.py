"""A Dostup deployment across separate hosts (SPEC §7): its own PostgreSQL and Redis, two web nodes,
one ``dostup worker`` and an HTTP SMS gateway, each in its own network namespace, and a load host.

    host     address          runs
    pg       10.231.n.10      PostgreSQL (initdb in a temporary directory, started with pg_ctl)
    redis    10.231.n.11      redis-server (no persistence)
    a, b     10.231.n.21, 22  ``dostup serve`` (in-process courier off)
    worker   10.231.n.31      ``dostup worker``
    sms      10.231.n.41      tests/hosts/sms_gateway.py (the ``http`` SMS channel posts here)
    load     10.231.n.51      the load generator: a thread of the test process; it also owns
                              10.231.n.100-249, one client IP each, so per-IP limits are per client

Nothing listens on, or routes to, the machine's own network.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from dostup.persistence.migrate import migrate
from tests.flows.helpers import PASSWORD
from tests.hosts.lab import Lab, LoadThread, pg_bin
from tests.support import TEST_SECRET, solve_captcha

ROOT = Path(__file__).resolve().parents[2]
HTTP_PORT = 8000
SMS_PORT = 8080
LAST = {"pg": 10, "redis": 11, "a": 21, "b": 22, "worker": 31, "sms": 41, "load": 51}
CLIENT_IPS = range(100, 250)
READY_SECONDS = 60.0
CODE = re.compile(r"\b(\d{6})\b")


@dataclass
class Node:
    name: str
    address: str
    proc: Any = None

    @property
    def url(self) -> str:
        return f"http://{self.address}:{HTTP_PORT}"

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


class Cluster:
    def __init__(self) -> None:
        self.lab = Lab()
        self.workdir = Path(tempfile.mkdtemp(prefix=f"{self.lab.tag}-"))
        self.pg_home = self.workdir / "pg"
        self.load: LoadThread | None = None
        self.nodes = {name: Node(name, self.lab.address(LAST[name])) for name in ("a", "b")}
        self.worker: Any = None
        self._next_ip = iter(CLIENT_IPS)
        self._next_phone = 0

    # -- addresses -------------------------------------------------------------------------------

    @property
    def a(self) -> Node:
        return self.nodes["a"]

    @property
    def b(self) -> Node:
        return self.nodes["b"]

    @property
    def pg_dsn(self) -> str:
        return f"postgresql://postgres@{self.lab.address(LAST['pg'])}:5432/dostup"

    @property
    def sms_url(self) -> str:
        return f"http://{self.lab.address(LAST['sms'])}:{SMS_PORT}"

    def client_ip(self) -> str:
        """A client address of the load host not used before in this run (per-IP limits start at zero)."""
        return self.lab.address(next(self._next_ip))

    def phone(self) -> str:
        self._next_phone += 1
        return f"+7912{os.getpid() % 1000:03d}{self._next_phone:04d}"

    # -- start and stop --------------------------------------------------------------------------

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.upper().startswith("DOSTUP_")}
        env.update(
            {
                "PYTHONPATH": str(ROOT),
                "PYTHONDONTWRITEBYTECODE": "1",
                "DOSTUP_DATABASE_URL": self.pg_dsn.replace("postgresql://", "postgresql+asyncpg://"),
                "DOSTUP_REDIS_URL": f"redis://{self.lab.address(LAST['redis'])}:6379/0",
                "DOSTUP_SECRET_KEY": TEST_SECRET,
                "DOSTUP_PUBLIC_URL": "http://cabinet.dostup.test",  # one public URL: the nodes sit behind a balancer
                "DOSTUP_COURIER__WORKER_IN_PROCESS": "false",
                "DOSTUP_COURIER__SMS_PROVIDER": "http",
                "DOSTUP_SMS__URL": f"{self.sms_url}/send",
                "DOSTUP_COURIER__POLL_INTERVAL_SECONDS": "0.1",
                "DOSTUP_COURIER__GATHER_SECONDS": "0",
                "DOSTUP_CAPTCHA__MAX_NUMBER": "300",
                # The load test registers from a few client addresses many times a minute; the per-IP
                # sign-in limit and every per-destination limit keep their SECURITY.md values (tested).
                "DOSTUP_LIMITS__REGISTRATION_PER_IP_PER_HOUR": "100000",
                "DOSTUP_CODES__PER_IP_PER_HOUR": "100000",
                # Cheap hashes: the harness is about hosts, not argon2 (bench/ measures it at full cost).
                "DOSTUP_PASSWORDS__ARGON2_MEMORY_KIB": "1024",
                "DOSTUP_PASSWORDS__ARGON2_TIME_COST": "1",
                "DOSTUP_PASSWORDS__HASH_THREADS": "1",
            }
        )
        env.update(extra)
        return env

    def start(self) -> Cluster:
        lab = self.lab.open()
        for name, last in LAST.items():
            lab.add_host(name, last, extra=CLIENT_IPS if name == "load" else range(0))
        self.load = LoadThread(lab.hosts["load"].ns)
        self._start_pg()
        lab.spawn(
            "redis",
            [
                "redis-server",
                "--bind",
                lab.address(LAST["redis"]),
                "--port",
                "6379",
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "no",
            ],
            env=dict(os.environ),
            log=self.workdir / "redis.log",
            cwd=self.workdir,
        )
        lab.spawn(
            "sms",
            [sys.executable, str(ROOT / "tests/hosts/sms_gateway.py"), lab.address(LAST["sms"]), str(SMS_PORT)],
            env=dict(os.environ),
            log=self.workdir / "sms.log",
            cwd=self.workdir,
        )
        # Migrated once, before the nodes race to do it; from the load host, in this process (one start-up less).
        self.run(migrate(self.env()["DOSTUP_DATABASE_URL"]))
        for name in self.nodes:
            self.start_node(name, wait=False)
        self.worker = lab.spawn(
            "worker",
            [sys.executable, "-m", "dostup.cli", "worker"],
            env=self.env(),
            log=self.workdir / "worker.log",
            cwd=self.workdir,
        )
        self.wait_ready(*self.nodes.values())
        return self

    def _start_pg(self) -> None:
        bin_dir = pg_bin()
        assert bin_dir is not None
        self.pg_home.mkdir()
        shutil.chown(self.pg_home, "postgres", "postgres")
        self.workdir.chmod(0o755)
        data = self.pg_home / "data"
        self.lab.run(
            "pg",
            [
                str(bin_dir / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
            user="postgres",
        )
        with (data / "postgresql.conf").open("a") as conf:
            conf.write(
                f"listen_addresses = '{self.lab.address(LAST['pg'])}'\nport = 5432\n"
                f"unix_socket_directories = '{self.pg_home}'\nfsync = off\nfull_page_writes = off\n"
                "max_connections = 100\n"
            )
        with (data / "pg_hba.conf").open("a") as hba:
            hba.write("host all all 10.231.0.0/16 trust\n")
        self.pg_ctl("start", "-w", "-t", "30", "-l", str(self.pg_home / "log"))
        self.lab.run(
            "pg", [str(bin_dir / "createdb"), "-h", str(self.pg_home), "-p", "5432", "dostup"], user="postgres"
        )

    def pg_ctl(self, *args: str) -> None:
        bin_dir = pg_bin()
        assert bin_dir is not None
        self.lab.run("pg", [str(bin_dir / "pg_ctl"), "-D", str(self.pg_home / "data"), *args], user="postgres")

    def start_node(self, name: str, *, wait: bool = True) -> Node:
        node = self.nodes[name]
        node.proc = self.lab.spawn(
            name,
            [sys.executable, "-m", "dostup.cli", "serve", "--host", node.address, "--port", str(HTTP_PORT)],
            env=self.env(),
            log=self.workdir / f"node-{name}.log",
            cwd=self.workdir,
        )
        if wait:
            self.wait_ready(node)
        return node

    def ensure_nodes(self) -> None:
        """Both web nodes up (a test that killed one may have run before)."""
        down = [n for n in self.nodes.values() if not n.alive]
        for node in down:
            self.start_node(node.name, wait=False)
        if down:
            self.wait_ready(*down)

    def wait_ready(self, *nodes: Node) -> None:
        async def ready() -> None:
            deadline = time.monotonic() + READY_SECONDS
            waiting = list(nodes)
            async with httpx.AsyncClient(timeout=2.0) as client:
                while waiting:
                    for node in list(waiting):
                        if not node.alive:
                            raise AssertionError(f"node {node.name} exited:\n{self.log(f'node-{node.name}')}")
                        try:
                            if (await client.get(node.url + "/login")).status_code == 200:
                                waiting.remove(node)
                        except httpx.TransportError:
                            pass
                    if waiting and time.monotonic() > deadline:
                        raise AssertionError(
                            f"node {waiting[0].name} not ready:\n{self.log(f'node-{waiting[0].name}')}"
                        )
                    if waiting:
                        await asyncio.sleep(0.1)

        self.run(ready())

    def log(self, name: str) -> str:
        path = self.workdir / f"{name}.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def run(self, coro: Any, timeout: float = 120) -> Any:
        """Run a coroutine on the load host."""
        assert self.load is not None
        return self.load.run(coro, timeout)

    def close(self) -> None:
        try:
            if self.load is not None:
                self.load.close()
            if (self.pg_home / "data" / "postmaster.pid").exists():
                try:
                    self.pg_ctl("stop", "-m", "immediate", "-w", "-t", "10")
                except Exception:  # noqa: BLE001, S110 - the namespace sweep below ends it anyway
                    pass
        finally:
            self.lab.close()
            if os.environ.get("DOSTUP_TEST_HOSTS_KEEP"):
                print(f"kept {self.workdir}")
            else:
                shutil.rmtree(self.workdir, ignore_errors=True)


def cluster_session() -> Iterator[Cluster]:
    cluster = Cluster()
    try:
        yield cluster.start()
    finally:
        cluster.close()


# -- what the load host does ---------------------------------------------------------------------


def client(ip: str, timeout: float = 10.0) -> httpx.AsyncClient:
    """An HTTP client whose connections come from ``ip`` (one of the load host's addresses)."""
    return httpx.AsyncClient(transport=httpx.AsyncHTTPTransport(local_address=ip), timeout=timeout)


async def captcha(http: httpx.AsyncClient, node: Node, action: str) -> str:
    resp = await http.get(node.url + "/api/v1/captcha/challenge", params={"action": action})
    assert resp.status_code == 200, resp.text
    return solve_captcha(resp.json())


async def start_registration(
    http: httpx.AsyncClient, node: Node, phone: str, captcha_token: str | None = None
) -> httpx.Response:
    """The registration's first step (a solved captcha fetched from ``node`` unless one is given)."""
    return await http.post(
        node.url + "/api/v1/registration",
        json={
            "phone": phone,
            "country": "RU",
            "password": PASSWORD,
            "password_repeat": PASSWORD,
            "consent_personal_data": True,
            "captcha": captcha_token or await captcha(http, node, "register"),
        },
    )


async def confirm(http: httpx.AsyncClient, node: Node, flow_id: str, code: str) -> httpx.Response:
    return await http.post(node.url + f"/api/v1/registration/{flow_id}/code", json={"code": code})


async def sign_in(
    http: httpx.AsyncClient, node: Node, phone: str, password: str = PASSWORD, **extra: str
) -> httpx.Response:
    return await http.post(
        node.url + "/api/v1/login", json={"method": "phone", "phone": phone, "password": password, **extra}
    )


async def whoami(http: httpx.AsyncClient, node: Node, token: str) -> httpx.Response:
    return await http.get(node.url + "/api/v1/whoami", headers={"Authorization": f"Bearer {token}"})


async def messages(cluster: Cluster) -> list[dict[str, Any]]:
    """Every SMS the gateway was given, in order (duplicates included)."""
    async with httpx.AsyncClient(timeout=5.0) as http:
        resp = await http.get(cluster.sms_url + "/messages")
    resp.raise_for_status()
    return list(resp.json())


async def sms_code(cluster: Cluster, phone: str, seconds: float = 10.0) -> str:
    """The code in the latest SMS the gateway received for ``phone`` (waiting for the worker to send it)."""
    deadline = time.monotonic() + seconds
    while True:
        for msg in reversed(await messages(cluster)):
            m = CODE.search(str(msg["text"]))
            if msg["to"] == phone and m:
                return m.group(1)
        if time.monotonic() > deadline:
            raise AssertionError(f"no SMS for {phone} within {seconds} s; worker log: {cluster.log('worker')}")
        await asyncio.sleep(0.05)


async def register(cluster: Cluster, http: httpx.AsyncClient, start_on: Node, confirm_on: Node, phone: str) -> str:
    """A whole registration, its two steps on the nodes given; returns the bearer token."""
    started = await start_registration(http, start_on, phone)
    assert started.status_code == 201, started.text
    done = await confirm(http, confirm_on, started.json()["flow_id"], await sms_code(cluster, phone))
    assert done.status_code == 201, done.text
    return str(done.json()["session"]["token"])


async def sql(cluster: Cluster, query: str, *args: Any) -> list[asyncpg.Record]:
    """A read of the system of record, from the load host."""
    conn = await asyncpg.connect(cluster.pg_dsn, timeout=5)
    try:
        return list(await conn.fetch(query, *args))
    finally:
        await conn.close()
