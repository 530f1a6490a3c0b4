"""The Redis limiter on a Redis started in cluster mode (issue 13 §4; docs/scaling.md).

Redis Cluster runs a script only when every key it touches hashes to one slot.  The limiter counts
an IP's and an identifier's limits in one script, so its default prefix ``{dostup}:`` is a hash tag;
a prefix without one is refused by the cluster (CROSSSLOT), and the limiter fails closed.  The
cluster here is one node holding all 16384 slots: enough for Redis to enforce slot rules.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dostup.core.errors import ServiceUnavailable
from dostup.guards.store import RedisCounterStore
from dostup.settings import Settings

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not installed")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(workdir: Path) -> tuple[subprocess.Popen[bytes], int] | None:
    """A one-node cluster holding every slot, or None if its port was taken meanwhile (it exited)."""
    import redis

    port = _free_port()
    with (workdir / f"log-{port}").open("wb") as log:
        proc = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--cluster-enabled", "yes",
             "--cluster-config-file", str(workdir / f"nodes-{port}.conf"), "--save", "", "--appendonly", "no"],
            cwd=workdir, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    r = redis.Redis(host="127.0.0.1", port=port)
    deadline = time.monotonic() + 60  # a loaded machine starts processes slowly
    try:
        while True:
            try:
                r.execute_command("CLUSTER", "ADDSLOTSRANGE", 0, 16383)
                break
            except (redis.ConnectionError, OSError):  # not listening yet
                if proc.poll() is not None:
                    return None
                assert time.monotonic() < deadline, (workdir / f"log-{port}").read_text()
                time.sleep(0.05)
        while b"cluster_state:ok" not in r.execute_command("CLUSTER", "INFO"):
            assert time.monotonic() < deadline, (workdir / f"log-{port}").read_text()
            time.sleep(0.05)
    except BaseException:
        proc.terminate()
        proc.wait(10)
        raise
    finally:
        r.close()
    return proc, port


@pytest.fixture(scope="module")
def cluster_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    workdir = tmp_path_factory.mktemp("redis-cluster")
    for _ in range(3):
        started = _start(workdir)
        if started is not None:
            break
    else:
        pytest.fail("redis-server in cluster mode did not start (three ports tried)")
    proc, port = started
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(10)


HITS = [("signin:ip:203.0.113.7", 10, 60), ("signin:phone:+79120000001", 5, 3600)]


def test_the_default_prefix_is_a_hash_tag_and_the_limiter_runs_on_a_cluster(cluster_url: str) -> None:
    prefix = Settings().redis_prefix
    assert prefix.startswith("{") and "}" in prefix

    async def run() -> None:
        store = RedisCounterStore(cluster_url, prefix)
        try:
            counted, peeked = await store.hit_many(HITS, ["signin:fail:+79120000001"])
            assert [s.count for s in counted] == [1, 1] and peeked[0].count == 0
            counted, _ = await store.hit_many(HITS)
            assert [s.count for s in counted] == [2, 2]
            assert await store.incr("codes:dest:+79120000001", 60) == 1
            assert await store.add_once("captcha:abc", 60) and not await store.add_once("captcha:abc", 60)
        finally:
            await store.close()

    asyncio.run(run())


def test_a_prefix_without_a_hash_tag_fails_closed_on_a_cluster(cluster_url: str) -> None:
    async def run() -> None:
        store = RedisCounterStore(cluster_url, "dostup:")
        try:
            with pytest.raises(ServiceUnavailable):
                await store.hit_many(HITS)
        finally:
            await store.close()

    asyncio.run(run())
