"""The code exchange's own checks on its direct path (``dostup/oidc/provider/exchange.py``): PKCE
for confidential clients on both secret methods, a refused exchange spends the code, and the
tokens are the ones Authlib's path issues (issue 12 §1, §4; RFC 7636 §4.6, RFC 9700 §4.8.2)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from dostup.oidc.provider import keys, signer, tokens
from dostup.oidc.provider.keys import SigningKey
from dostup.services import Services
from tests.oidc.support import REDIRECT, add_client, code_for, pkce, signed_in_browser, unverified


async def _post(http: httpx.AsyncClient, rp: dict[str, str], how: str, **data: str) -> httpx.Response:
    body = {"grant_type": "authorization_code", "redirect_uri": REDIRECT, **data}
    if how == "basic":
        return await http.post("/oauth2/token", data=body, auth=(rp["client_id"], rp["client_secret"]))
    return await http.post("/oauth2/token", data={**body, "client_id": rp["client_id"],
                                                  "client_secret": rp["client_secret"]})


@pytest.mark.parametrize("how", ["basic", "post"])
async def test_a_confidential_client_is_held_to_its_pkce_challenge_and_a_refused_code_is_spent(
        services: Services, client_factory: Callable[..., httpx.AsyncClient], how: str) -> None:
    rp = await add_client(services)
    http = client_factory()
    browser = await signed_in_browser(client_factory(), services)
    verifier, challenge = pkce()
    pkce_params = {"code_challenge": challenge, "code_challenge_method": "S256"}
    got = await code_for(browser, rp["client_id"], **pkce_params)
    wrong = await _post(http, rp, how, code=got["code"], code_verifier=pkce()[0])
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    again = await _post(http, rp, how, code=got["code"], code_verifier=verifier)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"  # spent by the refused try
    got = await code_for(browser, rp["client_id"], **pkce_params)
    missing = await _post(http, rp, how, code=got["code"])
    assert missing.status_code == 400 and missing.json()["error"] == "invalid_request"
    got = await code_for(browser, rp["client_id"], **pkce_params)
    malformed = await _post(http, rp, how, code=got["code"], code_verifier="short")
    assert malformed.status_code == 400 and malformed.json()["error"] == "invalid_request"
    got = await code_for(browser, rp["client_id"])  # no challenge at the authorization request
    unasked = await _post(http, rp, how, code=got["code"], code_verifier=verifier)
    assert unasked.status_code == 400 and unasked.json()["error"] == "invalid_request"
    got = await code_for(browser, rp["client_id"], **pkce_params)
    moved = await _post(http, rp, how, code=got["code"], code_verifier=verifier, redirect_uri=REDIRECT + "/x")
    assert moved.status_code == 400 and moved.json()["error"] == "invalid_grant"
    got = await code_for(browser, rp["client_id"], **pkce_params)
    ok = await _post(http, rp, how, code=got["code"], code_verifier=verifier)
    assert ok.status_code == 200, ok.text
    assert ok.headers["cache-control"] == "no-store" and ok.headers["pragma"] == "no-cache"


async def test_a_wrong_secret_gets_invalid_client_and_leaves_the_code_unspent(
        services: Services, client_factory: Callable[..., httpx.AsyncClient]) -> None:
    rp = await add_client(services)
    http = client_factory()
    browser = await signed_in_browser(client_factory(), services)
    verifier, challenge = pkce()
    got = await code_for(browser, rp["client_id"], code_challenge=challenge, code_challenge_method="S256")
    for how in ("basic", "post"):
        bad = await _post(http, {**rp, "client_secret": "x" * 43}, how, code=got["code"], code_verifier=verifier)
        assert bad.status_code == 401 and bad.json()["error"] == "invalid_client", bad.text
    assert "basic" in (await _post(http, {**rp, "client_secret": "x" * 43}, "basic", code=got["code"],
                                   code_verifier=verifier)).headers.get("www-authenticate", "").lower()
    ok = await _post(http, rp, "basic", code=got["code"], code_verifier=verifier)
    assert ok.status_code == 200, ok.text


async def test_the_direct_path_issues_the_same_tokens_as_authlibs_path(
        services: Services, client_factory: Callable[..., httpx.AsyncClient]) -> None:
    """``client_secret_basic`` takes the direct path, a query string sends the request to Authlib."""
    rp = await add_client(services)
    http = client_factory()
    browser = await signed_in_browser(client_factory(), services)
    shapes = []
    for path in ("/oauth2/token", "/oauth2/token?via=authlib"):
        verifier, challenge = pkce()
        got = await code_for(browser, rp["client_id"], code_challenge=challenge, code_challenge_method="S256")
        resp = await http.post(path, data={"grant_type": "authorization_code", "code": got["code"],
                                           "redirect_uri": REDIRECT, "code_verifier": verifier},
                               auth=(rp["client_id"], rp["client_secret"]))
        assert resp.status_code == 200, resp.text
        body = resp.json()
        (id_head, id_claims), (at_head, at_claims) = unverified(body["id_token"]), unverified(body["access_token"])
        shapes.append((sorted(body), id_head, sorted(id_claims), at_head, sorted(at_claims), id_claims["sub"],
                       id_claims["nonce"], id_claims["acr"], id_claims["amr"], at_claims["scope"]))
    assert shapes[0] == shapes[1]


async def test_the_direct_path_signs_both_tokens_on_a_thread_of_its_own(
        services: Services, client_factory: Callable[..., httpx.AsyncClient], monkeypatch: pytest.MonkeyPatch) -> None:
    """The access token's ES256 signature, then the ID token's RS256 one, run on the ``oidc-signer``
    thread (OpenSSL signs without the GIL, beside the loop: bench/RESULTS.md, 2026-12-04); both
    verify against the JWKS, and the ID token's ``at_hash`` is the access token's."""
    signed_by: list[tuple[str, str]] = []
    real = keys.signature

    def recording(key: SigningKey, data: bytes) -> bytes:
        signed_by.append((key.alg, threading.current_thread().name))
        return real(key, data)

    monkeypatch.setattr(keys, "signature", recording)
    monkeypatch.setattr(signer, "signature", recording)
    rp = await add_client(services)
    browser = await signed_in_browser(client_factory(), services)
    verifier, challenge = pkce()
    got = await code_for(browser, rp["client_id"], code_challenge=challenge, code_challenge_method="S256")
    ok = await _post(client_factory(), rp, "basic", code=got["code"], code_verifier=verifier)
    assert ok.status_code == 200, ok.text
    assert signed_by == [("ES256", "oidc-signer"), ("RS256", "oidc-signer")]
    jwks = KeySet.import_key_set((await client_factory().get("/oauth2/jwks")).json())
    for name in ("access_token", "id_token"):
        assert jwt.decode(ok.json()[name], jwks).claims["aud"] == rp["client_id"]
    id_claims = jwt.decode(ok.json()["id_token"], jwks).claims
    assert id_claims["at_hash"] == tokens.at_hash(ok.json()["access_token"])
    assert list(id_claims)[-4:] == ["amr", "at_hash", "sub", "sid"]  # in its place, as Authlib writes the claims


async def test_a_failed_signature_on_the_signing_thread_fails_the_request_and_the_thread_goes_on(
        services: Services, app: Any, monkeypatch: pytest.MonkeyPatch, client_factory: Callable[..., httpx.AsyncClient],
        ) -> None:
    rp = await add_client(services)
    browser = await signed_in_browser(client_factory(), services)
    verifier, challenge = pkce()
    first = await code_for(browser, rp["client_id"], code_challenge=challenge, code_challenge_method="S256")
    second = await code_for(browser, rp["client_id"], code_challenge=challenge, code_challenge_method="S256")
    real = signer.signature

    def failing(key: SigningKey, data: bytes) -> bytes:
        raise ValueError("no signature")

    monkeypatch.setattr(signer, "signature", failing)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
                                 base_url="http://testserver") as http:
        failed = await _post(http, rp, "basic", code=first["code"], code_verifier=verifier)
        assert failed.status_code == 500
        monkeypatch.setattr(signer, "signature", real)
        ok = await _post(http, rp, "basic", code=second["code"], code_verifier=verifier)
    assert ok.status_code == 200, ok.text


async def test_a_nonce_that_reads_like_the_at_hash_slot_stays_the_nonce(services: Services) -> None:
    """The ID token's ``at_hash`` goes into the last slot of its JSON: a client's ``nonce`` (before
    it) may hold the slot's own text and still comes back as sent."""
    signing = (await services.oidc.keys.snapshot()).signing
    es, rs = signing["ES256"], signing["RS256"]
    claims = tokens.id_token_claims(issuer="https://op.example", client_id="rp", now=1, ttl=60,
                                    nonce=signer.AT_HASH_SLOT, auth_time=1, acr="urn:dostup:loa:1:aal1",
                                    amr=("pwd",), at_hash=signer.AT_HASH_SLOT, sub="sub-1", sid="sid-1")
    pair = signer.Signer()
    try:
        access, id_token = await pair.sign_pair(es, tokens.access_token_header(es), {"jti": "g.1"}, rs,
                                                tokens.id_token_header(rs), claims)
    finally:
        pair.close()
    payload = unverified(id_token)[1]
    assert payload["nonce"] == signer.AT_HASH_SLOT and payload["at_hash"] == tokens.at_hash(access)
    assert list(payload) == list(claims)
