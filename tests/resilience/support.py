"""Real parts the resilience tests break on purpose: a PostgreSQL cluster and a Redis of their own
(never the shared ones on 5432/6379), and a TCP proxy that can freeze like a network partition.

* :class:`OwnPostgres` — ``initdb`` in a temporary directory, ``pg_ctl start``/``stop`` on a spare
  port (as the ``postgres`` user when the tests run as root: PostgreSQL refuses to run as root);
  ``freeze()`` stops the postmaster and every backend with SIGSTOP (a hung server: it cannot even
  enforce its own ``statement_timeout``), ``thaw()`` continues them.
* :class:`OwnRedis` — ``redis-server`` on a spare port, no persistence; ``stop()``/``start()``.
* :class:`FreezingProxy` — forwards bytes between Dostup and the database until ``freeze()``:
  from then on nothing is forwarded either way and new connections are accepted but never
  answered, as when packets are silently dropped; ``thaw()`` lets the held bytes through.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(predicate: Callable[[], bool], timeout: float, step: float = 0.05) -> float:
    """Poll until ``predicate`` holds; the seconds it took.  Fails after ``timeout``."""
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"condition not reached within {timeout} s")
        time.sleep(step)
    return time.monotonic() - start


def _as_postgres() -> list[str]:
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


def _signal(pids: list[int], sig: signal.Signals) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):  # gone since it was listed: nothing to stop or resume
            os.kill(pid, sig)


class OwnPostgres:
    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="dostup-pg-"))
        self.data = self.dir / "data"
        self.port = free_port()
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        subprocess.run(
            [
                *_as_postgres(),
                "initdb",
                "-D",
                str(self.data),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
                "-E",
                "UTF8",
            ],
            check=True,
            capture_output=True,
        )
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(
                f"\nport = {self.port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{self.dir}'\n"
                "fsync = off\nfull_page_writes = off\nmax_connections = 200\n"
            )
        self.start()

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        subprocess.run(
            [*_as_postgres(), "pg_ctl", "-D", str(self.data), "-l", str(self.dir / "log"), "-w", "start"],
            check=True,
            capture_output=True,
        )

    def stop(self) -> None:
        subprocess.run(
            [*_as_postgres(), "pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop"],
            check=True,
            capture_output=True,
        )

    def processes(self) -> list[int]:
        """The postmaster, then its children (backends, checkpointer, WAL writer…)."""
        postmaster = int((self.data / "postmaster.pid").read_text().split()[0])
        children = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == postmaster:
                children.append(int(stat.parent.name))
        return [postmaster, *children]

    def freeze(self) -> None:
        postmaster, *_ = self.processes()
        os.kill(postmaster, signal.SIGSTOP)  # first: it starts no backend after that
        _signal(self.processes()[1:], signal.SIGSTOP)

    def thaw(self) -> None:
        # The postmaster, resumed first, may reap a backend that had exited (a zombie) before its turn.
        _signal(self.processes(), signal.SIGCONT)

    def close(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self.thaw()  # a frozen cluster would not stop
            self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class OwnRedis:
    def __init__(self, *extra: str, port: int | None = None, workdir: Path | None = None) -> None:
        self.port = port or free_port()
        self.dir = workdir or Path(tempfile.mkdtemp(prefix="dostup-redis-"))
        self._extra = extra
        self.proc: subprocess.Popen[bytes] | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def start(self) -> None:
        with (self.dir / "redis.log").open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    "redis-server",
                    "--port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    str(self.dir),
                    *self._extra,
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

        def answers() -> bool:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                    s.sendall(b"PING\r\n")
                    return s.recv(16).startswith(b"+PONG")
            except OSError:
                return False

        try:
            wait_for(answers, 10)
        except AssertionError:
            raise AssertionError((self.dir / "redis.log").read_text()[-2000:]) from None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)
        self.proc = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class FreezingProxy:
    """127.0.0.1:<port> → the target, in threads; ``freeze()`` stops all forwarding."""

    def __init__(self, target_port: int) -> None:
        self.target = ("127.0.0.1", target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._running = threading.Event()
        self._running.set()  # set: forwarding; cleared: frozen
        self._closed = False
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def freeze(self) -> None:
        self._running.clear()

    def thaw(self) -> None:
        self._running.set()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            self._sockets.append(client)
            threading.Thread(target=self._connect, args=(client,), daemon=True).start()

    def _connect(self, client: socket.socket) -> None:
        self._running.wait()  # a frozen network: the connection is never put through
        try:
            upstream = socket.create_connection(self.target)
        except OSError:
            client.close()
            return
        self._sockets.append(upstream)
        for a, b in ((client, upstream), (upstream, client)):
            threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                self._running.wait()  # frozen: what arrived is held, not forwarded
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        self._closed = True
        self._running.set()
        self._listener.close()
        for s in self._sockets:
            try:
                s.close()
            except OSError:
                pass


# -- a database that refuses one table's new rows ----------------------------------------------

_REFUSE = {
    # an OperationalError, as SQLite's own «database or disk is full» (RAISE() would be an IntegrityError,
    # which a unit of work may rightly read as a unique value taken)
    "sqlite": ['CREATE TRIGGER refuse_{t} BEFORE INSERT ON {t} BEGIN INSERT INTO "disk full" VALUES (1); END'],
    # SQLSTATE 53100 disk_full: what PostgreSQL says when its disk fills up (Dostup answers it 503)
    "postgres": [
        "CREATE FUNCTION refuse_{t}() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'disk full' USING ERRCODE = 'disk_full'; END $$",
        "CREATE TRIGGER refuse_{t} BEFORE INSERT ON {t} FOR EACH ROW EXECUTE FUNCTION refuse_{t}()",
    ],
}
_ALLOW = {
    "sqlite": ["DROP TRIGGER refuse_{t}"],
    "postgres": ["DROP TRIGGER refuse_{t} ON {t}", "DROP FUNCTION refuse_{t}()"],
}


def refused() -> tuple[type[BaseException], ...]:
    """What the test client re-raises for a unit refused by :func:`refusing_rows`: SQLAlchemy's error, or
    sqlite3's own from the units of work that run on the raw SQLite connection."""
    import sqlite3

    from sqlalchemy.exc import DBAPIError

    return DBAPIError, sqlite3.Error


@contextlib.asynccontextmanager
async def refusing_rows(db: Any, table: str) -> AsyncIterator[None]:
    """Inside the block the database (``services.db``) refuses every new row of ``table`` with «disk full»:
    a unit of work that writes one fails on the database (a trigger: the failure is the database's own,
    on SQLite answered 500, on PostgreSQL with the SQLSTATE of a full disk, answered 503)."""
    from sqlalchemy import text

    kind = "sqlite" if db.is_sqlite else "postgres"

    async def run(statements: list[str]) -> None:
        async with db.write() as s:
            for statement in statements:
                await s.execute(text(statement.format(t=table)))

    await run(_REFUSE[kind])
    try:
        yield
    finally:
        await run(_ALLOW[kind])
