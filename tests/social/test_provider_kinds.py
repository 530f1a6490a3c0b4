"""The built-in kinds against local servers answering like the providers' documented endpoints
(``fake_providers``): Yandex ID and VK ID sign-up and sign-in; and every way an OpenID provider's
answer can be wrong (issue 11 §3) — a clear Russian page or JSON error, nothing half-written."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from dostup.persistence.models import Account, Credential, Flow, SecurityEvent
from tests.flows.settings_support import shown
from tests.social.conftest import providers_env
from tests.social.fake_providers import Served
from tests.social.support import Social
from tests.support import Surface


@pytest.fixture(scope="module")
def fakes() -> Iterator[dict[str, Served]]:
    served = {kind: Served(kind) for kind in ("yandex", "vk", "oidc")}
    yield served
    for s in served.values():
        s.close()


@pytest.fixture
def settings_overrides(fakes: dict[str, Served]) -> dict[str, str]:
    for s in fakes.values():
        s.fake.fault = ""
        s.fake.requests.clear()
    return providers_env(
        fakes["yandex"].fake.setting("yandex", "Яндекс ID"),
        fakes["vk"].fake.setting("vk", "VK ID", trusted=True),
        fakes["oidc"].fake.setting("bank", "Банк"),
    )


async def _count(services: Any, model: Any, *where: Any) -> int:
    async with services.db.read() as s:
        return int((await s.execute(select(func.count()).select_from(model).where(*where))).scalar_one())


@pytest.mark.parametrize("pid", ["yandex", "vk"])
async def test_yandex_and_vk_register_and_sign_in(
    pid: str, surface: Surface, services: Any, fakes: dict[str, Served]
) -> None:
    fake = fakes[pid].fake
    phone = "+79120000201" if pid == "yandex" else "+79120000202"
    fake.user = {
        "sub": f"{pid}-42-{surface.name}",
        "given_name": "Мария",
        "family_name": "Соколова",
        "email": f"maria.{pid}.{surface.name}@example.com",
        "phone_number": phone,
    }
    social = Social(surface)
    r = await social.round_trip(pid)
    assert social.outcome(r) == "register", r
    flow_id = social.signup_flow(r)
    prefill = (await surface.client.get(f"/api/v1/registration/social/{flow_id}")).json()["prefill"]
    assert prefill["phone"] == phone and prefill["given_name"] == "Мария"
    r = await social.register(flow_id, phone=phone, consent_personal_data=True)
    assert r.ok, r
    # VK is trusted and says the phone is confirmed: no code; Yandex is not trusted: a code is sent
    assert ("flow_id" in r.data) is (pid == "yandex")
    if pid == "yandex":
        from tests.support import last_code

        assert (await surface.confirm(r.data["flow_id"], await last_code(surface.client, phone))).ok
    assert (await surface.logout()).ok
    surface.token = None
    assert social.outcome(await social.round_trip(pid)) == "signed_in"
    who = await surface.whoami()
    assert who.ok and who.data["account"]["phone"] == phone and who.data["session"]["amr"] == ["fed"]
    # what went over the wire: PKCE S256 and state always; the secret in the Basic header for Yandex
    authorize = [q for m, p, q, _ in fake.requests if p == "/authorize"][-1]
    assert authorize["code_challenge_method"] == "S256" and authorize["state"] and "nonce" not in authorize
    token = [f for m, p, _, f in fake.requests if p in ("/token", "/oauth2/auth")][-1]
    assert "client_secret" not in token and token["code_verifier"]
    if pid == "vk":
        assert token["device_id"].startswith("device-") and authorize["scope"] == "vkid.personal_info email phone"


async def test_openid_request_carries_pkce_state_nonce_and_basic_auth(
    surface: Surface, services: Any, fakes: dict[str, Served]
) -> None:
    fake = fakes["oidc"].fake
    fake.user = {"sub": f"bank-1-{surface.name}", "email": "olga@example.com", "email_verified": True}
    r = await Social(surface).round_trip("bank")
    assert Social.outcome(r) == "register", r
    q = [q for _, p, q, _ in fake.requests if p == "/authorize"][-1]
    assert q["code_challenge_method"] == "S256" and len(q["nonce"]) >= 32 and len(q["state"]) >= 24
    assert q["scope"] == "openid profile email"  # the discovery lists no ``phone`` scope: not asked
    assert q["redirect_uri"] == "http://testserver/social/bank/callback"


FAULTS = {
    "foreign_key": (401, "ответ не прошёл проверку"),
    "wrong_aud": (401, "ответ не прошёл проверку"),
    "no_nonce": (401, "ответ не прошёл проверку"),
    "wrong_nonce": (401, "ответ не прошёл проверку"),
    "wrong_iss": (401, "ответ не прошёл проверку"),
    "bad_code": (401, "ответ не прошёл проверку"),
    "500": (503, "Банк сейчас не отвечает"),
    "timeout": (503, "Банк сейчас не отвечает"),
}


@pytest.mark.parametrize("fault", list(FAULTS))
async def test_a_bad_provider_answer_writes_nothing(
    fault: str, surface: Surface, services: Any, fakes: dict[str, Served]
) -> None:
    fake = fakes["oidc"].fake
    fake.user = {"sub": f"bank-2-{surface.name}", "email": "petr@example.com", "email_verified": True}
    fake.fault = fault
    fake.delay = 1.5  # the provider's timeout is 1 s in these settings
    r = await Social(surface).round_trip("bank")
    status, text = FAULTS[fault]
    assert not r.ok and r.status == status, (fault, r)
    assert text in shown(r), shown(r)
    assert await _count(services, Account) == 0 and await _count(services, Credential) == 0
    assert await _count(services, Flow, Flow.kind == "social_signup") == 0
    events = await _count(services, SecurityEvent, SecurityEvent.kind == "login", SecurityEvent.outcome == "failure")
    assert events == 1  # the refusal is a security event


async def test_a_provider_down_at_the_start_leaves_no_flow(
    surface: Surface, services: Any, fakes: dict[str, Served]
) -> None:
    fakes["oidc"].fake.fault = "discovery"
    r = await Social(surface).start("bank")
    assert not r.ok and r.status == 503 and "Банк сейчас не отвечает" in shown(r), r
    assert await _count(services, Flow, Flow.kind == "social") == 0


def test_fake_checks_client_secret_basic() -> None:
    """The fake itself refuses a token request without the Basic header (so the tests above prove it is sent)."""
    served = Served("oidc")
    try:
        status, _, _ = served.fake.handle("POST", "/token", {}, {"code": "x"}, {})
        assert status == 401
        auth = "Basic " + base64.b64encode(b"dostup-client:wrong").decode()
        assert served.fake.handle("POST", "/token", {}, {"code": "x"}, {"authorization": auth})[0] == 401
    finally:
        served.close()
