"""Administration of partners: the CLI's JSON and the admin API (issue 12 §3)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import httpx
from typer.testing import CliRunner

from dostup.cli import app
from dostup.services import Services
from tests.oidc.support import add_client, pkce, signed_in_browser, start, tokens_for
from tests.support import TEST_SECRET


def _cli(tmp_path: Path, *args: str) -> tuple[int, str, str]:
    env = {k: None for k in os.environ if k.startswith("DOSTUP_")}
    env.update({"DOSTUP_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/cli.db", "DOSTUP_SECRET_KEY": TEST_SECRET})
    result = CliRunner().invoke(app, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def test_the_cli_adds_lists_rotates_and_removes_clients_as_json(tmp_path: Path) -> None:
    code, out, _ = _cli(tmp_path, "admin", "add-client", "--name", "Магазин", "--redirect-uri",
                        "https://shop.example/cb", "--redirect-uri", "http://127.0.0.1:9000/cb",
                        "--post-logout-redirect-uri", "https://shop.example/bye", "--backchannel-logout-uri",
                        "https://shop.example/bc", "--min-level", "2", "--scopes", "openid profile phone")
    assert code == 0, out
    added = json.loads(out)
    assert added["client_secret"] and added["min_level"] == 2 and added["redirect_uris"][1] == "http://127.0.0.1:9000/cb"
    code, out, _ = _cli(tmp_path, "admin", "add-client", "--name", "SPA", "--redirect-uri", "https://spa.example/cb",
                        "--public")
    spa = json.loads(out)
    assert code == 0 and "client_secret" not in spa and spa["token_endpoint_auth_method"] == "none"
    listed = json.loads(_cli(tmp_path, "admin", "list-clients")[1])
    assert [c["name"] for c in listed] == ["Магазин", "SPA"] and all("client_secret" not in c for c in listed)
    rotated = json.loads(_cli(tmp_path, "admin", "rotate-client-secret", added["client_id"])[1])
    assert rotated["client_secret"] != added["client_secret"]
    assert _cli(tmp_path, "admin", "rotate-client-secret", spa["client_id"])[0] == 1
    removed = json.loads(_cli(tmp_path, "admin", "remove-client", added["client_id"])[1])
    assert removed["removed"] is True
    assert [c["name"] for c in json.loads(_cli(tmp_path, "admin", "list-clients")[1])] == ["SPA"]
    code, _, err = _cli(tmp_path, "admin", "remove-client", "nope")
    assert code == 1 and json.loads(err)["error"] == "client_not_found"
    code, _, err = _cli(tmp_path, "admin", "add-client", "--name", "x", "--redirect-uri", "http://evil.example/cb")
    assert code == 1 and json.loads(err)["error"] == "invalid"
    keys = json.loads(_cli(tmp_path, "admin", "rotate-keys", "--delay", "0")[1])
    assert len(keys["published"]) == 2 and len(keys["keys"]) >= 2


async def test_the_admin_api_manages_clients_with_an_admin_bearer_only(
        services: Services, client_factory: Callable[..., httpx.AsyncClient]) -> None:
    from tests.factories import staff_bearer

    http = client_factory()
    admin = await staff_bearer(http, services, 9999, "admin")
    body = {"name": "Партнёр API", "redirect_uris": ["https://api.example/cb"]}
    assert (await http.post("/api/v1/admin/oidc/clients", json=body)).status_code == 401
    created = await http.post("/api/v1/admin/oidc/clients", json=body, headers=admin)
    assert created.status_code == 201 and created.json()["client_secret"]
    cid = created.json()["client_id"]
    assert [c["client_id"] for c in (await http.get("/api/v1/admin/oidc/clients", headers=admin)).json()] == [cid]
    bad = await http.post("/api/v1/admin/oidc/clients", json={**body, "redirect_uris": ["javascript:alert(1)"]},
                          headers=admin)
    assert bad.status_code in (400, 422) and bad.json()["error"]["code"] == "invalid"
    assert (await http.post(f"/api/v1/admin/oidc/clients/{cid}/secret", headers=admin)).json()["client_secret"]
    assert (await http.delete(f"/api/v1/admin/oidc/clients/{cid}", headers=admin)).json()["removed"] is True
    assert (await http.delete(f"/api/v1/admin/oidc/clients/{cid}", headers=admin)).status_code == 404


async def test_removing_a_client_ends_its_tokens_and_its_sign_ins(
        services: Services, client_factory: Callable[..., httpx.AsyncClient]) -> None:
    rp = await add_client(services)
    http = client_factory()
    browser = await signed_in_browser(client_factory(), services)
    tokens = await tokens_for(services, http, browser, rp)
    await services.oidc.remove_client(rp["client_id"])
    assert (await http.get("/oauth2/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
            ).status_code == 401
    _, challenge = pkce()
    gone = await start(browser, rp["client_id"], code_challenge=challenge, code_challenge_method="S256")
    assert gone.status_code == 400 and "location" not in gone.headers
