"""The limiter on a Redis Cluster (issue 13 §4): three masters, no replicas, started here with
``redis-server --cluster-enabled yes`` on spare ports and joined with ``redis-cli --cluster
create``.  The limiter's scripts count several keys at once (an IP and an identifier); a cluster
refuses a script whose keys hash to different slots, so every key carries the instance's hash
tag (the prefix, ``{dostup}:`` by default).  Dostup talks to it through redis-py's RedisCluster (``DOSTUP_REDIS_CLUSTER``).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dostup.guards.store import RedisCounterStore
from tests.flows.helpers import phone_e164, registration_fields
from tests.resilience.conftest import asgi_client, start_services
from tests.resilience.support import OwnRedis, free_port, wait_for
from tests.support import ApiSurface, UiSurface

pytestmark = pytest.mark.skipif(shutil.which("redis-cli") is None, reason="needs redis-server and redis-cli")


def _cluster_port() -> int:
    """A spare port whose cluster bus port (+10000) is spare too (so at most 55535)."""
    while True:
        port = free_port()
        if port <= 55535:
            try:
                with socket.create_server(("127.0.0.1", port + 10000)):
                    return port
            except OSError:
                continue


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    root = Path(tempfile.mkdtemp(prefix="dostup-cluster-"))
    nodes: list[OwnRedis] = []
    try:
        for _ in range(3):
            port = _cluster_port()
            workdir = root / str(port)
            workdir.mkdir()
            nodes.append(OwnRedis("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                                  "--cluster-node-timeout", "2000", port=port, workdir=workdir))
        subprocess.run(["redis-cli", "--cluster", "create", *[f"127.0.0.1:{n.port}" for n in nodes],
                        "--cluster-replicas", "0", "--cluster-yes"], check=True, capture_output=True, timeout=60)

        def ok() -> bool:
            out = subprocess.run(["redis-cli", "-p", str(nodes[0].port), "cluster", "info"], capture_output=True,
                                 text=True, timeout=10).stdout
            return "cluster_state:ok" in out

        wait_for(ok, 30, step=0.2)
        yield f"redis://127.0.0.1:{nodes[0].port}"
    finally:
        for node in nodes:
            node.stop()
        shutil.rmtree(root, ignore_errors=True)


async def test_the_limiter_scripts_run_on_a_cluster(cluster: str) -> None:
    store = RedisCounterStore(cluster, "{dostup-cluster}:", cluster=True)
    try:
        hits = [("signin-ip:10.0.0.1", 10, 60), ("signin-id:phone:+79120001306", 5, 60), ("send-day:x", 3, 60)]
        counted, peeked = await store.hit_many(hits, ["send-cooldown:sms:+79120001306"])
        assert [s.count for s in counted] == [1, 1, 1] and peeked[0].count == 0
        assert await store.incr("send-day:x", 60) == 2
        assert await store.get("send-day:x") == 2 and 0 < await store.ttl("send-day:x") <= 60
        await store.give_back(["send-day:x", "signin-ip:10.0.0.1"])
        assert (await store.get("send-day:x"), await store.get("signin-ip:10.0.0.1")) == (1, 0)
        assert await store.add_once("replay:1", 60) and not await store.add_once("replay:1", 60)
        await store.put("lock:a", 3, 60)
        await store.delete("lock:a", "replay:1", "send-day:x")
        assert (await store.get("lock:a"), await store.get("send-day:x")) == (0, 0)
        # Why the tag: the same keys without it span slots, and the cluster refuses the script.
        from redis.exceptions import RedisClusterException, ResponseError

        with pytest.raises((ResponseError, RedisClusterException)):
            await store._redis.eval("return redis.call('INCR', KEYS[1]) + redis.call('INCR', KEYS[2])",  # noqa: SLF001
                                    2, "signin-ip:10.0.0.1", "signin-id:phone:+79120001306")
    finally:
        await store.close()


@pytest.mark.parametrize("kind", ["api", "ui"])
async def test_the_code_cool_down_holds_on_a_cluster(cluster: str, kind: str, tmp_path: Path,
                                                     sqlite_template: Any, stopper: list[Any]) -> None:
    shutil.copyfile(sqlite_template, tmp_path / "dostup.db")
    svc = await start_services(DOSTUP_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/dostup.db",
                               DOSTUP_REDIS_URL=cluster, DOSTUP_REDIS_CLUSTER="true",
                               DOSTUP_REDIS_PREFIX=f"{{dostup-cluster-{kind}}}:")
    client = asgi_client(svc)
    stopper += [svc, client]
    surface = ApiSurface(client) if kind == "api" else UiSurface(client)
    phone = phone_e164(1307 if kind == "api" else 1308)
    first = await surface.register(**await registration_fields(surface, phone))
    assert first.ok, (first.status, first.code, first.message)
    second = await surface.register(**await registration_fields(surface, phone))
    assert second.status == 429, (second.status, second.message)
    assert int(second.headers["retry-after"]) > 0
