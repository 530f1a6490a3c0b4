"""Every route of the JSON API, fed what a careless or hostile client sends, answers a 4xx with a Russian
message — never a 500, never an exception (SPEC §5: «Bad input always gets a clear, localised error and a
4xx»).  The other bad-input tests go field by field through each flow; this one walks the OpenAPI document,
so a route added tomorrow is covered the day it is added; the pages' forms are swept the same way, every
field any form or input model has set to one hostile value at a time, with a valid CSRF token.

For each operation: a body that is not JSON, JSON of the wrong shape (a list, a string, ``null``), and for
each property of its request model a value of the wrong type, a string far longer than any field, a NUL
byte and a lone surrogate escape; path parameters that name nothing (or are 300 characters long) and query
parameters of the wrong type.  It runs as a customer signed in with one factor (the public routes ignore
the bearer), as nobody with the bodies that fail before any check and, on the staff routes, as an
administrator with two factors.  A 2xx is allowed (an empty settings body may be a valid no-op);
a 5xx, an exception or a 4xx without a message fails.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

from pydantic import BaseModel

from dostup.web.app import API, OIDC, UI
from dostup.web.ui.render import _env
from tests.factories import make_account, sign_in, staff_bearer
from tests.flows.helpers import PASSWORD
from tests.support import UiSurface

NOT_JSON = [b"{", b"\xff\xfe", b"[]", b'"x"', b"null", b"{}"]
HUGE = "я" * 70_000  # past every field's length and the 64 KiB body limit
# Routes the sweep leaves to their own tests: they end the caller's session or account, whose bearer
# the sweep goes on using (their bad input is in test_sessions / test_deletion).
LEAVE = {("post", "/api/v1/logout"), ("post", "/api/v1/account/delete"), ("delete", "/api/v1/account")}


def _schema(doc: dict[str, Any], node: dict[str, Any] | None) -> dict[str, Any]:
    while node and "$ref" in node:
        node = doc["components"]["schemas"][node["$ref"].rsplit("/", 1)[-1]]
    if node and "anyOf" in node:
        return next((_schema(doc, n) for n in node["anyOf"] if n.get("type") != "null"), {})
    return node or {}


def _wrong(kind: str | None) -> list[Any]:
    """Values of another type than ``kind``, and hostile strings."""
    others: dict[str | None, list[Any]] = {"string": [{"a": 1}, ["x"], 10**30], "integer": ["x", 1.5, -10**30, [1]],
                                           "number": ["x", [1]], "boolean": ["maybe", {"a": 1}],
                                           "array": ["x", {"a": 1}, [{"a": [1]}]], "object": ["x", [1], 5]}
    return [*others.get(kind, [{"a": 1}, 10**30]), HUGE, "x" * 5000, "a\x00b", "\ud800", ""]


_PLAUSIBLE: dict[str | None, Any] = {"string": "Проверка", "integer": 1, "number": 1, "boolean": False, "array": [],
                                     "object": {}}


def _bodies(doc: dict[str, Any], operation: dict[str, Any]) -> list[bytes]:
    """Bodies that fail before any check, then, for each property, the others given a value of their type
    (so that the model's own checks pass where they can and the bad value goes on to the use-case) and
    this one each wrong value; an object property also gets each wrong value in each of its own properties."""
    content = operation.get("requestBody", {}).get("content", {})
    bodies = list(NOT_JSON)
    schema = _schema(doc, content.get("application/json", {}).get("schema"))
    props = {name: _schema(doc, prop) for name, prop in (schema.get("properties") or {}).items()}
    plausible = {name: _PLAUSIBLE.get(prop.get("type"), "Проверка") for name, prop in props.items()}
    for name, prop in props.items():
        for value in _wrong(prop.get("type")):
            bodies.append(json.dumps({**plausible, name: value}).encode())
        for sub, sub_prop in (prop.get("properties") or {}).items():
            for value in _wrong(_schema(doc, sub_prop).get("type")):
                bodies.append(json.dumps({**plausible, name: {sub: value}}).encode())
    return bodies


def _paths(path: str, operation: dict[str, Any]) -> list[str]:
    names = [p["name"] for p in operation.get("parameters", []) if p["in"] == "path"]
    filled = [path, path, path]
    for name in names:
        filled = [filled[0].replace("{" + name + "}", "nothing0000000000000000000000000"),
                  filled[1].replace("{" + name + "}", "x" * 300), filled[2].replace("{" + name + "}", "a%00%ff")]
    return filled if names else [path]


def _queries(operation: dict[str, Any]) -> list[dict[str, str]]:
    names = [p["name"] for p in operation.get("parameters", []) if p["in"] == "query"]
    return [{}] + [{n: v for n in names} for v in ("-1", "x" * 5000, "%ff", "\u0000")] if names else [{}]


def _failure(r: Any) -> str | None:
    """Why an answer to bad input is wrong, or None (the provider's OAuth errors are RFC 6749's codes)."""
    if r.status_code >= 500:
        return "a 5xx"
    if r.status_code >= 400 and r.headers.get("content-type", "").startswith("application/json") and not (
            r.url.path.startswith("/oauth2/")):
        message = json.dumps(r.json(), ensure_ascii=False)
        if not any("\u0400" <= ch <= "\u04ff" for ch in message):
            return "no Russian message"
    return None


async def _send(client: Any, failures: list[str], method: str, url: str, **kw: Any) -> None:
    try:
        r = await client.request(method, url, **kw)
    except Exception as exc:  # noqa: BLE001 - an exception out of the application is the failure looked for
        failures.append(f"{method.upper()} {url} {kw.get('content', kw.get('params'))!r:.120}: {exc!r:.200}")
        return
    why = _failure(r)
    if why:
        failures.append(f"{method.upper()} {url} {kw.get('content', kw.get('params'))!r:.120}: {why}, "
                        f"{r.status_code} {r.text[:200]}")


async def test_every_api_route_answers_bad_input_with_a_4xx(client_factory, services, app):
    doc = app.openapi()
    customer = client_factory()
    made = await make_account(services, 790)
    login = await customer.post("/api/v1/login", json={"method": "phone", "phone": made.phone, "password": PASSWORD})
    bearer = {"Authorization": f"Bearer {login.json()['session']['token']}"}
    admin = dict(await staff_bearer(client_factory(), services, 791, "admin"))
    nobody: dict[str, str] = {}
    swept, failures = 0, []
    for path, item in doc["paths"].items():
        if not path.startswith("/api/"):
            continue
        for method, operation in item.items():
            if method not in ("get", "post", "put", "patch", "delete") or (method, path) in LEAVE:
                continue
            who = [nobody, bearer] + ([admin] if "/admin/" in path or "/operator" in path else [])
            for url in _paths(path, operation):
                for headers in who:
                    if method == "get" or method == "delete":
                        for query in _queries(operation):
                            await _send(customer, failures, method, url, params=query, headers=headers)
                            swept += 1
                        continue
                    # the public routes ignore a bearer: nobody's calls need only what fails before any check
                    for body in _bodies(doc, operation) if headers else NOT_JSON:
                        await _send(customer, failures, method, url, content=body,
                                    headers={**headers, "Content-Type": "application/json"})
                        swept += 1
    assert swept > 3000, swept
    assert failures == [], "\n".join(failures)
    still = await customer.get("/api/v1/whoami", headers=bearer)
    assert still.status_code == 200  # the sweep ended no session of its own


def _page_routes() -> list[tuple[str, list[str], list[str]]]:
    """The pages' GET routes (the cabinet's, the OpenID Connect provider's): (path, its path parameters,
    its query parameters)."""
    found = []
    for route in (r for module in (*UI, *OIDC) for r in module.router.routes):
        dependant = getattr(route, "dependant", None)
        if dependant is None or "GET" not in getattr(route, "methods", ()):
            continue
        queries = {p.name for p in dependant.query_params}
        for sub in dependant.dependencies:
            queries |= {p.name for p in sub.query_params}
        found.append((route.path, [p.name for p in dependant.path_params], sorted(queries)))
    return found


async def test_every_page_answers_bad_query_and_path_parameters_with_a_4xx(client_factory, services, app):
    browser = client_factory()
    made = await make_account(services, 792)
    signed_in = await browser.post("/api/v1/login", json={"method": "phone", "phone": made.phone, "password": PASSWORD})
    cookie = {"Cookie": f"dostup_session={signed_in.json()['session']['token']}"}
    failures: list[str] = []
    swept = 0
    for path, path_params, queries in _page_routes():
        for value in ("nothing0000000000000000000000000", "x" * 300, "a\x00b", "%ff", "я"):
            url = path
            for name in path_params:
                url = url.replace("{" + name + "}", quote(value, safe="%"))
            for headers in ({}, cookie):
                params = {q: value for q in queries} if queries else {}
                await _send(browser, failures, "get", url, params=params, headers=headers, follow_redirects=False)
                swept += 1
    assert swept > 300, swept
    assert failures == [], "\n".join(failures)


TEMPLATES = Path(_env.loader.searchpath[0])  # type: ignore[union-attr]
_FIELD = re.compile(r"""<(?:input|select|textarea)[^>]*?\sname=["']([a-z_]+)["']""")
LEAVE_PAGES = {"/logout", "/settings/delete"}  # they end the session the sweep goes on using (test_deletion, test_sessions)


def _form_posts() -> tuple[list[str], list[str]]:
    """The pages' POST routes (path parameters filled with an id that names nothing), and every field name
    any template's form has."""
    names = {n for f in TEMPLATES.glob("*.html") for n in _FIELD.findall(f.read_text())}
    for module in (*API, *UI):  # the input models both surfaces parse
        for model in vars(module).values():
            if isinstance(model, type) and issubclass(model, BaseModel) and model.__module__ == module.__name__:
                names |= set(model.model_fields)
    names.discard("csrf_token")
    paths = sorted({re.sub(r"\{[^}]+\}", "nothing0000000000000000000000000", route.path)
                    for module in UI for route in module.router.routes
                    if "POST" in getattr(route, "methods", ()) and route.path not in LEAVE_PAGES})
    return paths, sorted(names)


async def test_every_form_answers_hostile_values_in_every_field_with_a_4xx(client_factory, services):
    paths, names = _form_posts()
    assert len(paths) > 50 and len(names) > 40, (len(paths), len(names))
    made = await make_account(services, 793)
    failures: list[str] = []
    for signed_in in (False, True):
        browser = UiSurface(client_factory())
        if signed_in:
            await sign_in(browser, made.phone)
        for path in paths:
            for value in ("a\x00b", "x" * 500, "я", "-1", ""):  # 500: every field too long, the body within its limit
                data = dict.fromkeys(names, value)
                data["csrf_token"] = await browser.csrf("/login")
                await _send(browser.client, failures, "post", path, data=data, follow_redirects=False)
        if signed_in:
            still = await browser.client.get("/settings", follow_redirects=False)
            assert still.status_code == 200, still.headers  # the sweep ended no session of its own
    assert failures == [], "\n".join(failures)


OAUTH_PARAMS = ("grant_type", "code", "redirect_uri", "client_id", "client_secret", "code_verifier", "refresh_token",
                "token", "token_type_hint", "scope", "response_type", "state", "nonce", "prompt", "id_token_hint",
                "post_logout_redirect_uri", "code_challenge", "code_challenge_method", "acr_values", "login_hint",
                "max_age", "ui_locales", "claims", "request", "decision", "access_token")
OAUTH_AUTH = ({}, {"Authorization": "Basic !!!"}, {"Authorization": "Basic " + base64.b64encode(b"a:b").decode()},
              {"Authorization": "Basic " + base64.b64encode("\x00:я".encode()).decode()},
              {"Authorization": "Bearer " + "x" * 5000}, {"Authorization": "Basic"})


def _oauth_posts() -> list[str]:
    return sorted({route.path for route in (*(r for m in OIDC for r in m.router.routes),)
                   if "POST" in getattr(route, "methods", ()) and route.path.startswith("/oauth2/")}
                  | {path for m in OIDC for path, _, methods in getattr(m, "PLAIN", ()) if "POST" in methods})


async def test_the_openid_connect_endpoints_answer_hostile_forms_and_credentials_with_a_4xx(client_factory):
    """The provider's form endpoints (token, revoke, introspect, userinfo, authorize, logout): every OAuth
    parameter set to a hostile value, each grant type, with no, broken or foreign client credentials."""
    client = client_factory()
    paths = _oauth_posts()
    assert {"/oauth2/token", "/oauth2/revoke", "/oauth2/introspect", "/oauth2/userinfo"} <= set(paths), paths
    failures: list[str] = []
    for path in paths:
        for headers in OAUTH_AUTH:
            for grant in ("authorization_code", "refresh_token", "client_credentials", "x"):
                for value in ("a\x00b", "x" * 2000, "я", "-1", "", "%ff"):
                    data = {**dict.fromkeys(OAUTH_PARAMS, value), "grant_type": grant}
                    await _send(client, failures, "post", path, data=data, headers=headers, follow_redirects=False)
    for value in ("a\x00b", "x" * 2000, "я", "-1", "", "%ff"):  # the same requests sent as a query
        for path in ("/oauth2/authorize", "/oauth2/logout"):
            await _send(client, failures, "get", path, params=dict.fromkeys(OAUTH_PARAMS, value), follow_redirects=False)
    assert failures == [], "\n".join(failures)


HOSTILE_HEADERS = [
    {"Accept-Language": "я".encode().decode("latin-1") * 300}, {"User-Agent": "x" * 10000},
    {"Cookie": "dostup_session=" + "x" * 5000}, {"Cookie": "lang=\xff\xfe; tz=../../etc/passwd"},
    {"Cookie": "tz=Europe/Nowhere"}, {"Cookie": "tz=" + "x" * 300}, {"Cookie": "dostup_device=" + "y" * 3000},
    {"Authorization": "Bearer \xff\xfe"}, {"Authorization": "Bearer " + "x" * 10000}, {"Authorization": "Basic \xff"},
    {"X-Forwarded-For": "not-an-ip, ,::::"}, {"Origin": "null"}, {"Origin": "http://evil.example"},
    {"Content-Type": "application/json; charset=utf-16"}, {"Content-Type": "multipart/form-data; boundary="},
    {"Content-Type": "application/x-www-form-urlencoded; charset=koi8-r"}, {"Host": "evil.example"},
]


async def test_hostile_headers_on_the_hot_and_public_calls_get_a_4xx_or_the_page(client_factory, services):
    """Headers a browser never sends (bytes that are no text, sizes past any field, a foreign Host or Origin,
    a charset nobody uses) on the pages and calls every visitor reaches, signed out and with a phone's password."""
    made = await make_account(services, 795)
    client = client_factory()
    login = json.dumps({"method": "phone", "phone": made.phone, "password": PASSWORD}).encode()
    calls = [("get", "/", None), ("get", "/cabinet", None), ("get", "/login", None), ("get", "/security", None),
             ("get", "/api/v1/whoami", None), ("post", "/api/v1/login", login), ("post", "/login", b"phone=1&password=2"),
             ("post", "/api/v1/login/passkey/options", b"{}"), ("get", "/.well-known/openid-configuration", None),
             ("post", "/oauth2/token", b"grant_type=x"), ("get", "/docs/agreement", None)]
    failures: list[str] = []
    for headers in HOSTILE_HEADERS:
        for method, url, body in calls:
            await _send(client, failures, method, url, content=body, follow_redirects=False,
                        headers={k: v.encode("latin-1") for k, v in headers.items()})
    assert failures == [], "\n".join(failures)
