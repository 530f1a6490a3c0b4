"""Steps the provider tests share: a registered partner, PKCE, a signed-in browser consenting."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
from sqlalchemy import update

from dostup.persistence.models import Account
from dostup.services import Services
from tests.flows.helpers import phone_e164, register
from tests.support import UiSurface

REDIRECT = "https://rp.example/cb"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_REQUEST = re.compile(r'name="request" value="([^"]+)"')


async def add_client(services: Services, **kw: Any) -> dict[str, Any]:
    kw.setdefault("name", "Партнёр")
    kw.setdefault("redirect_uris", [REDIRECT])
    kw.setdefault("post_logout_redirect_uris", ["https://rp.example/bye"])
    return await services.oidc.clients.add(**kw)


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


async def signed_in_browser(client: httpx.AsyncClient, services: Services, n: int = 1) -> UiSurface:
    """A browser signed in to a fresh account «Петров Иван», phone +7912000000n."""
    browser = UiSurface(client)
    phone = await register(browser, phone_e164(n))
    async with services.db.write() as s:
        await s.execute(update(Account).where(Account.phone == phone).values(given_name="Иван", family_name="Петров"))
    return browser


def query_of(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


async def start(browser: UiSurface, client_id: str, **params: str) -> httpx.Response:
    q = {"response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT, "scope": "openid profile phone",
         "state": "st-1", "nonce": "n-1", **params}
    return await browser.client.get("/oauth2/authorize?" + urlencode({k: v for k, v in q.items() if v is not None}))


async def decide(browser: UiSurface, page: httpx.Response, decision: str = "allow") -> httpx.Response:
    csrf = _CSRF.search(page.text)
    req = _REQUEST.search(page.text)
    assert csrf and req, page.text[:500]
    return await browser.client.post("/oauth2/authorize/decision",
                                     data={"csrf_token": csrf.group(1), "request": req.group(1), "decision": decision})


async def code_for(browser: UiSurface, client_id: str, **params: str) -> dict[str, str]:
    """Authorize and consent; the redirect's query (``code``, ``state``)."""
    resp = await start(browser, client_id, **params)
    if resp.status_code == 200:
        resp = await decide(browser, resp)
    assert resp.status_code == 302, (resp.status_code, resp.text[:300])
    location = resp.headers["location"]
    assert location.startswith(REDIRECT), location
    return query_of(location)


async def exchange(http: httpx.AsyncClient, rp: dict[str, Any], code: str, verifier: str | None = None,
                   **extra: str) -> httpx.Response:
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, **extra}
    if verifier:
        data["code_verifier"] = verifier
    if rp.get("client_secret"):
        return await http.post("/oauth2/token", data=data, auth=(rp["client_id"], rp["client_secret"]))
    return await http.post("/oauth2/token", data={**data, "client_id": rp["client_id"]})


async def tokens_for(services: Services, http: httpx.AsyncClient, browser: UiSurface, rp: dict[str, Any],
                     **params: str) -> dict[str, Any]:
    """Code flow with PKCE to the end: the token response's JSON."""
    verifier, challenge = pkce()
    got = await code_for(browser, rp["client_id"], code_challenge=challenge, code_challenge_method="S256", **params)
    resp = await exchange(http, rp, got["code"], verifier)
    assert resp.status_code == 200, resp.text
    return resp.json()  # type: ignore[no-any-return]


def secret_auth(rp: dict[str, Any]) -> tuple[str, str]:
    return rp["client_id"], rp["client_secret"]


def unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A JWT's header and claims without checking it (the tests check signatures where it matters)."""
    import json

    def part(p: str) -> dict[str, Any]:
        return json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))  # type: ignore[no-any-return]

    head, body, _ = token.split(".")
    return part(head), part(body)


class Receiver:
    """A partner's back-channel logout endpoint: a real HTTP server on 127.0.0.1 keeping what it was sent."""

    def __init__(self) -> None:
        received = self.received = []  # type: list[dict[str, list[str]]]

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                received.append(parse_qs(body.decode()))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/backchannel"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
