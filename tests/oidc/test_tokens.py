"""Refresh rotation, replay, revocation, introspection: what a leaked credential can still do (issue 12 §1, §4)."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from dostup.core.clock import FrozenClock
from dostup.services import Services
from tests.oidc.support import (
    add_client,
    code_for,
    exchange,
    pkce,
    secret_auth,
    signed_in_browser,
    tokens_for,
)

OFFLINE = {"scope": "openid profile offline_access", "prompt": "consent"}


async def _userinfo(http: httpx.AsyncClient, access: str) -> httpx.Response:
    return await http.get("/oauth2/userinfo", headers={"Authorization": f"Bearer {access}"})


async def _refresh(http: httpx.AsyncClient, rp: dict[str, str], token: str) -> httpx.Response:
    return await http.post("/oauth2/token", data={"grant_type": "refresh_token", "refresh_token": token},
                           auth=secret_auth(rp))


async def test_offline_access_with_prompt_consent_gives_a_refresh_token_that_rotates(
        services: Services, client_factory: Callable[..., httpx.AsyncClient]) -> None:
    rp = await add_client(services)
    http = client_factory()
    tokens = await tokens_for(services, http, await signed_in_browser(client_factory(), services), rp, **OFFLINE)
    first = tokens["refresh_token"]
    rotated = await _refresh(http, rp, first)
    assert rotated.status_code == 200, rotated.text
    second = rotated.json()["refresh_token"]
    assert second != first
    assert (await _userinfo(http, rotated.json()["access_token"])).status_code == 200


async def test_offline_access_without_prompt_consent_is_ignored(
        services: Services, client_factory: Callable[..., httpx.AsyncClient]) -> None:
    rp = await add_client(services)
    http = client_factory()
    tokens = await tokens_for(services, http, await signed_in_browser(client_factory(), services), rp,
                              scope="openid offline_access")
    assert "refresh_token" not in tokens and "offline_access" not in tokens["scope"]


async def test_a_reused_refresh_token_revokes_its_whole_family(
        services: Services, client_factory: Callable[..., httpx.AsyncClient]) -> None:
    rp = await add_client(services)
    http = client_factory()
    tokens = await tokens_for(services, http, await signed_in_browser(client_factory(), services), rp, **OFFLINE)
    rotated = (await _refresh(http, rp, tokens["refresh_token"])).json()
    replay = await _refresh(http, rp, tokens["refresh_token"])
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    assert (await _refresh(http, rp, rotated["refresh_token"])).json()["error"] == "invalid_grant"
    assert (await _userinfo(http, rotated["access_token"])).status_code == 401
    assert (await _userinfo(http, tokens["access_token"])).status_code == 401


async def test_a_refresh_token_of_another_client_is_refused_and_not_spent(
        services: Services, client_factory: Callable[..., httpx.AsyncClient]) -> None:
    rp = await add_client(services)
    other = await add_client(services, name="Другой")
    http = client_factory()
    tokens = await tokens_for(services, http, await signed_in_browser(client_factory(), services), rp, **OFFLINE)
    stolen = await _refresh(http, other, tokens["refresh_token"])
    assert stolen.status_code == 400 and stolen.json()["error"] == "invalid_grant"
    assert (await _refresh(http, rp, tokens["refresh_token"])).status_code == 200


async def test_a_replayed_code_fails_and_revokes_the_tokens_it_issued(
        services: Services, client_factory: Callable[..., httpx.AsyncClient]) -> None:
    rp = await add_client(services)
    http = client_factory()
    browser = await signed_in_browser(client_factory(), services)
    verifier, challenge = pkce()
    got = await code_for(browser, rp["client_id"], code_challenge=challenge, code_challenge_method="S256")
    first = await exchange(http, rp, got["code"], verifier)
    assert first.status_code == 200
    access = first.json()["access_token"]
    assert (await _userinfo(http, access)).status_code == 200
    replay = await exchange(http, rp, got["code"], verifier)
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    refused = await _userinfo(http, access)
    assert refused.status_code == 401 and 'error="invalid_token"' in refused.headers["www-authenticate"]
    intro = await http.post("/oauth2/introspect", data={"token": access}, auth=secret_auth(rp))
    assert intro.json() == {"active": False}


async def test_a_code_expires_after_60_seconds(
        services: Services, client_factory: Callable[..., httpx.AsyncClient], clock: FrozenClock) -> None:
    rp = await add_client(services)
    browser = await signed_in_browser(client_factory(), services)
    verifier, challenge = pkce()
    got = await code_for(browser, rp["client_id"], code_challenge=challenge, code_challenge_method="S256")
    clock.advance(seconds=61)
    late = await exchange(client_factory(), rp, got["code"], verifier)
    assert late.status_code == 400 and late.json()["error"] == "invalid_grant"


async def test_introspection_describes_a_live_token_and_revocation_ends_it(
        services: Services, client_factory: Callable[..., httpx.AsyncClient]) -> None:
    rp = await add_client(services)
    http = client_factory()
    tokens = await tokens_for(services, http, await signed_in_browser(client_factory(), services), rp, **OFFLINE)
    live = (await http.post("/oauth2/introspect", data={"token": tokens["access_token"]}, auth=secret_auth(rp))).json()
    assert live["active"] is True and live["client_id"] == rp["client_id"] and "profile" in live["scope"]
    assert live["acr"] == "urn:dostup:loa:1:aal1"
    unauth = await http.post("/oauth2/introspect", data={"token": tokens["access_token"]})
    assert unauth.status_code == 401 and unauth.json()["error"] == "invalid_client"
    revoked = await http.post("/oauth2/revoke", data={"token": tokens["refresh_token"],
                                                      "token_type_hint": "refresh_token"}, auth=secret_auth(rp))
    assert revoked.status_code == 200
    assert (await _refresh(http, rp, tokens["refresh_token"])).json()["error"] == "invalid_grant"
    assert (await _userinfo(http, tokens["access_token"])).status_code == 401  # the grant's access tokens too


async def test_an_expired_or_tampered_access_token_is_refused_at_userinfo(
        services: Services, client_factory: Callable[..., httpx.AsyncClient], clock: FrozenClock) -> None:
    rp = await add_client(services)
    http = client_factory()
    tokens = await tokens_for(services, http, await signed_in_browser(client_factory(), services), rp)
    head, body, sig = tokens["access_token"].split(".")
    tampered = f"{head}.{body[:-2]}{'A' if body[-2] != 'A' else 'B'}{body[-1]}.{sig}"
    for bad in (tampered, "not-a-token", "a.b.c", "x" * 5000, ""):
        resp = await _userinfo(http, bad)
        assert resp.status_code == 401, bad[:20]
    clock.advance(seconds=301)
    assert (await _userinfo(http, tokens["access_token"])).status_code == 401


async def test_the_token_endpoint_answers_bad_input_with_rfc_errors(
        services: Services, client_factory: Callable[..., httpx.AsyncClient]) -> None:
    rp = await add_client(services)
    http = client_factory()
    cases = [
        ({"grant_type": "password", "username": "a", "password": "b"}, secret_auth(rp), "unsupported_grant_type"),
        ({"grant_type": "authorization_code", "code": "nope", "redirect_uri": "https://rp.example/cb"},
         secret_auth(rp), "invalid_grant"),
        ({"grant_type": "authorization_code", "code": "nope"}, (rp["client_id"], "wrong"), "invalid_client"),
        ({"grant_type": "authorization_code"}, secret_auth(rp), "invalid_request"),
        ({"grant_type": "refresh_token", "refresh_token": "x" * 300}, secret_auth(rp), "invalid_grant"),
        ({"grant_type": "authorization_code", "code": "x" * 9000}, secret_auth(rp), "invalid_request"),
    ]
    for data, auth, error in cases:
        resp = await http.post("/oauth2/token", data=data, auth=auth)
        assert resp.status_code in (400, 401), (data, resp.status_code, resp.text)
        assert resp.json()["error"] == error, (data, resp.json())
    garbage = await http.post("/oauth2/token", content=b"\xff\xfe{", headers={"content-type": "application/json"})
    assert garbage.status_code == 400 and garbage.json()["error"] == "invalid_request"


async def test_an_access_token_revoked_on_its_own_is_refused_and_its_grant_goes_on(
        services: Services, client_factory: Callable[..., httpx.AsyncClient]) -> None:
    """RFC 7009 for one access token: userinfo and introspection refuse it at once (it has a row
    from then on); the grant is not revoked, so its refresh token still gives a working token."""
    rp = await add_client(services)
    http = client_factory()
    tokens = await tokens_for(services, http, await signed_in_browser(client_factory(), services), rp, **OFFLINE)
    access = tokens["access_token"]
    for _ in range(2):  # revoking it again answers the same (RFC 7009 §2.2)
        revoked = await http.post("/oauth2/revoke", data={"token": access, "token_type_hint": "access_token"},
                                  auth=secret_auth(rp))
        assert revoked.status_code == 200, revoked.text
    assert (await _userinfo(http, access)).status_code == 401
    intro = await http.post("/oauth2/introspect", data={"token": access}, auth=secret_auth(rp))
    assert intro.json() == {"active": False}
    fresh = await _refresh(http, rp, tokens["refresh_token"])
    assert fresh.status_code == 200, fresh.text
    assert (await _userinfo(http, fresh.json()["access_token"])).status_code == 200
    assert (await _userinfo(http, access)).status_code == 401  # still
