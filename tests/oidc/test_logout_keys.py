"""Logout both ways, signing-key rotation, discovery, client authentication, subjects (issue 12 §1, §3)."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from authlib.oidc.discovery import OpenIDProviderMetadata
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet

from dostup.core.clock import FrozenClock
from dostup.oidc.provider.claims import subject_id
from dostup.services import Services
from tests.flows.helpers import PASSWORD, phone_e164
from tests.oidc.support import (
    REDIRECT,
    Receiver,
    add_client,
    code_for,
    exchange,
    pkce,
    signed_in_browser,
    tokens_for,
    unverified,
)
from tests.support import UiSurface


async def test_discovery_lists_the_endpoints_scopes_and_every_acr_value(
        services: Services, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch) -> None:
    doc = (await client.get("/.well-known/openid-configuration")).json()
    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")  # the test server's issuer is http://testserver
    OpenIDProviderMetadata(doc).validate()
    assert doc["issuer"] == "http://testserver"
    for key in ("revocation_endpoint", "introspection_endpoint", "end_session_endpoint", "jwks_uri"):
        assert doc[key].startswith("http://testserver/")
    assert "offline_access" in doc["scopes_supported"] and doc["code_challenge_methods_supported"] == ["S256"]
    assert doc["acr_values_supported"] == ["urn:dostup:loa:1:aal1", "urn:dostup:loa:1:aal2"]
    assert set(doc["token_endpoint_auth_methods_supported"]) == {
        "client_secret_basic", "client_secret_post", "private_key_jwt", "none"}
    jwks = (await client.get("/oauth2/jwks")).json()
    assert {k["alg"] for k in jwks["keys"]} == {"ES256", "RS256"}
    assert all("d" not in k for k in jwks["keys"])  # public parts only


async def test_keys_are_stored_sealed_and_rotation_publishes_before_signing(
        services: Services, client_factory: Callable[..., httpx.AsyncClient], clock: FrozenClock) -> None:
    from sqlalchemy import select

    from dostup.persistence.models_oidc import OidcKey

    rp = await add_client(services)
    http = client_factory()
    browser = await signed_in_browser(client_factory(), services)
    old = await tokens_for(services, http, browser, rp)
    async with services.db.read() as s:
        sealed = list((await s.execute(select(OidcKey.private_enc))).scalars())
    assert sealed and all('"d"' not in v and '"kty"' not in v for v in sealed)  # base64 may hold kty by chance
    await services.oidc.keys.rotate(600)
    clock.advance(seconds=10)
    published = (await http.get("/oauth2/jwks")).json()["keys"]
    assert len(published) == 4
    still_old = await tokens_for(services, http, browser, rp)
    assert jwt.decode(still_old["id_token"], KeySet.import_key_set({"keys": published})).header["kid"] == \
        jwt.decode(old["id_token"], KeySet.import_key_set({"keys": published})).header["kid"]
    clock.advance(seconds=600)
    new = await tokens_for(services, http, browser, rp)
    assert unverified(new["id_token"])[0]["kid"] != unverified(old["id_token"])[0]["kid"]
    assert (await http.get("/oauth2/userinfo", headers={"Authorization": f"Bearer {new['access_token']}"})
            ).status_code == 200
    clock.advance(seconds=2000)
    assert len((await http.get("/oauth2/jwks")).json()["keys"]) == 2  # old public keys dropped after their tokens


async def test_rp_initiated_logout_with_an_id_token_hint_signs_out_and_returns_to_the_partner(
        services: Services, client_factory: Callable[..., httpx.AsyncClient]) -> None:
    rp = await add_client(services)
    browser = await signed_in_browser(client_factory(), services)
    tokens = await tokens_for(services, client_factory(), browser, rp)
    resp = await browser.client.get("/oauth2/logout", params={
        "id_token_hint": tokens["id_token"], "post_logout_redirect_uri": "https://rp.example/bye", "state": "s9"})
    assert resp.status_code == 302 and resp.headers["location"] == "https://rp.example/bye?state=s9"
    assert (await browser.whoami()).status == 401
    unregistered = await client_factory().get("/oauth2/logout", params={
        "id_token_hint": tokens["id_token"], "post_logout_redirect_uri": "https://evil.example/"})
    assert "location" not in unregistered.headers


async def test_rp_initiated_logout_without_a_hint_asks_to_confirm_with_vyiti(
        services: Services, client_factory: Callable[..., httpx.AsyncClient]) -> None:
    browser = await signed_in_browser(client_factory(), services)
    page = await browser.client.get("/oauth2/logout")
    assert page.status_code == 200 and "Выйти" in page.text
    assert (await browser.whoami()).ok
    csrf = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    done = await browser.client.post("/oauth2/logout", data={"csrf_token": csrf, "confirm": "1"})
    assert done.status_code == 200 and (await browser.whoami()).status == 401
    bad = await client_factory().get("/oauth2/logout", params={"id_token_hint": "a.b.c"})
    assert bad.status_code == 400


@pytest.fixture
def partner() -> Iterator[Receiver]:
    receiver = Receiver()
    yield receiver
    receiver.close()


async def _logout_claims(http: httpx.AsyncClient, services: Services, partner: Receiver) -> list[dict[str, Any]]:
    await services.oidc.notifier.drain()
    keys = KeySet.import_key_set((await http.get("/oauth2/jwks")).json())
    return [jwt.decode(form["logout_token"][0], keys).claims for form in partner.received]


async def test_signing_out_of_dostup_tells_back_channel_partners_and_ends_their_tokens(
        services: Services, client_factory: Callable[..., httpx.AsyncClient], partner: Receiver) -> None:
    rp = await add_client(services, backchannel_logout_uri=partner.url)
    quiet = await add_client(services, name="Без уведомлений")
    http = client_factory()
    browser = await signed_in_browser(client_factory(), services)
    tokens = await tokens_for(services, http, browser, rp)
    other = await tokens_for(services, http, browser, quiet)
    await browser.logout()
    [logout] = await _logout_claims(http, services, partner)
    id_claims = jwt.decode(tokens["id_token"], KeySet.import_key_set((await http.get("/oauth2/jwks")).json())).claims
    assert logout["sid"] == id_claims["sid"] and logout["sub"] == id_claims["sub"] and "nonce" not in logout
    assert "http://schemas.openid.net/event/backchannel-logout" in logout["events"]
    for access in (tokens["access_token"], other["access_token"]):
        assert (await http.get("/oauth2/userinfo", headers={"Authorization": f"Bearer {access}"})).status_code == 401


async def test_a_partner_whose_code_was_never_exchanged_is_not_told_and_its_late_tokens_are_dead(
        services: Services, client_factory: Callable[..., httpx.AsyncClient], partner: Receiver) -> None:
    """A grant is written with its code: signing out ends it too, so a code exchanged after the
    sign-out gives tokens refused at once; but its partner was never handed tokens, and is not told."""
    rp = await add_client(services, backchannel_logout_uri=partner.url)
    idle_partner = Receiver()
    try:
        idle = await add_client(services, name="Код не обменян", backchannel_logout_uri=idle_partner.url)
        http = client_factory()
        browser = await signed_in_browser(client_factory(), services)
        await tokens_for(services, http, browser, rp)
        verifier, challenge = pkce()
        got = await code_for(browser, idle["client_id"], code_challenge=challenge, code_challenge_method="S256")
        await browser.logout()
        assert len(await _logout_claims(http, services, partner)) == 1
        assert idle_partner.received == []
        late = await exchange(http, idle, got["code"], verifier)
        assert late.status_code == 200, late.text
        info = await http.get("/oauth2/userinfo", headers={"Authorization": f"Bearer {late.json()['access_token']}"})
        assert info.status_code == 401
    finally:
        idle_partner.close()


async def test_a_session_rotated_by_reauthentication_keeps_its_sid_and_its_partners_hear_of_the_sign_out(
        services: Services, client_factory: Callable[..., httpx.AsyncClient], partner: Receiver) -> None:
    rp = await add_client(services, backchannel_logout_uri=partner.url)
    http = client_factory()
    browser = await signed_in_browser(client_factory(), services, n=2)
    before = await tokens_for(services, http, browser, rp)
    old_cookie = browser.client.cookies.get("dostup_session")
    done = await browser.post_form("/reauth", {"method": "password", "password": PASSWORD, "return_to": "/settings"},
                                   "/reauth")
    assert done.status_code == 303 and browser.client.cookies.get("dostup_session") != old_cookie  # rotated
    after = await tokens_for(services, http, browser, rp)
    assert unverified(after["id_token"])[1]["sid"] == unverified(before["id_token"])[1]["sid"]
    await browser.logout()
    [logout] = await _logout_claims(http, services, partner)
    assert logout["sid"] == unverified(before["id_token"])[1]["sid"]
    assert (await http.get("/oauth2/userinfo", headers={"Authorization": f"Bearer {before['access_token']}"})
            ).status_code == 401


async def test_ending_a_session_on_the_security_page_or_changing_the_password_signs_its_partners_out(
        services: Services, client_factory: Callable[..., httpx.AsyncClient], partner: Receiver) -> None:
    rp = await add_client(services, backchannel_logout_uri=partner.url)
    http = client_factory()
    phone_browser = await signed_in_browser(client_factory(), services, n=3)
    first = await tokens_for(services, http, phone_browser, rp)
    laptop = UiSurface(client_factory())
    assert (await laptop.login(method="phone", phone=phone_e164(3), password=PASSWORD)).ok
    second = await tokens_for(services, http, laptop, rp)
    sid_of = {unverified(t["id_token"])[1]["sid"]: t for t in (first, second)}
    assert len(sid_of) == 2
    page = (await laptop.client.get("/security")).text
    [ended] = re.findall(r'<tr class="session" data-session="([^"]+)"', page)  # not the laptop's («current»)
    resp = await laptop.post_form(f"/security/sessions/{ended}/end", {}, page="/security")
    assert resp.status_code == 303
    [one] = await _logout_claims(http, services, partner)
    assert sid_of[one["sid"]] is first
    third_browser = UiSurface(client_factory())
    assert (await third_browser.login(method="phone", phone=phone_e164(3), password=PASSWORD)).ok
    await tokens_for(services, http, third_browser, rp)
    partner.received.clear()
    changed = await laptop.post_form("/settings/password", {"old_password": PASSWORD, "new_password": "Совсем-новый-пароль-42",
                                                            "new_password_repeat": "Совсем-новый-пароль-42"}, "/settings/password")
    assert changed.status_code == 303, changed.text[:300]
    claims = await _logout_claims(http, services, partner)
    assert len(claims) == 1 and claims[0]["sid"] not in sid_of  # the third browser's; the laptop stays in
    assert (await http.get("/oauth2/userinfo", headers={"Authorization": f"Bearer {second['access_token']}"})
            ).status_code == 200


async def test_client_secret_post_and_private_key_jwt_authenticate_at_the_token_endpoint(
        services: Services, client_factory: Callable[..., httpx.AsyncClient]) -> None:
    http = client_factory()
    browser = await signed_in_browser(client_factory(), services)
    rp = await add_client(services)
    verifier, challenge = pkce()
    got = await code_for(browser, rp["client_id"], code_challenge=challenge, code_challenge_method="S256")
    post = await http.post("/oauth2/token", data={
        "grant_type": "authorization_code", "code": got["code"], "redirect_uri": REDIRECT, "code_verifier": verifier,
        "client_id": rp["client_id"], "client_secret": rp["client_secret"]})
    assert post.status_code == 200, post.text
    key = ECKey.generate_key("P-256", parameters={"kid": "rp-1", "alg": "ES256"}, private=True)
    jwt_rp = await add_client(services, jwks={"keys": [key.as_dict(private=False)]})
    assert "client_secret" not in jwt_rp and jwt_rp["token_endpoint_auth_method"] == "private_key_jwt"

    def assertion(jti: str) -> str:
        now = int(time.time())
        return jwt.encode({"alg": "ES256", "kid": "rp-1"}, {
            "iss": jwt_rp["client_id"], "sub": jwt_rp["client_id"], "aud": "http://testserver/oauth2/token",
            "iat": now, "exp": now + 60, "jti": jti}, key)

    base = {"client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}
    got = await code_for(browser, jwt_rp["client_id"], code_challenge=challenge, code_challenge_method="S256")
    ok = await http.post("/oauth2/token", data={**base, "client_assertion": assertion("j-1"), "code": got["code"],
                                                "grant_type": "authorization_code", "redirect_uri": REDIRECT,
                                                "code_verifier": verifier})
    assert ok.status_code == 200, ok.text
    got = await code_for(browser, jwt_rp["client_id"], code_challenge=challenge, code_challenge_method="S256")
    replayed = await http.post("/oauth2/token", data={**base, "client_assertion": assertion("j-1"),
                                                      "code": got["code"], "grant_type": "authorization_code",
                                                      "redirect_uri": REDIRECT, "code_verifier": verifier})
    assert replayed.status_code in (400, 401) and replayed.json()["error"] == "invalid_client"


async def test_pairwise_subjects_differ_per_partner_and_documents_need_the_scope(
        services: Services, client_factory: Callable[..., httpx.AsyncClient]) -> None:
    http = client_factory()
    browser = await signed_in_browser(client_factory(), services)
    a = await add_client(services, subject_type="pairwise", scopes="openid profile ru_documents")
    b = await add_client(services, subject_type="pairwise", redirect_uris=["https://b.example/cb"])
    public = await add_client(services)
    ta = await tokens_for(services, http, browser, a, scope="openid ru_documents")
    assert "ru_documents" in ta["scope"]
    info = (await http.get("/oauth2/userinfo", headers={"Authorization": f"Bearer {ta['access_token']}"})).json()
    assert "snils" in info or set(info) == {"sub"}  # released only under the scope (none on file here)
    tp = await tokens_for(services, http, browser, public, scope="openid ru_documents")
    assert "ru_documents" not in tp["scope"]  # a client not registered with it never gets it
    sub_a = unverified(ta["id_token"])[1]["sub"]
    sub_public = unverified(tp["id_token"])[1]["sub"]
    assert sub_a != sub_public and len(sub_a) == 40
    client_a, client_b = await services.oidc.clients.get(a["client_id"]), await services.oidc.clients.get(b["client_id"])
    assert client_a is not None and client_b is not None and client_b.sector == "b.example"
    account_id = unverified(tp["id_token"])[1]["sub"]
    assert subject_id(services.keyring, client_a, account_id) == sub_a
    assert subject_id(services.keyring, client_b, account_id) != sub_a


async def test_processes_starting_together_publish_one_first_pair_and_sign_with_it(services: Services) -> None:
    from sqlalchemy import delete

    from dostup.oidc.provider.keys import KeyStore
    from dostup.persistence.db import Database
    from dostup.persistence.models_oidc import OidcKey

    async with services.db.write() as s:
        await s.execute(delete(OidcKey))
    dbs = [Database(services.settings.database_url) for _ in range(3)]  # three processes' own connections
    try:
        stores = [KeyStore(db, services.keyring, services.clock, services.settings.oidc) for db in dbs]
        await asyncio.gather(*(store.ensure() for store in stores))
        snapshots = [await store.snapshot() for store in stores]
    finally:
        for db in dbs:
            await db.dispose()
    assert len(snapshots[0].jwks["keys"]) == 2  # one ES256 and one RS256 key, not one pair per process
    assert {tuple(sorted(k.kid for k in snap.signing.values())) for snap in snapshots} == {("es256-first", "rs256-first")}
