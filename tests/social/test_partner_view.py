"""What a partner of Dostup's OpenID Connect provider (issue 12) sees of a social sign-in (issue 11):
``amr`` ``["fed"]`` — a value beyond RFC 8176's registry, so discovery lists it among the ``amr``
values Dostup issues — and the ``acr`` of one factor.  Both backends."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.flows.helpers import phone_e164
from tests.oidc.support import add_client, tokens_for
from tests.social.conftest import providers_env
from tests.social.support import NodeProvider, Social
from tests.support import UiSurface


@pytest.fixture
def settings_overrides(op: NodeProvider) -> dict[str, str]:
    return providers_env(op.setting("op-trusted", "Банк ID", trusted=True))


async def test_a_partners_id_token_says_fed_and_discovery_lists_it(
    services: Any, op: NodeProvider, client_factory: Callable[..., httpx.AsyncClient]
) -> None:
    browser = UiSurface(client_factory())
    phone = phone_e164(240)
    social = Social(browser)
    flow_id = social.signup_flow(
        await social.round_trip("op-trusted", op.person("partner-fed", phone_number=phone, phone_number_verified=True))
    )
    assert (await social.register(flow_id, phone=phone, consent_personal_data=True)).ok  # signed in at once
    assert (await browser.whoami()).data["session"]["amr"] == ["fed"]
    http = client_factory()
    tokens = await tokens_for(services, http, browser, await add_client(services))
    claims = jwt.decode(tokens["id_token"], KeySet.import_key_set((await http.get("/oauth2/jwks")).json())).claims
    assert claims["amr"] == ["fed"] and claims["acr"] == "urn:dostup:loa:1:aal1"
    discovery = (await http.get("/.well-known/openid-configuration")).json()
    assert claims["acr"] in discovery["acr_values_supported"]
    assert set(claims["amr"]) <= set(discovery["amr_values_supported"])
    assert {"pwd", "otp", "mfa", "fed"} <= set(discovery["amr_values_supported"])
