"""What the social sign-in tests share: panva's oidc-provider as a subprocess (one per test module),
and :class:`Social`, the social sign-in verbs over either surface (pages or JSON API)."""

from __future__ import annotations

import json
import os
import re
import select
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
import pytest

from tests.support import ApiSurface, Result, Surface, UiSurface, _api_result, captcha_token, stop_process

NODE_DIR = Path(__file__).resolve().parent / "node"
CLIENT_ID = "dostup"
CLIENT_SECRET = "op-secret-0123456789-0123456789"  # noqa: S105 - a test client's secret


@dataclass
class NodeProvider:
    issuer: str
    accounts: Path
    proc: subprocess.Popen[str]

    def person(self, login: str, **claims: Any) -> str:
        """The claims the provider returns for ``login`` (its ``sub``)."""
        people = json.loads(self.accounts.read_text())
        people[login] = claims
        self.accounts.write_text(json.dumps(people))
        return login

    def setting(self, pid: str = "op", name: str = "Тестовый ID", **extra: Any) -> dict[str, Any]:
        return {
            "id": pid,
            "kind": "oidc",
            "name": name,
            "issuer": self.issuer,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            **extra,
        }


@contextmanager
def node_provider(tmp: Path, redirect_uris: list[str]) -> Iterator[NodeProvider]:
    """``node provider.mjs`` on a free port of 127.0.0.1 until the block ends (stopped by its PID)."""
    node = shutil.which("node")
    if node is None or not (NODE_DIR / "node_modules" / "oidc-provider").exists():
        message = "node or tests/social/node/node_modules missing (npm ci --prefix tests/social/node)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    accounts = tmp / "accounts.json"
    accounts.write_text("{}")
    env = {
        **os.environ,
        "CLIENTS": json.dumps(
            [{"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "redirect_uris": redirect_uris}]
        ),
        "ACCOUNTS_FILE": str(accounts),
        "PORT": "0",
        "NODE_ENV": "test",
    }
    proc, issuer = _start_provider(node, env, tmp)
    try:
        yield NodeProvider(issuer, accounts, proc)
    finally:
        _stop(proc)


READY_SECONDS = 30.0  # a provider starts in well under a second; one that hangs is started again


def _start_provider(node: str, env: dict[str, str], tmp: Path) -> tuple[subprocess.Popen[str], str]:
    """``node provider.mjs`` and the issuer it prints as ``READY <issuer>``.  Once in CI a provider hung
    before printing it (at 0 % CPU, in a futex, for minutes): each start gets ``READY_SECONDS``, and
    a hung one is stopped and started once more before the test fails."""
    log_path = tmp / "provider.log"
    for attempt in range(2):
        with log_path.open("a") as log:
            proc = subprocess.Popen([node, str(NODE_DIR / "provider.mjs")], cwd=NODE_DIR, env=env, text=True,
                                    stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL)
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], READY_SECONDS)
        line = proc.stdout.readline() if ready else ""
        if line.startswith("READY "):
            return proc, line.split()[1]
        _stop(proc)
        if attempt == 1:
            pytest.fail(f"oidc-provider did not start: {line!r} {log_path.read_text()[-2000:]}")
    raise AssertionError("unreachable")


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.stdout is not None:
        proc.stdout.close()
    stop_process(proc)


_PROMPT = re.compile(r'name="prompt" value="(login|consent)"')


async def at_provider(url: str, callback_prefix: str, login: str | None = None, *, deny: bool = False) -> str:
    """Be the browser at the provider: sign in as ``login`` at oidc-provider's development
    interaction and consent (or press «Cancel»), or just follow a fake provider's redirect; returns
    the callback URL the provider sends the browser back to."""
    async with httpx.AsyncClient(timeout=10) as browser:
        for _ in range(12):
            resp = await browser.get(url)
            while resp.status_code in (302, 303):
                url = urljoin(url, resp.headers["location"])
                if url.startswith(callback_prefix):
                    return url
                resp = await browser.get(url)
            found = _PROMPT.search(resp.text)
            assert resp.status_code == 200 and found, (resp.status_code, resp.text[:500])
            if deny:
                url = url.rstrip("/") + "/abort"
                continue
            form = {"prompt": found.group(1)}
            if found.group(1) == "login":
                form.update(login=login or "", password="any")  # noqa: S105 - dev interactions take any
            resp = await browser.post(url, data=form)
            assert resp.status_code in (302, 303), (resp.status_code, resp.text[:500])
            url = urljoin(url, resp.headers["location"])
            if url.startswith(callback_prefix):
                return url
    raise AssertionError("the provider never sent the browser back")


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


class Social:
    """The social sign-in verbs over one surface: results look the same for both."""

    def __init__(self, surface: Surface, base: str = "http://testserver") -> None:
        self.s = surface
        self.ui = isinstance(surface, UiSurface)
        self.base = base

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.s.token}"} if self.s.token and not self.ui else {}

    async def start(self, pid: str, purpose: str = "login", page: str = "/login", **extra: Any) -> Result:
        """The first step: ``data["url"]`` is where the browser goes (the provider)."""
        if self.ui:
            assert isinstance(self.s, UiSurface)
            r = self.s._result(await self.s.post_form(f"/social/{pid}/start", {"purpose": purpose, **extra}, page))
            if r.ok:
                r.data["url"] = r.data["location"]
            return r
        r = _api_result(
            await self.s.client.post(
                f"/api/v1/social/{pid}/start", headers=self._auth(), json={"purpose": purpose, **extra}
            )
        )
        if r.ok:
            r.data["url"] = r.data["authorization_url"]
        return r

    async def callback(self, pid: str, params: dict[str, str]) -> Result:
        if self.ui:
            assert isinstance(self.s, UiSurface)
            r = self.s._result(await self.s.client.get(f"/social/{pid}/callback", params=params))
            if r.ok and self.s.client.cookies.get("dostup_session"):
                self.s.token = self.s.client.cookies.get("dostup_session")
            return r
        body = {k: params[k] for k in ("state", "code", "error", "device_id") if k in params}
        r = _api_result(await self.s.client.post(f"/api/v1/social/{pid}/callback", headers=self._auth(), json=body))
        if r.ok and isinstance(r.data.get("session"), dict) and "token" in r.data["session"]:
            self.s.token = r.data["session"]["token"]
        return r

    async def round_trip(
        self,
        pid: str,
        login: str | None = None,
        purpose: str = "login",
        *,
        deny: bool = False,
        page: str = "/login",
        **extra: Any,
    ) -> Result:
        started = await self.start(pid, purpose, page, **extra)
        if not started.ok:
            return started
        back = await at_provider(started.data["url"], f"{self.base}/social/{pid}/callback", login, deny=deny)
        return await self.callback(pid, query_of(back))

    @staticmethod
    def outcome(r: Result) -> str:
        """``signed_in``, ``second_factor``, ``register``, ``linked``, ``reauthenticated`` or the error code/status."""
        if not r.ok:
            return r.code or str(r.status)
        if "location" in r.data:
            loc = r.data["location"]
            return (
                "second_factor"
                if loc.startswith("/login/second-factor")
                else "register"
                if loc.startswith("/registration/social")
                else "linked"
                if "done=linked" in loc
                else "signed_in"
            )
        if "second_factor" in r.data:
            return "second_factor"
        if "registration" in r.data:
            return "register"
        if "linked" in r.data:
            return "linked"
        return "signed_in" if "account" in r.data else "reauthenticated"

    @staticmethod
    def signup_flow(r: Result) -> str:
        if "location" in r.data:
            return r.data["location"].split("flow=")[1]
        return str(r.data["registration"]["flow_id"])

    async def register(self, flow_id: str, *, captcha: bool = True, **fields: Any) -> Result:
        """Post the registration form begun at the provider, with a solved captcha unless ``captcha=False``
        (a preset that names taken contacts asks for one; an enumeration-safe one ignores it)."""
        if captcha:
            fields["captcha"] = await captcha_token(self.s.client, "register")
        if self.ui:
            assert isinstance(self.s, UiSurface)
            r = self.s._result(
                await self.s.post_form(
                    "/registration/social", {"flow": flow_id, **fields}, f"/registration/social?flow={flow_id}"
                )
            )
            if r.ok and self.s.client.cookies.get("dostup_session"):
                self.s.token = self.s.client.cookies.get("dostup_session")
            if r.ok and "flow=" in r.data["location"]:
                r.data["flow_id"] = r.data["location"].split("flow=")[1]
            return r
        r = _api_result(await self.s.client.post(f"/api/v1/registration/social/{flow_id}", json=fields))
        if r.ok and "session" in r.data:
            self.s.token = r.data["session"]["token"]
        return r

    async def unlink(self, pid: str) -> Result:
        if self.ui:
            assert isinstance(self.s, UiSurface)
            r = self.s._result(await self.s.post_form(f"/settings/social/{pid}/unlink", {}, "/settings/social"))
            if r.ok and r.data["location"].startswith("/reauth"):
                return Result(403, False, code="reauth_required", data=r.data)
            return r
        return _api_result(await self.s.client.delete(f"/api/v1/settings/social/{pid}", headers=self._auth()))

    async def methods(self) -> dict[str, Any]:
        r = await self.s.client.get(
            "/api/v1/settings/social", headers={"Authorization": f"Bearer {self.s.token}"} if self.s.token else {}
        )
        assert r.status_code == 200, r.text
        return dict(r.json())


def wait_until(predicate: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not predicate():
        time.sleep(0.05)


__all__ = ["ApiSurface", "NodeProvider", "Social", "UiSurface", "at_provider", "node_provider", "query_of"]
