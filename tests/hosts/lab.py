"""Separate hosts on one machine: network namespaces joined by a bridge, each running one part.

Every host is a network namespace ``dostup-t-<pid>-<name>`` with one interface ``eth0`` and one
address in ``10.231.<n>.0/24``; the other end of its veth pair is a port of the bridge ``br0`` in
a switch namespace ``dostup-t-<pid>-sw``.  Nothing is added to the machine's own namespace: no
interface, no address, no route, so the test network cannot touch the real one, and deleting the
namespaces removes every veth pair with them.  Cutting a host off the network (``cut``) puts its
bridge port down: its packets are dropped without an answer, as in a network partition.

Processes run inside a host through ``ip netns exec`` (which execs the command, so the PID we hold
is the server's own).  The load generator is a thread of the test process that has moved itself
into the ``load`` namespace (``setns`` acts on the calling thread only): every socket it opens —
HTTP to the nodes, the SQL look-ups the checks make — comes from that host's addresses.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Coroutine
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

PREFIX = "dostup-t-"
CLONE_NEWNET = 0x40000000
_STALE = re.compile(rf"^{re.escape(PREFIX)}(\d+)-")


def _ip(*args: str) -> str:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


def _ip_batch(ns: str, lines: list[str]) -> None:
    """Several ``ip`` commands in one namespace, one process."""
    done = subprocess.run(
        ["ip", "-n", ns, "-batch", "-"], input="\n".join(lines) + "\n", capture_output=True, text=True, timeout=60
    )
    if done.returncode != 0:
        raise RuntimeError(f"ip -batch: {done.stderr.strip()}")


def namespaces() -> list[str]:
    return [line.split()[0] for line in _ip("netns", "list").splitlines() if line.strip()]


def netns_pids(ns: str) -> list[int]:
    return [int(p) for p in _ip("netns", "pids", ns).split()]


def kill_pid(pid: int, sig: int = signal.SIGKILL) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def remove_namespace(ns: str) -> None:
    """End what still runs in one of our namespaces (each by its PID), then delete it."""
    try:
        pids = netns_pids(ns)
    except RuntimeError:
        pids = []
    for pid in pids:
        kill_pid(pid)
    deadline = time.monotonic() + 5
    while pids and time.monotonic() < deadline:
        pids = [p for p in pids if Path(f"/proc/{p}").exists()]
        time.sleep(0.05)
    try:
        _ip("netns", "del", ns)
    except RuntimeError:
        pass


def sweep_stale() -> None:
    """Namespaces left by an earlier run of this harness whose test process is gone (killed -9)."""
    for ns in namespaces():
        m = _STALE.match(ns)
        if m and not Path(f"/proc/{m.group(1)}").exists():
            remove_namespace(ns)


def probe() -> str | None:
    """Why separate hosts cannot be made here, or None when they can."""
    if os.geteuid() != 0:
        return "needs root (ip netns)"
    for tool in ("ip", "setpriv", "redis-server"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    if pg_bin() is None:
        return "PostgreSQL server binaries (initdb, pg_ctl) are not installed"
    name = f"{PREFIX}{os.getpid()}-probe"
    try:
        _ip("netns", "add", name)
    except (RuntimeError, OSError) as exc:
        return f"cannot create a network namespace: {exc}"
    _ip("netns", "del", name)
    return None


def pg_bin() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parent.parent.name))
    if found:
        return found[-1].parent
    which = shutil.which("pg_ctl")
    return Path(which).parent if which else None


@dataclass
class Host:
    name: str
    ns: str
    address: str
    port: str  # its bridge port in the switch namespace


@dataclass
class Lab:
    """A private network of hosts; :meth:`close` removes everything it made, whatever happened."""

    octet: int = field(default_factory=lambda: os.getpid() % 250 + 1)
    tag: str = field(default_factory=lambda: f"{PREFIX}{os.getpid()}")
    hosts: dict[str, Host] = field(default_factory=dict)
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    made: list[str] = field(default_factory=list)

    @property
    def switch(self) -> str:
        return f"{self.tag}-sw"

    def address(self, last: int) -> str:
        return f"10.231.{self.octet}.{last}"

    def open(self) -> Lab:
        sweep_stale()
        self._add_ns(self.switch)
        _ip_batch(self.switch, ["link set lo up", "link add br0 type bridge", "link set br0 up"])
        return self

    def _add_ns(self, ns: str) -> None:
        _ip("netns", "add", ns)
        self.made.append(ns)

    def add_host(self, name: str, last: int, extra: range = range(0)) -> Host:
        ns = f"{self.tag}-{name}"
        self._add_ns(ns)
        host = Host(name, ns, self.address(last), f"v-{name}")
        _ip("link", "add", "eth0", "netns", ns, "type", "veth", "peer", "name", host.port, "netns", self.switch)
        _ip_batch(self.switch, [f"link set dev {host.port} master br0", f"link set dev {host.port} up"])
        _ip_batch(
            ns,
            [
                "link set dev lo up",
                f"addr add {host.address}/24 dev eth0",
                *(f"addr add {self.address(n)}/24 dev eth0" for n in extra),
                "link set dev eth0 up",
            ],
        )
        self.hosts[name] = host
        return host

    def cut(self, name: str) -> None:
        """Take the host off the network: its packets are dropped, nobody answers (a partition)."""
        _ip("-n", self.switch, "link", "set", "dev", self.hosts[name].port, "down")

    def mend(self, name: str) -> None:
        _ip("-n", self.switch, "link", "set", "dev", self.hosts[name].port, "up")

    def spawn(
        self, host: str, argv: list[str], *, env: dict[str, str], log: Path, cwd: Path, user: str | None = None
    ) -> subprocess.Popen[bytes]:
        """Start ``argv`` inside ``host`` (as ``user`` if given); the PID is the program's own."""
        prefix = ["ip", "netns", "exec", self.hosts[host].ns]
        if user:
            prefix += ["setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups"]
        with log.open("ab") as out:
            proc = subprocess.Popen(
                [*prefix, *argv],
                env=env,
                cwd=cwd,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.procs.append(proc)
        return proc

    def run(
        self,
        host: str,
        argv: list[str],
        *,
        env: dict[str, str] | None = None,
        user: str | None = None,
        timeout: float = 60,
    ) -> str:
        prefix = ["ip", "netns", "exec", self.hosts[host].ns]
        if user:
            prefix += ["setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups"]
        done = subprocess.run(
            [*prefix, *argv], env=env, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
        )
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} in {host}: exit {done.returncode}\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        deadline = time.monotonic() + 10
        for proc in self.procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        for ns in reversed(self.made):  # what still runs inside (a postmaster pg_ctl started), then the namespace
            remove_namespace(ns)
        self.made.clear()


class LoadThread:
    """An event loop on a thread that lives in another host's network namespace."""

    def __init__(self, ns: str) -> None:
        self._ns = ns
        self._loop: asyncio.AbstractEventLoop | None = None
        self._error: BaseException | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._main, name=f"load@{ns}", daemon=True)
        self._thread.start()
        self._ready.wait(10)
        if self._error is not None:
            raise self._error
        assert self._loop is not None

    def _main(self) -> None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            fd = os.open(f"/run/netns/{self._ns}", os.O_RDONLY)
            try:
                if libc.setns(fd, CLONE_NEWNET) != 0:
                    err = ctypes.get_errno()
                    raise OSError(err, f"setns({self._ns}): {os.strerror(err)}")
            finally:
                os.close(fd)
            loop = asyncio.new_event_loop()
        except BaseException as exc:  # noqa: BLE001 - handed to the constructor
            self._error = exc
            self._ready.set()
            return
        self._loop = loop
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
            loop.close()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 120) -> T:
        assert self._loop is not None
        future: Future[T] = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return future.result(timeout)

    def close(self) -> None:
        if self._loop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(15)
