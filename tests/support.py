"""Test helpers shared by the suites: settings, backends, captcha solving, two client surfaces."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import subprocess
from dataclasses import dataclass
from dataclasses import field as dc_field
from pathlib import Path
from typing import Any

import altcha
import httpx

from dostup.settings import PasswordSettings, Settings, load_settings

PG_ADMIN_URL = os.environ.get("DOSTUP_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("DOSTUP_TEST_REDIS", "redis://127.0.0.1:6379")
TEST_SECRET = "test-secret-key-that-is-long-enough-for-production-0123456789"


# The in-process tests hash passwords at argon2id's cheapest cost: they check what is hashed and when, and a
# production hash on every registration and sign-in was a sixth of their time.  The production cost is the
# settings' default, refused below SECURITY.md's floor in production (tests/unit/test_settings_bounds.py);
# the timing tests, the hash-format test and the served walks run at it (PRODUCTION_HASHING, no override).
_COST = PasswordSettings.model_fields
PRODUCTION_HASHING = {"DOSTUP_PASSWORDS__ARGON2_MEMORY_KIB": str(_COST["argon2_memory_kib"].default),
                      "DOSTUP_PASSWORDS__ARGON2_TIME_COST": str(_COST["argon2_time_cost"].default)}
TEST_HASHING = {"DOSTUP_PASSWORDS__ARGON2_MEMORY_KIB": "64", "DOSTUP_PASSWORDS__ARGON2_TIME_COST": "1"}


def base_env(**overrides: str) -> dict[str, str]:
    env = {
        "DOSTUP_SECRET_KEY": TEST_SECRET,
        "DOSTUP_PUBLIC_URL": "http://testserver",
        "DOSTUP_CAPTCHA__MAX_NUMBER": "300",
        "DOSTUP_COURIER__POLL_INTERVAL_SECONDS": "0.05",
    }
    env.update(overrides)
    if env.get("DOSTUP_ENV") != "production":  # production refuses less than SECURITY.md's cost
        env = {**TEST_HASHING, **env}
    return env


def make_settings(**overrides: str) -> Settings:
    return load_settings(base_env(**overrides), workdir=Path("/tmp"))


def solve_captcha(challenge: dict[str, Any]) -> str:
    solution = altcha.solve_challenge_v1(
        challenge["challenge"], challenge["salt"], challenge["algorithm"], challenge["maxNumber"]
    )
    assert solution is not None
    payload = {
        "algorithm": challenge["algorithm"],
        "challenge": challenge["challenge"],
        "number": solution.number,
        "salt": challenge["salt"],
        "signature": challenge["signature"],
    }
    return base64.b64encode(json.dumps(payload).encode()).decode()


async def captcha_token(client: httpx.AsyncClient, action: str) -> str:
    resp = await client.get("/api/v1/captcha/challenge", params={"action": action})
    assert resp.status_code == 200, resp.text
    return await asyncio.to_thread(solve_captcha, resp.json())


async def outbox(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    resp = await client.get("/dev/outbox.json")
    assert resp.status_code == 200
    return list(resp.json())


async def last_code(client: httpx.AsyncClient, to: str, kind: str | None = None) -> str:
    for msg in await outbox(client):
        if msg["to"] == to and msg["code"] and (kind is None or msg["kind"] == kind):
            return str(msg["code"])
    raise AssertionError(f"no code sent to {to}")


_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class Result:
    """What a test sees of an attempt, the same for both surfaces."""

    status: int
    ok: bool
    code: str | None = None  # error code
    field: str | None = None
    message: str = ""
    data: dict[str, Any] = dc_field(default_factory=dict)
    headers: dict[str, str] = dc_field(default_factory=dict)


class Surface:
    """One way in: the pages (``ui``) or the JSON API (``api``).  Same verbs for both."""

    name = "surface"

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.token: str | None = None

    async def register(self, **fields: Any) -> Result:
        raise NotImplementedError

    async def confirm(self, flow_id: str, code: str) -> Result:
        raise NotImplementedError

    async def resend(self, flow_id: str) -> Result:
        raise NotImplementedError

    async def login(self, **fields: Any) -> Result:
        raise NotImplementedError

    async def logout(self) -> Result:
        raise NotImplementedError

    async def whoami(self) -> Result:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        resp = await self.client.get("/api/v1/whoami", headers=headers)
        return Result(resp.status_code, resp.status_code == 200, data=resp.json() if resp.status_code == 200 else {})


def _api_result(resp: httpx.Response) -> Result:
    try:
        body = resp.json() if resp.content else {}
    except ValueError:
        body = {}
    if 200 <= resp.status_code < 300:
        return Result(resp.status_code, True, data=body, headers=dict(resp.headers))
    err = body.get("error", {}) if isinstance(body, dict) else {}
    return Result(resp.status_code, False, code=err.get("code"), field=err.get("field"),
                  message=err.get("message", ""), data=body, headers=dict(resp.headers))


class ApiSurface(Surface):
    name = "api"

    async def register(self, **fields: Any) -> Result:
        return _api_result(await self.client.post("/api/v1/registration", json=fields))

    async def confirm(self, flow_id: str, code: str) -> Result:
        r = _api_result(await self.client.post(f"/api/v1/registration/{flow_id}/code", json={"code": code}))
        if r.ok and "session" in r.data:  # otherwise the flow moved on to the password step
            self.token = r.data["session"]["token"]
        return r

    async def resend(self, flow_id: str) -> Result:
        return _api_result(await self.client.post(f"/api/v1/registration/{flow_id}/resend"))

    async def login(self, **fields: Any) -> Result:
        r = _api_result(await self.client.post("/api/v1/login", json=fields))
        if r.ok and "session" in r.data:  # otherwise a second factor is asked first
            self.token = r.data["session"]["token"]
        return r

    async def logout(self) -> Result:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        return _api_result(await self.client.post("/api/v1/logout", headers=headers))


_FIELD_ERR = re.compile(r'<p class="error" id="([a-z_]+)-error" role="alert">([^<]*)</p>')
_ALERT = re.compile(r'<div class="alert" role="alert">([^<]*)</div>')


class UiSurface(Surface):
    name = "ui"

    async def csrf(self, path: str = "/login") -> str:
        resp = await self.client.get(path, follow_redirects=True)
        m = _CSRF.search(resp.text)
        assert m, f"no csrf token on {path}"
        return m.group(1)

    async def post_form(self, path: str, data: dict[str, Any], page: str = "/login") -> httpx.Response:
        form = {k: ("on" if v is True else v) for k, v in data.items() if v is not None and v is not False}
        form["csrf_token"] = await self.csrf(page)
        return await self.client.post(path, data=form)

    def _result(self, resp: httpx.Response) -> Result:
        if resp.status_code == 303:
            return Result(303, True, data={"location": resp.headers["location"]}, headers=dict(resp.headers))
        fields = _FIELD_ERR.findall(resp.text)
        alert = _ALERT.search(resp.text)
        field_name, message = (fields[0] if fields else (None, alert.group(1) if alert else ""))
        return Result(resp.status_code, False, field=field_name, message=message,
                      data={"fields": dict(fields), "html": resp.text}, headers=dict(resp.headers))

    async def register(self, **fields: Any) -> Result:
        r = self._result(await self.post_form("/registration", fields, "/registration"))
        if r.ok:
            r.data["flow_id"] = r.data["location"].split("flow=")[1].split("&")[0]
        return r

    async def confirm(self, flow_id: str, code: str) -> Result:
        r = self._result(await self.post_form("/registration/code", {"flow": flow_id, "code": code}))
        if r.ok:
            self.token = self.client.cookies.get("dostup_session")
        return r

    async def resend(self, flow_id: str) -> Result:
        return self._result(await self.post_form("/registration/resend", {"flow": flow_id}))

    async def login(self, **fields: Any) -> Result:
        r = self._result(await self.post_form("/login", fields))
        if r.ok:
            self.token = self.client.cookies.get("dostup_session")
        return r

    async def logout(self) -> Result:
        return self._result(await self.post_form("/logout", {}, "/"))

    async def whoami(self) -> Result:
        resp = await self.client.get("/api/v1/whoami")
        return Result(resp.status_code, resp.status_code == 200, data=resp.json() if resp.status_code == 200 else {})


def stop_process(proc: subprocess.Popen[Any], timeout: float = 10) -> None:
    """End a process a test started, by its PID: SIGTERM, then SIGKILL if it is still there after ``timeout``."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=timeout)
