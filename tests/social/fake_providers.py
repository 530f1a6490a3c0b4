"""Local HTTP servers (real sockets) answering like the providers' documented endpoints:

* ``yandex`` — Yandex ID: ``/authorize``, ``POST /token`` (client_secret_basic or body, PKCE),
  ``GET /info?format=json`` with ``Authorization: OAuth <token>`` (``id``, ``login``,
  ``default_email``, ``default_phone.number``, ``first_name``, ``last_name``);
* ``vk`` — VK ID (OAuth 2.1): ``/authorize`` answers ``code``, ``state``, ``device_id``;
  ``POST /oauth2/auth`` (``grant_type``, ``code``, ``code_verifier``, ``client_id``, ``device_id``,
  ``redirect_uri``); ``POST /oauth2/user_info`` (``client_id``, ``access_token``) →
  ``{"user": {"user_id", "first_name", "last_name", "phone", "email"}}``;
* ``oidc`` — a bare OpenID provider (discovery, JWKS, ID token, userinfo) whose answers a test can
  spoil: ``fault`` = ``500``, ``timeout``, ``foreign_key``, ``wrong_aud``, ``no_nonce``,
  ``wrong_nonce``, ``wrong_iss``, ``bad_code``, ``discovery``.

The authorization endpoint signs the user in at once (the person is ``user``) and redirects to the
callback, so the tests drive it with one GET.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from joserfc import jwt
from joserfc.jwk import RSAKey


@dataclass
class Grant:
    params: dict[str, str]
    user: dict[str, Any]
    used: bool = False


@dataclass
class FakeProvider:
    kind: str
    client_id: str = "dostup-client"
    client_secret: str = "fake-secret-0123456789"
    user: dict[str, Any] = field(default_factory=dict)
    fault: str = ""
    delay: float = 3.0  # the "timeout" fault sleeps this long
    requests: list[tuple[str, str, dict[str, str], dict[str, str]]] = field(default_factory=list)
    grants: dict[str, Grant] = field(default_factory=dict)
    url: str = ""
    key: RSAKey = field(default_factory=lambda: RSAKey.generate_key(2048, parameters={"kid": "fake-1"}))
    foreign: RSAKey = field(default_factory=lambda: RSAKey.generate_key(2048, parameters={"kid": "fake-1"}))

    # -- what Dostup's settings say about it --------------------------------------------------

    def setting(self, pid: str, name: str, **extra: Any) -> dict[str, Any]:
        base: dict[str, Any] = {
            "id": pid,
            "kind": self.kind,
            "name": name,
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "timeout_seconds": 1.0,
        }
        if self.kind == "oidc":
            base["issuer"] = self.url
        elif self.kind == "yandex":
            base.update(
                authorization_endpoint=self.url + "/authorize",
                token_endpoint=self.url + "/token",
                userinfo_endpoint=self.url + "/info?format=json",
            )
        else:
            base.update(
                authorization_endpoint=self.url + "/authorize",
                token_endpoint=self.url + "/oauth2/auth",
                userinfo_endpoint=self.url + "/oauth2/user_info",
            )
            base.pop("client_secret")
        return {**base, **extra}

    # -- endpoints ----------------------------------------------------------------------------

    def handle(
        self, method: str, path: str, query: dict[str, str], form: dict[str, str], headers: dict[str, str]
    ) -> tuple[int, dict[str, str], bytes]:
        self.requests.append((method, path, query, form))
        if path == "/authorize":
            return self._authorize(query)
        if self.fault == "500" and path in ("/token", "/oauth2/auth"):
            return 500, {"Content-Type": "text/html"}, b"<h1>Internal Server Error</h1>"
        if self.fault == "timeout" and path in ("/token", "/oauth2/auth"):
            time.sleep(self.delay)
        if path == "/.well-known/openid-configuration" and self.fault == "discovery":
            return 502, {"Content-Type": "text/html"}, b"<h1>Bad Gateway</h1>"
        if path == "/.well-known/openid-configuration":
            return _json(
                {
                    "issuer": self.url,
                    "authorization_endpoint": self.url + "/authorize",
                    "token_endpoint": self.url + "/token",
                    "userinfo_endpoint": self.url + "/userinfo",
                    "jwks_uri": self.url + "/jwks",
                    "scopes_supported": ["openid", "profile", "email"],
                    "response_types_supported": ["code"],
                    "subject_types_supported": ["public"],
                    "id_token_signing_alg_values_supported": ["RS256"],
                }
            )
        if path == "/jwks":
            return _json({"keys": [self.key.as_dict(private=False)]})
        if path in ("/token", "/oauth2/auth") and method == "POST":
            return self._token(form, headers)
        if path in ("/userinfo", "/info", "/oauth2/user_info"):
            return self._userinfo(path, headers, form)
        return 404, {}, b"not found"

    def _authorize(self, q: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        code = secrets.token_urlsafe(16)
        self.grants[code] = Grant(dict(q), dict(self.user))
        back = {"code": code, "state": q.get("state", "")}
        if self.kind == "vk":
            back.update(device_id="device-" + code[:6], type="code_v2")
        return 302, {"Location": q["redirect_uri"] + "?" + urlencode(back)}, b""

    def _client_ok(self, form: dict[str, str], headers: dict[str, str]) -> bool:
        if self.kind == "vk":  # a public client: its id in the body
            return form.get("client_id") == self.client_id
        auth = headers.get("authorization", "")
        if not auth.startswith("Basic "):
            return False
        return base64.b64decode(auth[6:]).decode() == f"{self.client_id}:{self.client_secret}"

    def _token(self, form: dict[str, str], headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        grant = self.grants.get(form.get("code", ""))
        if not self._client_ok(form, headers):
            return _json({"error": "invalid_client"}, 401)
        if grant is None or grant.used or self.fault == "bad_code":
            return _json({"error": "invalid_grant"}, 400)
        grant.used = True
        challenge = base64.urlsafe_b64encode(hashlib.sha256(form.get("code_verifier", "").encode()).digest())
        if challenge.rstrip(b"=").decode() != grant.params.get("code_challenge") or form.get(
            "redirect_uri"
        ) != grant.params.get("redirect_uri"):
            return _json({"error": "invalid_grant"}, 400)
        if self.kind == "vk" and form.get("device_id") != "device-" + form["code"][:6]:
            return _json({"error": "invalid_request"}, 400)
        access = "at-" + secrets.token_urlsafe(16)
        self.grants["token:" + access] = grant
        body: dict[str, Any] = {"access_token": access, "token_type": "bearer", "expires_in": 3600}
        if self.kind == "oidc":
            body["id_token"] = self._id_token(grant)
        if self.kind == "vk":
            body.update(user_id=grant.user.get("sub"), state=grant.params.get("state"), scope="vkid.personal_info")
        return _json(body)

    def _id_token(self, grant: Grant) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.url,
            "sub": grant.user["sub"],
            "aud": self.client_id,
            "iat": now,
            "exp": now + 300,
            "nonce": grant.params.get("nonce"),
        }
        if self.fault == "wrong_aud":
            claims["aud"] = "someone-else"
        if self.fault == "no_nonce":
            claims.pop("nonce")
        if self.fault == "wrong_nonce":
            claims["nonce"] = "not-the-nonce"
        if self.fault == "wrong_iss":
            claims["iss"] = "https://evil.example"
        key = self.foreign if self.fault == "foreign_key" else self.key
        return jwt.encode({"alg": "RS256", "kid": "fake-1"}, claims, key)

    def _userinfo(self, path: str, headers: dict[str, str], form: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        auth = headers.get("authorization", "")
        token = form.get("access_token", "") if path == "/oauth2/user_info" else auth.split(" ", 1)[-1]
        scheme_ok = path == "/oauth2/user_info" or auth.startswith("OAuth " if path == "/info" else "Bearer ")
        grant = self.grants.get("token:" + token)
        if grant is None or not scheme_ok:
            return _json({"error": "invalid_token"}, 401)
        u = grant.user
        if path == "/info":
            body: dict[str, Any] = {
                "id": u["sub"],
                "login": "ivan",
                "client_id": self.client_id,
                "first_name": u.get("given_name"),
                "last_name": u.get("family_name"),
                "default_email": u.get("email"),
                "emails": [u.get("email")],
            }
            if u.get("phone_number"):
                body["default_phone"] = {"id": 12345678, "number": u["phone_number"]}
            return _json(body)
        if path == "/oauth2/user_info":
            return _json(
                {
                    "user": {
                        "user_id": u["sub"],
                        "first_name": u.get("given_name"),
                        "last_name": u.get("family_name"),
                        "email": u.get("email"),
                        "phone": (u.get("phone_number") or "").lstrip("+"),
                        "avatar": "",
                    }
                }
            )
        return _json(u)


def _json(body: object, status: int = 200) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": "application/json"}, json.dumps(body).encode()


class _Handler(BaseHTTPRequestHandler):
    fake: FakeProvider

    def _serve(self, method: str) -> None:
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length).decode() if length else ""
        form = {k: v[0] for k, v in parse_qs(raw).items()}
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            status, extra, body = self.server.fake.handle(method, parts.path, query, form, headers)  # type: ignore[attr-defined]
            self.send_response(status)
            for k, v in extra.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self._serve("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._serve("POST")

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
        pass


class Served:
    """A fake provider on 127.0.0.1, its port chosen by the system; stopped by :meth:`close`."""

    def __init__(self, kind: str) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.daemon_threads = True
        self.fake = FakeProvider(kind)
        self.fake.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.server.fake = self.fake  # type: ignore[attr-defined]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
