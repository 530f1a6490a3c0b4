"""Real delivery endpoints for the courier tests: an HTTP gateway and an SMTP server on 127.0.0.1.

Nothing here is a mock.  :class:`Gateway` is a ``http.server`` in a thread that records every
request and answers as the test scripts it; :class:`SmtpSink` is an ``aiosmtpd`` server.  Both
listen on ports the kernel picks, so parallel runs do not collide.  A gateway can be created
*down*: its port is bound but not listening, so a connection to it is refused until ``up()``.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

DEADLINE_SECONDS = 10.0


def wait_until(predicate: Callable[[], bool], timeout: float = DEADLINE_SECONDS) -> None:
    """Poll ``predicate`` until it holds; fail the test after ``timeout`` seconds (a deadline, not a sleep)."""
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError("condition not reached before the deadline")
        time.sleep(0.01)


# -- HTTP gateway ----------------------------------------------------------------------------


@dataclass
class Request:
    method: str
    target: str  # path with query
    headers: dict[str, str]  # lower-case names
    body: bytes

    @property
    def path(self) -> str:
        return urlsplit(self.target).path

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(urlsplit(self.target).query, keep_blank_values=True, strict_parsing=False)

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))

    def form(self) -> dict[str, str]:
        """The urlencoded body, every field exactly once (a repeated or missing one fails here)."""
        parsed = parse_qs(self.body.decode("ascii"), keep_blank_values=True, strict_parsing=True)
        assert all(len(v) == 1 for v in parsed.values()), parsed
        return {k: v[0] for k, v in parsed.items()}


@dataclass
class Reply:
    status: int = 200
    body: Any = field(default_factory=lambda: {"ok": True})  # dict/list → JSON, str/bytes → as is
    content_type: str = "application/json"

    def encoded(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode("utf-8")
        return json.dumps(self.body, ensure_ascii=False).encode("utf-8")


class Gateway:
    """A local HTTP server that records requests.  Answers come from ``responder`` (default: ``reply``)."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.reply = Reply()
        self.responder: Callable[[Request], Reply] | None = None
        self.delay = 0.0  # seconds each answer takes (widens races in concurrency tests)
        self._cond = threading.Condition()
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                req = Request(self.command, self.path, {k.lower(): v for k, v in self.headers.items()},
                              self.rfile.read(length))
                with gateway._cond:
                    gateway.requests.append(req)
                    gateway._cond.notify_all()
                reply = gateway.responder(req) if gateway.responder else gateway.reply
                if gateway.delay:
                    time.sleep(gateway.delay)
                payload = reply.encoded()
                self.send_response(reply.status)
                self.send_header("Content-Type", reply.content_type)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = _handle  # noqa: N815

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler, bind_and_activate=False)
        self._server.daemon_threads = True
        self._server.server_bind()  # the port is ours from now on; connections are refused until up()
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread: threading.Thread | None = None

    def up(self) -> Gateway:
        assert self._thread is None
        self._server.server_activate()
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
        self._server.server_close()

    def answer(self, status: int = 200, body: Any = None, content_type: str = "application/json") -> None:
        self.reply = Reply(status, {"ok": True} if body is None else body, content_type)

    def wait_for(self, count: int, timeout: float = DEADLINE_SECONDS) -> list[Request]:
        """Block (in a worker thread, see ``asyncio.to_thread``) until ``count`` requests arrived."""
        with self._cond:
            assert self._cond.wait_for(lambda: len(self.requests) >= count, timeout), (
                f"{len(self.requests)} of {count} requests arrived before the deadline")
            return list(self.requests)


@pytest.fixture
def make_gateway() -> Iterator[Callable[..., Gateway]]:
    made: list[Gateway] = []

    def make(*, up: bool = True) -> Gateway:
        gw = Gateway()
        made.append(gw)
        return gw.up() if up else gw

    yield make
    for gw in made:
        gw.close()


@pytest.fixture
def gateway(request: pytest.FixtureRequest, make_gateway: Callable[..., Gateway]) -> Gateway:
    """Up by default; ``@pytest.mark.parametrize("gateway", [False], indirect=True)`` starts it down."""
    return make_gateway(up=getattr(request, "param", True))


# -- SMTP server -----------------------------------------------------------------------------


class SmtpSink:
    """aiosmtpd handler: records every EHLO/HELO (a connection that got that far) and every message."""

    def __init__(self) -> None:
        self.greetings = 0
        self.envelopes: list[Envelope] = []
        self.logins: list[tuple[str, bool]] = []
        self.users: dict[str, str] = {}
        self.refuse: set[str] = set()
        self._cond = threading.Condition()

    async def handle_EHLO(self, server: Any, session: Session, envelope: Envelope, hostname: str,  # noqa: N802
                          responses: list[str]) -> list[str]:
        session.host_name = hostname
        self.greetings += 1
        return responses

    async def handle_HELO(self, server: Any, session: Session, envelope: Envelope, hostname: str) -> str:  # noqa: N802
        session.host_name = hostname
        self.greetings += 1
        return f"250 {server.hostname}"

    async def handle_RCPT(self, server: Any, session: Session, envelope: Envelope, address: str,  # noqa: N802
                          rcpt_options: list[str]) -> str:
        if address in self.refuse:
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:  # noqa: N802
        with self._cond:
            self.envelopes.append(envelope)
            self._cond.notify_all()
        return "250 Message accepted for delivery"

    def authenticate(self, server: Any, session: Session, envelope: Envelope, mechanism: str,
                     auth_data: Any) -> AuthResult:
        ok = (isinstance(auth_data, LoginPassword)
              and self.users.get(auth_data.login.decode()) == auth_data.password.decode())
        self.logins.append((auth_data.login.decode() if isinstance(auth_data, LoginPassword) else "?", ok))
        return AuthResult(success=ok, handled=False)

    def messages(self) -> list[EmailMessage]:
        out = []
        for env in self.envelopes:
            raw = env.original_content if env.original_content is not None else env.content
            assert isinstance(raw, bytes)
            msg = message_from_bytes(raw, policy=policy.default)
            assert isinstance(msg, EmailMessage)
            out.append(msg)
        return out


class _Controller(Controller):
    """Listens on a port the kernel picks (port 0), then learns it before the start-up probe."""

    def _trigger_server(self) -> None:
        assert self.server is not None
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


@pytest.fixture
def smtp_sink() -> Iterator[tuple[SmtpSink, int]]:
    sink = SmtpSink()
    controller = _Controller(sink, hostname="127.0.0.1", port=0, authenticator=sink.authenticate,
                             auth_require_tls=False, ready_timeout=DEADLINE_SECONDS)
    controller.start()
    sink.greetings = 0  # the start-up probe is not a delivery
    try:
        yield sink, controller.port
    finally:
        controller.stop()


# -- settings --------------------------------------------------------------------------------


@pytest.fixture
def settings_overrides() -> dict[str, str]:
    """Delivery is driven by the test (``await services.worker.run_once()``), not by a background task."""
    return {"DOSTUP_COURIER__WORKER_IN_PROCESS": "false"}
