"""Browser fixtures: a real ``dostup serve`` on a free port and headless Debian Chromium via Playwright.

The server is the installed console script in a temporary directory with its own SQLite file, so the
walk exercises what an operator would run (migrations, uvicorn, the in-process outbox worker).
Chromium is Debian's ``/usr/bin/chromium`` (``playwright install`` cannot download browsers here);
without it the browser tests are skipped locally and fail under CI.

Every walk runs twice, on a 360 px phone and a 1280 px desktop (the module-scoped ``width``: a server of
its own per width, so each run registers its people afresh), and must check each page it visits with
``tests.browser.a11y.check`` (no sideways scrolling, no serious or critical axe-core violation): a
passing test that left a visited page unchecked fails at teardown.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Error, Page, sync_playwright

from tests.browser import a11y
from tests.support import stop_process

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("DOSTUP_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
START_TIMEOUT = 60.0


def _dostup_script() -> Path:
    for candidate in (ROOT / ".venv" / "bin" / "dostup", Path(sys.executable).parent / "dostup"):
        if candidate.exists():
            return candidate
    pytest.fail("the dostup console script is not installed (pip install -e . into .venv)")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    url: str
    workdir: Path
    log: Path
    proc: subprocess.Popen[bytes] = field(repr=False)

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


def _wait_until_up(server: Server) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    last_error = ""
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            pytest.fail(f"dostup serve exited with {server.proc.returncode}:\n{server.log_tail()}")
        try:
            resp = httpx.get(server.url + "/", timeout=2.0)
            if resp.status_code == 200:
                return
            last_error = f"HTTP {resp.status_code}"
        except httpx.HTTPError as exc:
            last_error = repr(exc)
        time.sleep(0.2)
    pytest.fail(f"dostup serve did not answer within {START_TIMEOUT}s ({last_error}):\n{server.log_tail()}")


def server_env(workdir: Path, url: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a test server: no inherited ``DOSTUP_*``, its own SQLite file."""
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("DOSTUP_")}
    env.update({
        "DOSTUP_DATABASE_URL": f"sqlite+aiosqlite:///{workdir}/d.db",
        "DOSTUP_PUBLIC_URL": url,
        "DOSTUP_CAPTCHA__MAX_NUMBER": "20000",
        "PYTHONUNBUFFERED": "1",
    })
    env.update(extra or {})
    return env


def run_cli(workdir: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """``dostup …`` in the server's directory (so it shares the development secret key)."""
    return subprocess.run([str(_dostup_script()), *args], cwd=workdir, env=env, capture_output=True, text=True,
                          timeout=120, check=False)


@contextmanager
def serving(workdir: Path, port: int, env: dict[str, str]) -> Iterator[Server]:
    """``dostup serve`` as a subprocess until the block ends; stopped by its PID."""
    log = workdir / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(_dostup_script()), "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=workdir, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
        )
    srv = Server(url=env["DOSTUP_PUBLIC_URL"], workdir=workdir, log=log, proc=proc)
    try:
        _wait_until_up(srv)
        yield srv
    finally:
        stop_process(proc, timeout=15)


@pytest.fixture(scope="module", params=a11y.WIDTHS, ids=lambda w: f"{w}px")
def width(request: pytest.FixtureRequest) -> int:
    """The viewport width of the module's walks: a phone, then a desktop."""
    return int(request.param)


@pytest.fixture(scope="module")
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, width: int) -> Iterator[Server]:
    """``dostup serve`` with its own database for the module (and viewport ``width``).

    A test module may set ``SERVER_ENV`` (a dict of ``DOSTUP_*`` settings) for its server.
    """
    workdir = tmp_path_factory.mktemp("serve")
    port = _free_port()
    env = server_env(workdir, f"http://127.0.0.1:{port}", getattr(request.module, "SERVER_ENV", {}))
    with serving(workdir, port, env) as srv:
        yield srv


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Module-scoped on purpose: Playwright's sync API keeps an event loop running while it is open,
    which would break every asyncio test that pytest runs after this module."""
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing (apt-get install -y chromium)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@dataclass
class Problems:
    """What the page complained about: uncaught errors and console errors (CSP violations among them)."""

    page_errors: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)


@pytest.fixture
def problems() -> Problems:
    return Problems()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Keep each phase's report on the test item, so a fixture's teardown can see whether the test passed."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


def passed(request: pytest.FixtureRequest) -> bool:
    report = getattr(request.node, "report_call", None)
    return bool(report is not None and report.passed)


def watch(request: pytest.FixtureRequest, pg: Page, problems: Problems) -> Iterator[Page]:
    """Collect ``pg``'s console errors into ``problems`` and, when the test passed, fail on any visited page
    the test did not check with ``a11y.check``."""

    def on_console(msg: ConsoleMessage) -> None:
        if msg.type == "error":
            where = (msg.location or {}).get("url", "")
            problems.console_errors.append(f"{msg.text} [{where}]" if where else msg.text)

    def on_page_error(exc: Error) -> None:
        problems.page_errors.append(str(exc))

    pg.on("console", on_console)
    pg.on("pageerror", on_page_error)
    visits = a11y.track(pg)
    yield pg
    if passed(request):
        assert not visits.unchecked(), f"pages visited but never checked with a11y.check: {visits.unchecked()}"


@pytest.fixture
def page(request: pytest.FixtureRequest, browser: Browser, server: Server, problems: Problems,
         width: int) -> Iterator[Page]:
    context = browser.new_context(base_url=server.url, locale="ru-RU", viewport={"width": width, "height": 900})
    context.set_default_timeout(15_000)
    pg = context.new_page()
    try:
        yield from watch(request, pg, problems)
    finally:
        context.close()
