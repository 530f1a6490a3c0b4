"""The authorization endpoint: exact redirect URIs, PKCE, prompt, max_age, levels (issue 12 §1, §2, §4)."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from dostup.core.clock import FrozenClock
from dostup.services import Services
from tests.oidc.support import (
    REDIRECT,
    add_client,
    code_for,
    decide,
    exchange,
    pkce,
    query_of,
    signed_in_browser,
    start,
)
from tests.support import UiSurface


async def test_an_unregistered_redirect_uri_gets_an_error_page_never_a_redirect(
        services: Services, client_factory: Callable[..., httpx.AsyncClient]) -> None:
    rp = await add_client(services)
    browser = await signed_in_browser(client_factory(), services)
    for uri in ("https://evil.example/cb", REDIRECT + "/", REDIRECT + "?x=1", "https://RP.example/cb"):
        resp = await start(browser, rp["client_id"], redirect_uri=uri)
        assert resp.status_code == 400 and "location" not in resp.headers, uri
        assert "адрес возврата не совпадает" in resp.text
    unknown = await start(browser, "no-such-client")
    assert unknown.status_code == 400 and "location" not in unknown.headers


async def test_response_type_token_and_bad_pkce_are_sent_back_as_rfc_errors(
        services: Services, client_factory: Callable[..., httpx.AsyncClient]) -> None:
    rp = await add_client(services)
    browser = await signed_in_browser(client_factory(), services)
    token = await start(browser, rp["client_id"], response_type="token")
    assert token.status_code == 302
    assert query_of(token.headers["location"])["error"] == "unsupported_response_type"
    plain = await start(browser, rp["client_id"], code_challenge="a" * 43, code_challenge_method="plain")
    assert query_of(plain.headers["location"])["error"] == "invalid_request"
    assert query_of(plain.headers["location"])["state"] == "st-1"
    huge = await browser.client.get("/oauth2/authorize?client_id=" + rp["client_id"] + "&state=" + "x" * 5000)
    assert huge.status_code == 400 and "location" not in huge.headers


async def test_a_public_client_must_use_pkce_s256_and_the_verifier_must_match(
        services: Services, client_factory: Callable[..., httpx.AsyncClient]) -> None:
    rp = await add_client(services, public=True)
    assert "client_secret" not in rp
    browser = await signed_in_browser(client_factory(), services)
    without = await start(browser, rp["client_id"])
    assert query_of(without.headers["location"])["error"] == "invalid_request"
    verifier, challenge = pkce()
    got = await code_for(browser, rp["client_id"], code_challenge=challenge, code_challenge_method="S256")
    http = client_factory()
    missing = await exchange(http, rp, got["code"])
    assert missing.status_code == 400 and missing.json()["error"] == "invalid_request"
    got = await code_for(browser, rp["client_id"], code_challenge=challenge, code_challenge_method="S256")
    wrong = await exchange(http, rp, got["code"], pkce()[0])
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    got = await code_for(browser, rp["client_id"], code_challenge=challenge, code_challenge_method="S256")
    ok = await exchange(http, rp, got["code"], verifier)
    assert ok.status_code == 200 and "id_token" in ok.json()


async def test_a_code_is_bound_to_its_redirect_uri_and_client(
        services: Services, client_factory: Callable[..., httpx.AsyncClient]) -> None:
    rp = await add_client(services, redirect_uris=[REDIRECT, "https://rp.example/other"])
    other = await add_client(services)
    browser = await signed_in_browser(client_factory(), services)
    http = client_factory()
    verifier, challenge = pkce()
    got = await code_for(browser, rp["client_id"], code_challenge=challenge, code_challenge_method="S256")
    moved = await exchange(http, rp, got["code"], verifier, redirect_uri="https://rp.example/other")
    assert moved.status_code == 400 and moved.json()["error"] == "invalid_grant"
    got = await code_for(browser, rp["client_id"], code_challenge=challenge, code_challenge_method="S256")
    assert (await exchange(http, other, got["code"], verifier)).json()["error"] == "invalid_grant"


async def test_prompt_none_answers_login_required_or_consent_required_without_a_page(
        services: Services, client_factory: Callable[..., httpx.AsyncClient]) -> None:
    rp = await add_client(services)
    anonymous = UiSurface(client_factory())
    resp = await start(anonymous, rp["client_id"], prompt="none")
    assert query_of(resp.headers["location"])["error"] == "login_required"
    browser = await signed_in_browser(client_factory(), services)
    _, challenge = pkce()
    resp = await start(browser, rp["client_id"], prompt="none", code_challenge=challenge,
                       code_challenge_method="S256")
    assert query_of(resp.headers["location"])["error"] == "consent_required"


async def test_signing_in_on_dostup_pages_comes_back_to_the_partner(
        services: Services, client_factory: Callable[..., httpx.AsyncClient]) -> None:
    rp = await add_client(services)
    browser = await signed_in_browser(client_factory(), services)
    await browser.logout()
    _, challenge = pkce()
    resp = await start(browser, rp["client_id"], code_challenge=challenge, code_challenge_method="S256")
    assert resp.status_code == 303 and resp.headers["location"].startswith("/login?return_to=")
    back = resp.headers["location"].split("return_to=")[1]
    signed = await browser.login(method="phone", phone="+79120000001", country="RU", password="Tundra-Lantern-42",
                                 return_to=back.replace("%2F", "/").replace("%3F", "?").replace("%3D", "="))
    assert signed.ok and signed.data["location"].startswith("/oauth2/authorize/resume?id=")
    consent = await browser.client.get(signed.data["location"])
    assert consent.status_code == 200 and "Разрешить" in consent.text
    done = await decide(browser, consent)
    assert done.status_code == 302 and "code=" in done.headers["location"]


async def test_max_age_and_prompt_login_send_a_signed_in_user_to_prove_it_again(
        services: Services, client_factory: Callable[..., httpx.AsyncClient], clock: FrozenClock) -> None:
    rp = await add_client(services)
    browser = await signed_in_browser(client_factory(), services)
    _, challenge = pkce()
    await code_for(browser, rp["client_id"], code_challenge=challenge, code_challenge_method="S256")
    clock.advance(seconds=120)
    resp = await start(browser, rp["client_id"], max_age="60", code_challenge=challenge, code_challenge_method="S256")
    assert resp.status_code == 303 and resp.headers["location"].startswith("/reauth?return_to=")
    resp = await start(browser, rp["client_id"], prompt="login", code_challenge=challenge,
                       code_challenge_method="S256")
    assert resp.headers["location"].startswith("/reauth?return_to=")
    fresh = await start(browser, rp["client_id"], max_age="600", code_challenge=challenge,
                        code_challenge_method="S256")
    assert fresh.status_code == 302 and "code=" in fresh.headers["location"]
    bad = await start(browser, rp["client_id"], max_age="soon", code_challenge=challenge, code_challenge_method="S256")
    assert query_of(bad.headers["location"])["error"] == "invalid_request"


async def test_a_level_above_the_users_is_explained_and_the_partner_gets_access_denied(
        services: Services, client_factory: Callable[..., httpx.AsyncClient]) -> None:
    rp = await add_client(services, min_level=2)
    browser = await signed_in_browser(client_factory(), services)
    _, challenge = pkce()
    page = await start(browser, rp["client_id"], code_challenge=challenge, code_challenge_method="S256")
    assert page.status_code == 200 and "уровня 2" in page.text and "уровень 1" in page.text
    back = await decide(browser, page, "deny")
    got = query_of(back.headers["location"])
    assert got["error"] == "access_denied" and "2 is required" in got["error_description"] and got["state"] == "st-1"
    plain = await add_client(services)
    asked = await start(browser, plain["client_id"], acr_values="urn:dostup:loa:3", code_challenge=challenge,
                        code_challenge_method="S256")
    assert asked.status_code == 200 and "уровня 3" in asked.text


async def test_refusing_consent_sends_access_denied(
        services: Services, client_factory: Callable[..., httpx.AsyncClient]) -> None:
    rp = await add_client(services)
    browser = await signed_in_browser(client_factory(), services)
    _, challenge = pkce()
    page = await start(browser, rp["client_id"], code_challenge=challenge, code_challenge_method="S256")
    refused = await decide(browser, page, "deny")
    assert query_of(refused.headers["location"])["error"] == "access_denied"


async def test_a_consent_decision_needs_the_csrf_token(
        services: Services, client_factory: Callable[..., httpx.AsyncClient]) -> None:
    rp = await add_client(services)
    browser = await signed_in_browser(client_factory(), services)
    _, challenge = pkce()
    page = await start(browser, rp["client_id"], code_challenge=challenge, code_challenge_method="S256")
    rid = page.text.split('name="request" value="')[1].split('"')[0]
    forged = await browser.client.post("/oauth2/authorize/decision", data={"request": rid, "decision": "allow"})
    assert forged.status_code == 403


async def test_login_hint_opens_the_matching_sign_in_tab_filled_in(
        services: Services, client_factory: Callable[..., httpx.AsyncClient]) -> None:
    rp = await add_client(services)
    anonymous = UiSurface(client_factory())
    _, challenge = pkce()
    resp = await start(anonymous, rp["client_id"], login_hint="+79161234567", code_challenge=challenge,
                       code_challenge_method="S256")
    assert resp.status_code == 303 and "method=phone" in resp.headers["location"]
    page = await anonymous.client.get(resp.headers["location"])
    assert page.status_code == 200 and 'name="phone"' in page.text and 'value="+79161234567"' in page.text


async def test_the_authorization_request_may_come_as_a_posted_form(
        services: Services, client_factory: Callable[..., httpx.AsyncClient]) -> None:
    rp = await add_client(services)
    browser = await signed_in_browser(client_factory(), services)
    _, challenge = pkce()
    resp = await browser.client.post("/oauth2/authorize", data={
        "response_type": "code", "client_id": rp["client_id"], "redirect_uri": REDIRECT, "scope": "openid",
        "state": "posted", "code_challenge": challenge, "code_challenge_method": "S256"})
    assert resp.status_code == 200 and "Разрешить" in resp.text
    done = await decide(browser, resp)
    assert query_of(done.headers["location"])["state"] == "posted"
