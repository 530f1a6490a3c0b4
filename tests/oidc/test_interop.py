"""Interoperability with certified and independent relying parties, through a real browser (issue 12 §5).

A real ``dostup serve`` (SQLite, its own directory); Playwright drives Debian Chromium through
Dostup's sign-in and consent pages; the relying parties are panva's ``openid-client`` (OpenID
Certified) run by Node 20 from ``tests/oidc/node`` (``npm ci`` in ``.ci/run``), and Authlib's
OAuth 2.0 client from Python.  Each does discovery, code + PKCE, ID-token validation against the
JWKS, userinfo, refresh with rotation, revocation and RP-initiated logout.
"""

from __future__ import annotations

import json
import os
import re
import select
import shutil
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, Server, _free_port, run_cli, server_env, serving

pytestmark = pytest.mark.browser

NODE_DIR = Path(__file__).resolve().parent / "node"
PHONE = "+79161234567"
PASSWORD = "Tundra-Lantern-42"


class _Partner(BaseHTTPRequestHandler):
    """The partner's redirect and post-logout pages: answer 200 and remember where the browser came."""

    landed: ClassVar[list[str]] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        if self.path.startswith(("/cb", "/bye")):  # not the favicon
            _Partner.landed.append(f"http://127.0.0.1:{self.server.server_address[1]}{self.path}")
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(b"partner")

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's signature
        return None


class _Quiet(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        return None  # a browser closing its connection early is not the test's concern


@pytest.fixture(scope="module")
def rp_port() -> Iterator[int]:
    httpd = _Quiet(("127.0.0.1", 0), _Partner)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(httpd.server_address[1])
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory, rp_port: int) -> Iterator[tuple[Server, dict[str, Any]]]:
    workdir = tmp_path_factory.mktemp("oidc")
    port = _free_port()
    env = server_env(workdir, f"http://127.0.0.1:{port}")
    assert run_cli(workdir, env, "migrate").returncode == 0
    assert run_cli(workdir, env, "admin", "create-user", "--phone", PHONE, "--password", PASSWORD).returncode == 0
    clients = {}
    for kind, extra in (("confidential", []), ("public", ["--public"])):
        done = run_cli(workdir, env, "admin", "add-client", "--name", f"Партнёр ({kind})",
                       "--redirect-uri", f"http://127.0.0.1:{rp_port}/cb",
                       "--post-logout-redirect-uri", f"http://127.0.0.1:{rp_port}/bye", *extra)
        assert done.returncode == 0, done.stderr
        clients[kind] = json.loads(done.stdout)
    with serving(workdir, port, env) as srv:
        yield srv, clients


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing")
        pytest.skip(f"{CHROMIUM} is missing")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


class Person:
    """The user at the browser: signs in on Dostup's pages and answers the consent screen."""

    def __init__(self, browser: Browser, rp_port: int) -> None:
        self.context = browser.new_context(locale="ru-RU")
        self.context.set_default_timeout(15_000)
        self.page: Page = self.context.new_page()
        self.landed = _Partner.landed

    def authorize(self, url: str) -> str:
        self.page.goto(url)
        if "/login" in self.page.url:
            self.page.get_by_label("Номер телефона").fill(PHONE[2:])
            self.page.get_by_label("Пароль", exact=True).fill(PASSWORD)
            self.page.get_by_role("button", name="Вход", exact=True).click()
        self.page.get_by_role("button", name="Разрешить").click()
        self.page.wait_for_url(re.compile(r".*/cb\?.*"))
        return self.landed[-1]

    def logout(self, url: str) -> str:
        self.page.goto(url)
        if not self.landed[-1].split("?")[0].endswith("/bye"):
            self.page.get_by_role("button", name="Выйти").click()
        self.page.wait_for_url(re.compile(r".*/bye.*"))
        return self.landed[-1]

    def close(self) -> None:
        self.context.close()


def _step(proc: subprocess.Popen[str], seconds: float = 60.0) -> dict[str, Any]:
    """The relying party's next line of JSON, or ``{}`` if it says nothing within ``seconds`` (a hung
    Node process fails the test instead of holding the suite until CI's time limit)."""
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], seconds)
    if not ready:
        proc.kill()
        return {}
    return dict(json.loads(proc.stdout.readline() or "{}"))


@pytest.mark.parametrize("kind", ["confidential", "public"])
def test_openid_client_signs_in_refreshes_revokes_and_logs_out(
        provider: tuple[Server, dict[str, Any]], chromium: Browser, rp_port: int, kind: str) -> None:
    node = shutil.which("node")
    if node is None or not (NODE_DIR / "node_modules" / "openid-client").exists():
        if os.environ.get("CI"):
            pytest.fail("node or tests/oidc/node/node_modules is missing (npm ci --prefix tests/oidc/node)")
        pytest.skip("node or openid-client is not installed")
    server, clients = provider
    rp = clients[kind]
    person = Person(chromium, rp_port)
    args = [node, str(NODE_DIR / "rp.mjs"), server.url, rp["client_id"], rp.get("client_secret", "-"),
            f"http://127.0.0.1:{rp_port}/cb", f"http://127.0.0.1:{rp_port}/bye"]
    with subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True) as proc:
        assert proc.stdin and proc.stdout and proc.stderr
        try:
            step = _step(proc)
            assert step.get("step") == "authorize", proc.stderr.read()
            proc.stdin.write(person.authorize(step["url"]) + "\n")
            proc.stdin.flush()
            step = _step(proc)
            assert step.get("step") == "logout", proc.stderr.read()
            proc.stdin.write(person.logout(step["url"]) + "\n")
            proc.stdin.flush()
            done = _step(proc)
            assert proc.wait(timeout=30) == 0, proc.stderr.read()
        finally:
            if proc.poll() is None:
                proc.kill()
            person.close()
    results = done["results"]
    assert results["acr"] == "urn:dostup:loa:1:aal1" and results["amr"] == ["pwd"] and results["nonce_ok"]
    assert results["userinfo"]["phone_number"] == PHONE and results["userinfo_after_refresh"]
    assert results["id_token_alg"] == "RS256"
    assert results["introspected_active"] is (True if kind == "confidential" else None)
    assert results["refresh_after_revoke"] == "invalid_grant"
    assert results["userinfo_after_revoke"] is not None  # the revoked grant's access token is refused
    assert results["reuse_after_rotation"] == "invalid_grant"
    assert results["logout_landed"] == f"http://127.0.0.1:{rp_port}/bye?state=bye-state"


# Authlib 1.9 announces a move of its httpx integration to the ``httpx2`` package; httpx is what we have.
@pytest.mark.filterwarnings("ignore:The httpx module is deprecated")
def test_authlib_client_signs_in_refreshes_revokes_and_logs_out(
        provider: tuple[Server, dict[str, Any]], chromium: Browser, rp_port: int,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from authlib.common.security import generate_token
    from authlib.integrations.httpx_client import OAuth2Client
    from joserfc import jwt
    from joserfc.jwk import KeySet

    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")  # the test server speaks plain http on 127.0.0.1
    server, clients = provider
    rp = clients["confidential"]
    meta = httpx.get(server.url + "/.well-known/openid-configuration").json()
    jwks = KeySet.import_key_set(httpx.get(meta["jwks_uri"]).json())
    person = Person(chromium, rp_port)
    verifier = generate_token(48)
    with OAuth2Client(rp["client_id"], rp["client_secret"], scope="openid profile phone offline_access",
                      redirect_uri=f"http://127.0.0.1:{rp_port}/cb", code_challenge_method="S256",
                      token_endpoint_auth_method="client_secret_post") as oauth:
        nonce = generate_token(20)
        url, state = oauth.create_authorization_url(meta["authorization_endpoint"], code_verifier=verifier,
                                                    nonce=nonce, prompt="consent")
        try:
            callback = person.authorize(url)
            token = oauth.fetch_token(meta["token_endpoint"], authorization_response=callback,
                                      code_verifier=verifier, state=state)
            id_token = jwt.decode(token["id_token"], jwks)
            registry = jwt.JWTClaimsRegistry(iss={"essential": True, "value": server.url},
                                             aud={"essential": True, "value": rp["client_id"]},
                                             nonce={"essential": True, "value": nonce})
            registry.validate(id_token.claims)
            assert id_token.claims["acr"] in meta["acr_values_supported"]
            info = oauth.get(meta["userinfo_endpoint"]).json()
            assert info["sub"] == id_token.claims["sub"] and info["phone_number"] == PHONE
            first_refresh = token["refresh_token"]
            refreshed = oauth.refresh_token(meta["token_endpoint"], refresh_token=first_refresh)
            assert refreshed["refresh_token"] != first_refresh
            assert oauth.revoke_token(meta["revocation_endpoint"], refreshed["refresh_token"],
                                      token_type_hint="refresh_token").status_code == 200
            assert oauth.get(meta["userinfo_endpoint"]).status_code == 401
            logout = httpx.URL(meta["end_session_endpoint"], params={
                "id_token_hint": token["id_token"], "post_logout_redirect_uri": f"http://127.0.0.1:{rp_port}/bye"})
            assert person.logout(str(logout)) == f"http://127.0.0.1:{rp_port}/bye"
        finally:
            person.close()
