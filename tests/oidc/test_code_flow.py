"""Code flow + PKCE end to end: authorize, consent, token, ID token, userinfo (issue 12 §1–2)."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from dostup.services import Services
from tests.oidc.support import REDIRECT, add_client, code_for, pkce, signed_in_browser, start, tokens_for
from tests.support import UiSurface


def _claims(token: str) -> dict[str, Any]:
    part = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))  # type: ignore[no-any-return]


async def test_a_confidential_client_gets_a_signed_id_token_and_userinfo_after_consent(
        services: Services, client_factory: Callable[..., httpx.AsyncClient]) -> None:
    rp = await add_client(services)
    browser = await signed_in_browser(client_factory(), services)
    verifier, challenge = pkce()
    got = await code_for(browser, rp["client_id"], code_challenge=challenge, code_challenge_method="S256")
    assert got["state"] == "st-1"
    http = client_factory()
    resp = await http.post("/oauth2/token", data={"grant_type": "authorization_code", "code": got["code"],
                                                  "redirect_uri": REDIRECT, "code_verifier": verifier},
                           auth=(rp["client_id"], rp["client_secret"]))
    assert resp.status_code == 200, resp.text
    tokens = resp.json()
    assert "refresh_token" not in tokens  # no offline_access asked
    keys = KeySet.import_key_set((await http.get("/oauth2/jwks")).json())
    id_token = jwt.decode(tokens["id_token"], keys)
    claims = id_token.claims
    assert claims["iss"] == "http://testserver" and claims["aud"] == rp["client_id"]
    assert claims["nonce"] == "n-1" and claims["acr"] == "urn:dostup:loa:1:aal1" and claims["amr"] == ["pwd"]
    assert "auth_time" in claims
    access = _claims(tokens["access_token"])
    assert access["client_id"] == rp["client_id"] and access["sub"] == claims["sub"]
    info = await http.get("/oauth2/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert info.status_code == 200, info.text
    assert info.json()["family_name"] == "Петров" and info.json()["phone_number"] == "+79120000001"
    assert "email" not in info.json()


async def test_the_consent_screen_names_the_partner_the_data_and_the_masked_phone(
        services: Services, client_factory: Callable[..., httpx.AsyncClient]) -> None:
    rp = await add_client(services, name="Магазин «Ромашка»")
    browser = await signed_in_browser(client_factory(), services)
    _, challenge = pkce()
    page = await start(browser, rp["client_id"], code_challenge=challenge, code_challenge_method="S256")
    assert page.status_code == 200
    assert "Магазин «Ромашка»" in page.text or "Магазин &laquo;Ромашка&raquo;" in page.text or "Ромашка" in page.text
    assert "Разрешить" in page.text and "Отказать" in page.text
    assert "Фамилия, имя: Петров Иван" in page.text
    assert "+7 *** ***-00-01" in page.text


async def test_a_remembered_consent_skips_the_screen_until_withdrawn(
        services: Services, client_factory: Callable[..., httpx.AsyncClient]) -> None:
    rp = await add_client(services)
    browser = await signed_in_browser(client_factory(), services)
    _, challenge = pkce()
    await code_for(browser, rp["client_id"], code_challenge=challenge, code_challenge_method="S256")
    again = await start(browser, rp["client_id"], code_challenge=challenge, code_challenge_method="S256")
    assert again.status_code == 302 and "code=" in again.headers["location"]
    apps = await browser.client.get("/settings/apps")
    assert "Приложения с доступом" in apps.text and "Партнёр" in apps.text
    csrf = await browser.csrf("/settings/apps")
    await browser.client.post("/settings/apps/withdraw", data={"csrf_token": csrf, "client_id": rp["client_id"]})
    third = await start(browser, rp["client_id"], code_challenge=challenge, code_challenge_method="S256")
    assert third.status_code == 200 and "Разрешить" in third.text


class _Apps:
    """«Приложения с доступом» on one surface: list the partners, withdraw one."""

    def __init__(self, kind: str, browser: UiSurface) -> None:
        self.kind, self.browser = kind, browser

    async def names(self) -> list[str]:
        if self.kind == "api":
            resp = await self.browser.client.get("/api/v1/settings/apps")
            return [a["name"] for a in resp.json()]
        page = (await self.browser.client.get("/settings/apps")).text
        return re.findall(r"<strong>([^<]+)</strong>", page)

    async def withdraw(self, client_id: str) -> None:
        if self.kind == "api":
            resp = await self.browser.client.delete(f"/api/v1/settings/apps/{client_id}",
                                                    headers={"Origin": "http://testserver"})
            assert resp.status_code == 204, resp.text
            return
        csrf = await self.browser.csrf("/settings/apps")
        resp = await self.browser.client.post("/settings/apps/withdraw", data={"csrf_token": csrf, "client_id": client_id})
        assert resp.status_code == 303


@pytest.mark.parametrize("kind", ["ui", "api"])
async def test_withdrawing_access_ends_the_partners_tokens_on_both_surfaces(
        services: Services, client_factory: Callable[..., httpx.AsyncClient], kind: str) -> None:
    rp = await add_client(services, name="Магазин")
    http = client_factory()
    browser = await signed_in_browser(client_factory(), services)
    tokens = await tokens_for(services, http, browser, rp)
    apps = _Apps(kind, browser)
    assert await apps.names() == ["Магазин"]
    await apps.withdraw(rp["client_id"])
    assert await apps.names() == []
    assert (await http.get("/oauth2/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
            ).status_code == 401


@pytest.mark.parametrize("settings_overrides", [{"DOSTUP_LEVELS__ENABLED": "true"}, {}], ids=["levels on", "levels off"])
async def test_a_standard_account_gets_level_2_in_its_acr_where_levels_are_on(
        services: Services, client_factory: Callable[..., httpx.AsyncClient], settings_overrides: dict[str, str]) -> None:
    """SPEC §4.8: the stored level is the ``acr``'s (``urn:dostup:loa:2:…`` once the profile was checked) —
    where levels are on; a cabinet that turned them off vouches for level 1 only, as its discovery says."""
    from sqlalchemy import select

    from dostup.persistence.models import Account
    from dostup.persistence.models_levels import IdentityProfile

    on = bool(settings_overrides)
    rp = await add_client(services, min_level=2 if on else 1)
    browser = await signed_in_browser(client_factory(), services)
    async with services.db.write() as s:
        account_id = (await s.execute(select(Account.id).where(Account.phone == "+79120000001"))).scalar_one()
        s.add(IdentityProfile(account_id=account_id, level=2, no_middle_name=False, updated_at=services.clock.now()))
    verifier, challenge = pkce()
    got = await code_for(browser, rp["client_id"], code_challenge=challenge, code_challenge_method="S256")
    http = client_factory()
    resp = await http.post("/oauth2/token", data={"grant_type": "authorization_code", "code": got["code"],
                                                  "redirect_uri": REDIRECT, "code_verifier": verifier},
                           auth=(rp["client_id"], rp["client_secret"]))
    assert resp.status_code == 200, resp.text
    acr = _claims(resp.json()["id_token"])["acr"]
    assert acr == ("urn:dostup:loa:2:aal1" if on else "urn:dostup:loa:1:aal1")
    supported = (await http.get("/.well-known/openid-configuration")).json()["acr_values_supported"]
    assert acr in supported


@pytest.mark.parametrize("settings_overrides", [{"DOSTUP_LEVELS__ENABLED": "true"}], ids=["levels on"])
async def test_an_account_confirmed_by_a_letters_code_gets_level_3_in_its_acr(
        services: Services, client_factory: Callable[..., httpx.AsyncClient]) -> None:
    """SPEC §4.8: the code of a registered letter makes the account «Подтверждённая», and the partner's ``acr``
    says so (``urn:dostup:loa:3:…``)."""
    from sqlalchemy import select

    from dostup.core.context import Context
    from dostup.persistence.models import Account
    from dostup.persistence.models_levels import IdentityProfile

    rp = await add_client(services, min_level=3)
    browser = await signed_in_browser(client_factory(), services)
    async with services.db.write() as s:
        account_id = (await s.execute(select(Account.id).where(Account.phone == "+79120000001"))).scalar_one()
        s.add(IdentityProfile(account_id=account_id, level=2, no_middle_name=False, updated_at=services.clock.now()))
    staff = Context(ip="10.0.0.1")
    await services.letters.order(account_id, {"postcode": "170100", "region": "Тверская область", "city": "Тверь",
                                              "house": "5"}, Context())
    [letter] = (await services.print_queue.waiting("staff", "печать писем", None, staff)).items
    await services.print_queue.mark_printed("staff", [letter.id], "печать писем", staff)
    assert (await services.letters.enter_code(account_id, letter.code, Context())).level == "confirmed"
    verifier, challenge = pkce()
    got = await code_for(browser, rp["client_id"], code_challenge=challenge, code_challenge_method="S256")
    resp = await client_factory().post("/oauth2/token", data={
        "grant_type": "authorization_code", "code": got["code"], "redirect_uri": REDIRECT, "code_verifier": verifier},
        auth=(rp["client_id"], rp["client_secret"]))
    assert resp.status_code == 200, resp.text
    assert _claims(resp.json()["id_token"])["acr"] == "urn:dostup:loa:3:aal1"
