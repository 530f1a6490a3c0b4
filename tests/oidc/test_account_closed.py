"""A partner's tokens of an account that is blocked by support or deleted by its owner: every grant
ends, offline ones too, so no refresh token of it gives a token again (found: a refresh token kept
working after the account was closed, and introspection called its access tokens active)."""

from __future__ import annotations

from collections.abc import Callable

import httpx
from sqlalchemy import select

from dostup.persistence.models import Account
from dostup.services import Services
from tests.factories import staff_bearer
from tests.flows.test_deletion import _delete, _reauth
from tests.oidc.support import add_client, secret_auth, signed_in_browser, tokens_for
from tests.oidc.test_tokens import OFFLINE, _refresh, _userinfo


async def _introspect(http: httpx.AsyncClient, rp: dict[str, str], token: str) -> bool:
    r = await http.post("/oauth2/introspect", data={"token": token}, auth=secret_auth(rp))
    assert r.status_code == 200, r.text
    return bool(r.json()["active"])


async def test_blocking_an_account_ends_its_partners_offline_grants(
        services: Services, client_factory: Callable[..., httpx.AsyncClient]) -> None:
    rp = await add_client(services)
    http = client_factory()
    tokens = await tokens_for(services, http, await signed_in_browser(client_factory(), services), rp, **OFFLINE)
    assert await _introspect(http, rp, tokens["access_token"])
    async with services.db.read() as s:
        account_id = (await s.execute(select(Account.id).where(Account.role == "customer"))).scalar_one()
    staff = client_factory()
    headers = await staff_bearer(staff, services, 390, "operator")
    r = await staff.post(f"/api/v1/admin/accounts/{account_id}/block", json={"reason": "Мошенничество, обращение 77"},
                         headers=headers)
    assert r.status_code == 204, r.text
    refused = await _refresh(http, rp, tokens["refresh_token"])
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
    assert not await _introspect(http, rp, tokens["access_token"])
    assert (await _userinfo(http, tokens["access_token"])).status_code == 401


async def test_deleting_an_account_ends_its_partners_offline_grants(
        services: Services, client_factory: Callable[..., httpx.AsyncClient]) -> None:
    rp = await add_client(services)
    http = client_factory()
    browser = await signed_in_browser(client_factory(), services)
    tokens = await tokens_for(services, http, browser, rp, **OFFLINE)
    if await _delete(browser) != 303:
        await _reauth(browser)
        assert await _delete(browser) == 303
    refused = await _refresh(http, rp, tokens["refresh_token"])
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
    assert not await _introspect(http, rp, tokens["access_token"])


async def test_a_refresh_token_gives_nothing_while_its_account_is_not_active_even_with_its_grant_alive(
        services: Services, client_factory: Callable[..., httpx.AsyncClient]) -> None:
    """Defence in depth: the refresh grant reads the account's state itself, so an account closed by a
    path that did not end its grants (a database restore, a direct change) gets no token either."""
    rp = await add_client(services)
    http = client_factory()
    tokens = await tokens_for(services, http, await signed_in_browser(client_factory(), services), rp, **OFFLINE)
    async with services.db.write() as s:
        account = (await s.execute(select(Account).where(Account.role == "customer"))).scalar_one()
        account.state = "blocked"
    refused = await _refresh(http, rp, tokens["refresh_token"])
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
    async with services.db.write() as s:
        (await s.execute(select(Account).where(Account.role == "customer"))).scalar_one().state = "active"
    again = await _refresh(http, rp, tokens["refresh_token"])  # not spent by the refused request
    assert again.status_code == 200, again.text
