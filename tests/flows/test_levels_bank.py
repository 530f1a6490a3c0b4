"""«Подтверждённая учётная запись» through a bank over OpenID Connect (SPEC §4.8) against a real certified OpenID
provider (panva's oidc-provider, tests/social/node) playing the bank, on both backends and both surfaces.

A «Стандартная» customer starts at the bank the operator marked ``confirms_identity``; Dostup asks for the
person's ``verified_claims`` by the ``claims`` parameter (and takes a confirmer's plain claims where it has no
verified ones); names (case- and ё/е-insensitively), birth date (exactly), SNILS and passport (where given) must
match the checked profile.  A match is «Подтверждённая», an event, a notice, a waiting letter cancelled; a
mismatch or a missing claim leaves the level and writes a failure event; every bad parameter is a 4xx that
writes nothing but that event; the callback is single-use; a provider that does not confirm identity, a level-1
and a level-3 account cannot start; the bank is never linked as a way in."""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from dostup.core.context import Context
from dostup.persistence.models import Account, Credential, Flow, SecurityEvent
from dostup.persistence.models_levels import IdentityProfile, VerificationRequest
from dostup.selfservice.verification.bank import TTL_SECONDS
from tests.factories import make_account, sign_in
from tests.flows.levels_support import GOSUSLUGI, SNILS, bearer
from tests.social.conftest import providers_env
from tests.social.support import NodeProvider, at_provider, node_provider, query_of
from tests.support import ApiSurface, Result, Surface, UiSurface, _api_result, outbox

BASE = "http://testserver"
PAGE = "/settings/identity/bank"
API = "/api/v1/account/identity/bank"
PIDS = ("bank", "idp", "bankonly", "flaky")
PERSON = {"family_name": "Семёнова", "given_name": "Анна", "middle_name": "Сергеевна", "birth_date": "1990-05-17",
          "snils": SNILS, "passport_series": "4508", "passport_number": "123456"}


@pytest.fixture(scope="module")
def op(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProvider]:
    with node_provider(tmp_path_factory.mktemp("bank"), [f"{BASE}{PAGE}/{p}/callback" for p in PIDS]) as provider:
        yield provider


@pytest.fixture
def levels_on() -> bool:
    return True


@pytest.fixture
def offline_banks() -> bool:
    return False


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def settings_overrides(op: NodeProvider, levels_on: bool, offline_banks: bool) -> dict[str, str]:
    banks = [op.setting("bank", "Банк ID", confirms_identity=True), op.setting("idp", "Тестовый ID"),
             op.setting("bankonly", "Почта Банк", confirms_identity=True, sign_in=False)]
    if offline_banks:  # one down altogether, one whose token endpoint does not answer
        dead = f"http://127.0.0.1:{_closed_port()}"
        banks += [op.setting("down", "Банк Офлайн", issuer=dead, confirms_identity=True, timeout_seconds=2),
                  op.setting("flaky", "Банк Шторм", token_endpoint=dead + "/token", confirms_identity=True,
                             timeout_seconds=2)]
    env = providers_env(*banks)
    return {**GOSUSLUGI, **env, "DOSTUP_LEVELS__ENABLED": "true" if levels_on else "false"}


def verified(**claims: Any) -> dict[str, Any]:
    """An Identity Assurance ``verified_claims`` object (a passport in the evidence)."""
    return {"verification": {"trust_framework": "ru_bank", "evidence": [
        {"type": "document", "document_details": {"type": "passport", "document_number": "4508 123456"}}]},
        "claims": claims}


BANK_PERSON = {"family_name": "СЕМЕНОВА", "given_name": "анна", "middle_name": "Сергеевна", "birthdate": "1990-05-17",
               "snils": "112-233-445 " + SNILS[-2:]}


async def customer(services: Any, surface: Surface, n: int, *, level: int = 2, **person: Any) -> str:
    """A signed-in customer whose full profile is stored at ``level`` (as a verifier would leave it)."""
    p = {**PERSON, **person}
    made = await make_account(services, n, f"b{n}@example.ru")
    async with services.db.write() as s:
        account = await s.get(Account, made.id)
        assert account is not None
        account.family_name, account.given_name = p["family_name"], p["given_name"]
        account.middle_name, account.snils = p["middle_name"], p["snils"]
        s.add(IdentityProfile(account_id=made.id, level=level, no_middle_name=not p["middle_name"],
                              birth_date=dt.date.fromisoformat(p["birth_date"]),
                              passport_series=p["passport_series"], passport_number=p["passport_number"],
                              updated_at=services.clock.now()))
    assert made.phone is not None
    await sign_in(surface, made.phone)
    return made.id


async def start(surface: Surface, pid: str = "bank") -> Result:
    if isinstance(surface, UiSurface):
        r = surface._result(await surface.post_form(f"{PAGE}/{pid}/start", {}, PAGE))
        if r.ok:
            r.data["url"] = r.data["location"]
        return r
    r = _api_result(await surface.client.post(f"{API}/{pid}/start", headers=bearer(surface)))
    if r.ok:
        r.data["url"] = r.data["authorization_url"]
    return r


async def callback(surface: Surface, params: dict[str, str], pid: str = "bank") -> Result:
    if isinstance(surface, UiSurface):
        return surface._result(await surface.client.get(f"{PAGE}/{pid}/callback", params=params))
    body = {k: params[k] for k in ("state", "code", "error") if k in params}
    return _api_result(await surface.client.post(f"{API}/{pid}/callback", json=body, headers=bearer(surface)))


async def at_bank(url: str, login: str, pid: str = "bank", *, deny: bool = False) -> dict[str, str]:
    return query_of(await at_provider(url, f"{BASE}{PAGE}/{pid}/callback", login, deny=deny))


async def round_trip(surface: Surface, login: str, pid: str = "bank") -> tuple[Result, dict[str, str]]:
    started = await start(surface, pid)
    assert started.ok, started
    params = await at_bank(started.data["url"], login, pid)
    return await callback(surface, params, pid), params


async def level_of(services: Any, account_id: str) -> int:
    async with services.db.read() as s:
        profile = await s.get(IdentityProfile, account_id)
    return profile.level if profile else 1


async def bank_events(services: Any, account_id: str) -> list[SecurityEvent]:
    async with services.db.read() as s:
        q = select(SecurityEvent).where(SecurityEvent.account_id == account_id,
                                        SecurityEvent.kind.in_(("identity_bank", "identity_confirmed_bank")))
        return list((await s.execute(q)).scalars())


async def bank_requests(services: Any, account_id: str) -> list[VerificationRequest]:
    async with services.db.read() as s:
        q = select(VerificationRequest).where(VerificationRequest.account_id == account_id,
                                              VerificationRequest.verifier == "bank")
        return list((await s.execute(q)).scalars())


async def links(services: Any) -> int:
    async with services.db.read() as s:
        q = select(func.count()).select_from(Credential).where(Credential.type == "social")
        return int((await s.execute(q)).scalar_one())


def confirmed(r: Result) -> bool:
    if isinstance(r.data.get("location"), str):
        return bool(r.data["location"] == PAGE + "?confirmed=1")
    return r.ok and r.data.get("level") == "confirmed"


async def assert_unchanged(services: Any, account_id: str) -> None:
    assert await level_of(services, account_id) == 2
    assert await bank_requests(services, account_id) == []
    assert await links(services) == 0


# -- confirmation --------------------------------------------------------------------------------------------


async def test_verified_claims_that_match_confirm_the_identity_once(surface: Surface, services: Any,
                                                                    op: NodeProvider, client_factory: Any) -> None:
    account_id = await customer(services, surface, 801)
    # the plain claims say something else: the verified ones stand over them
    login = op.person(f"anna-{surface.name}", family_name="Иванова", birthdate="1970-01-01",
                      verified_claims=verified(**BANK_PERSON))
    await services.letters.order(account_id, {"postcode": "170100", "region": "Тверская область", "city": "Тверь",
                                              "house": "5"}, Context(ip="127.0.0.1"))
    if isinstance(surface, UiSurface):
        cabinet = (await surface.client.get("/cabinet")).text
        assert f'href="{PAGE}"' in cabinet and "Подтвердить личность онлайн через банк" in cabinet
        assert f'href="{PAGE}"' in (await surface.client.get("/settings/identity")).text
        page = (await surface.client.get(PAGE)).text
        assert "Подтвердить личность через Банк ID" in page and "Тестовый ID" not in page
        assert "После проверки данных вы сразу получите подтверждённую учётную запись" in page
    else:
        view = (await surface.client.get(API, headers=bearer(surface))).json()
        assert view == {"level": "standard", "may_start": True, "banks": [
            {"id": "bank", "name": "Банк ID", "icon": ""}, {"id": "bankonly", "name": "Почта Банк", "icon": ""}]}

    started = await start(surface)
    assert started.ok, started
    url = started.data["url"]
    if isinstance(surface, ApiSurface):  # the flow's id is the state, its expiry in UTC
        assert f"state={started.data['flow_id']}" in url and started.data["expires_at"].endswith("Z")
    assert "claims=" in url and "verified_claims" in url and "code_challenge_method=S256" in url and "nonce=" in url
    params = await at_bank(url, login)
    r = await callback(surface, params)
    assert confirmed(r), r
    assert await level_of(services, account_id) == 3
    [req] = await bank_requests(services, account_id)
    assert (req.level, req.state, req.answered_by) == (3, "approved", "bank")
    assert req.data == {"provider": "bank", "subject": login, "verified_claims": True}
    [event] = await bank_events(services, account_id)
    assert (event.kind, event.outcome, event.detail["provider"]) == ("identity_confirmed_bank", "success", "bank")
    notices = [m for m in await outbox(client_factory()) if m["kind"] == "identity_confirmed_bank"]
    assert len(notices) == 1 and "личность подтверждена через банк" in notices[0]["text"]
    async with services.db.read() as s:  # the waiting letter is not needed now
        letter_states = (await s.execute(select(VerificationRequest.state).where(
            VerificationRequest.verifier == "letter"))).scalars().all()
    assert letter_states == ["cancelled"]
    assert await links(services) == 0  # confirmation does not make the bank a way in
    if isinstance(surface, UiSurface):
        assert "Личность подтверждена" in (await surface.client.get(r.data["location"])).text
        assert "Личность подтверждена через банк" in (await surface.client.get("/security")).text  # the history

    replay = await callback(surface, params)  # the callback is single-use
    assert replay.status == 409 and "уже использован" in replay.message, replay
    assert len(await bank_events(services, account_id)) == 2  # the replay's failure: nothing else
    assert len(await bank_requests(services, account_id)) == 1
    again = await start(surface)  # confirmed: nothing more to start
    assert again.status == 409 and "уже подтверждена" in again.message, again


async def test_a_confirming_banks_plain_claims_are_taken(surface: Surface, services: Any, op: NodeProvider) -> None:
    account_id = await customer(services, surface, 802, middle_name=None)
    login = op.person(f"plain-{surface.name}", family_name="семенова", given_name="АННА", birthdate="1990-05-17",
                      snils=SNILS, passport="4508-123456")
    r, _ = await round_trip(surface, login)
    assert confirmed(r), r
    [req] = await bank_requests(services, account_id)
    assert req.data["verified_claims"] is False


# -- refusals: the level stays, a failure event says why --------------------------------------------------------


@pytest.mark.parametrize(("claims", "code", "fields"), [
    ({"birthdate": "1990-05-18"}, "claims_mismatch", ["birthdate"]),
    ({"given_name": "Анн"}, "claims_mismatch", ["given_name"]),
    ({"middle_name": "Петровна"}, "claims_mismatch", ["middle_name"]),
    ({"snils": "123-456-789 64"}, "claims_mismatch", ["snils"]),
    ({"passport": "4508 654321"}, "claims_mismatch", ["passport"]),
    ({"birthdate": None}, "claims_missing", ["birthdate"]),
    ({"middle_name": None}, "claims_missing", ["middle_name"]),
    ({"family_name": None, "given_name": None}, "claims_missing", ["family_name", "given_name"]),
], ids=["birthdate", "given_name", "middle_name", "snils", "passport", "no_birthdate", "no_middle_name", "no_names"])
async def test_a_claim_that_differs_or_is_missing_leaves_the_level(
        surface: Surface, services: Any, op: NodeProvider, client_factory: Any, claims: dict[str, Any], code: str,
        fields: list[str]) -> None:
    account_id = await customer(services, surface, 803)
    person = {k: v for k, v in {**BANK_PERSON, **claims}.items() if v is not None}
    if "passport" in claims:  # a passport claim, not the evidence's (the evidence stands over it)
        element = {"verification": {"trust_framework": "ru_bank"}, "claims": person}
    else:
        element = verified(**person)
    login = op.person(f"diff-{surface.name}-{'-'.join(fields)}", verified_claims=element)
    r, _ = await round_trip(surface, login)
    assert r.status == 409 and (r.code or code) == code, r
    assert ("не совпадают" if code == "claims_mismatch" else "не передал") in r.message
    await assert_unchanged(services, account_id)
    [event] = await bank_events(services, account_id)
    assert (event.outcome, event.detail["reason"], event.detail["fields"]) == ("failure", code, fields)
    assert not [m for m in await outbox(client_factory()) if m["kind"] == "identity_confirmed_bank"]


async def test_a_provider_that_does_not_confirm_identity_cannot_be_used(surface: Surface, services: Any,
                                                                         op: NodeProvider) -> None:
    account_id = await customer(services, surface, 804)
    for pid in ("idp", "nope", "x" * 300):
        r = await start(surface, pid)
        assert r.status == 404 and "нельзя подтвердить" in r.message, (pid, r)
    # a bank flow's state at the other provider's callback finds nothing either
    started = await start(surface)
    params = await at_bank(started.data["url"], op.person(f"p-{surface.name}", verified_claims=verified(**BANK_PERSON)))
    r = await callback(surface, params, "idp")
    assert r.status == 404, r
    await assert_unchanged(services, account_id)


@pytest.mark.parametrize("level", [1, 3])
async def test_only_a_standard_account_may_start(surface: Surface, services: Any, op: NodeProvider,
                                                 level: int) -> None:
    account_id = await customer(services, surface, 805, level=level)
    r = await start(surface)
    assert r.status == 409 and (r.code or "not_standard") == "not_standard", r
    assert ("уже подтверждена" if level == 3 else "стандартную учётную запись") in r.message
    assert await level_of(services, account_id) == level
    view = (await surface.client.get(PAGE if isinstance(surface, UiSurface) else API, headers=bearer(surface)))
    assert view.status_code == 200
    if isinstance(surface, UiSurface):
        assert f"{PAGE}/bank/start" not in view.text
    else:
        assert view.json()["may_start"] is False


async def test_a_flow_started_at_level_two_that_is_no_longer_standard_is_refused(
        surface: Surface, services: Any, op: NodeProvider) -> None:
    account_id = await customer(services, surface, 806)
    started = await start(surface)
    params = await at_bank(started.data["url"], op.person(f"lv-{surface.name}", verified_claims=verified(**BANK_PERSON)))
    async with services.db.write() as s:  # a checked field changed meanwhile: back to «Упрощённая»
        profile = await s.get(IdentityProfile, account_id)
        assert profile is not None
        profile.level = 1
    r = await callback(surface, params)
    assert r.status == 409 and "стандартную" in r.message, r
    assert await level_of(services, account_id) == 1 and await bank_requests(services, account_id) == []


# -- bad parameters -------------------------------------------------------------------------------------------


async def test_every_bad_callback_parameter_is_a_clear_4xx_that_confirms_nothing(
        surface: Surface, services: Any, op: NodeProvider, clock: Any, surface_factory: Any) -> None:
    account_id = await customer(services, surface, 807)
    login = op.person(f"bad-{surface.name}", verified_claims=verified(**BANK_PERSON))

    async def fresh() -> dict[str, str]:
        started = await start(surface)
        assert started.ok, started
        return await at_bank(started.data["url"], login)

    cases: list[tuple[dict[str, str], int, str]] = [
        ({}, 404, "не найден"),
        ({"state": "no-such-flow", "code": "x"}, 404, "не найден"),
        ({"state": "'; DROP TABLE flows; --", "code": "x"}, 404, "не найден"),
        ({"state": "я" * 64, "code": "x"}, 404, "не найден"),
    ]
    for params, status, text in cases:
        r = await callback(surface, params)
        assert r.status == status and text in r.message, (params, r)
    params = await fresh()
    r = await callback(surface, {"state": params["state"]})  # no code
    assert r.status == 400 and "не прошёл проверку" in r.message, r
    params = await fresh()
    r = await callback(surface, {"state": params["state"], "code": "forged-code"})  # the bank refuses it
    assert r.status == 400 and "не прошёл проверку" in r.message, r
    params = await fresh()
    r = await callback(surface, {"state": params["state"], "error": "server_error"})
    assert r.status == 400, r
    params = await fresh()
    r = await callback(surface, {"state": params["state"], "code": "c" * 3000})  # longer than any code
    assert r.status in (400, 422), r
    params = await fresh()
    clock.advance(seconds=TTL_SECONDS + 1)  # the flow expired while the customer was at the bank
    r = await callback(surface, params)
    assert r.status == 410 and "истекло" in r.message, r
    # refused at the bank («Cancel»): 403 with the bank's name
    started = await start(surface)
    denied = await at_bank(started.data["url"], login, deny=True)
    assert denied.get("error") == "access_denied"
    r = await callback(surface, denied)
    assert r.status == 403 and "Вы отказались передать данные из Банк ID" in r.message, r
    # another session of the same account cannot finish this one's flow
    params = await fresh()
    other = surface_factory()
    phone = (await services.db.first(select(Account.phone).where(Account.id == account_id)))[0]
    await sign_in(other, phone)
    r = await callback(other, params)
    assert r.status == 404, r
    await assert_unchanged(services, account_id)
    reasons = [e.detail.get("reason") for e in await bank_events(services, account_id)]
    assert "claims_mismatch" not in reasons and "provider_refused" in reasons and "access_denied" in reasons
    # the flow the other session could not take is still this session's
    assert confirmed(await callback(surface, params))


async def test_the_api_refuses_malformed_bodies(services: Any, op: NodeProvider, client_factory: Any) -> None:
    surface = ApiSurface(client_factory())
    account_id = await customer(services, surface, 808)
    url = f"{API}/bank/callback"
    for body in ({"state": "s" * 65, "code": "x"}, {"state": "s", "code": "c" * 2049}, {"state": 5, "code": []},
                 {"error": "e" * 129}):
        r = _api_result(await surface.client.post(url, json=body, headers=bearer(surface)))
        assert r.status == 422, (body, r)
    resp = await surface.client.post(url, content=b"{not json", headers={**bearer(surface),
                                                                           "Content-Type": "application/json"})
    assert resp.status_code == 400, resp.text
    # no bearer, no session: 401; the level, the flows and the rows untouched
    assert (await client_factory().post(f"{API}/bank/start")).status_code == 401
    assert (await client_factory().get(API)).status_code == 401
    await assert_unchanged(services, account_id)


async def test_the_page_refuses_a_start_without_its_csrf_token(services: Any, op: NodeProvider,
                                                                client_factory: Any) -> None:
    surface = UiSurface(client_factory())
    account_id = await customer(services, surface, 809)
    resp = await surface.client.post(f"{PAGE}/bank/start", data={})
    assert resp.status_code == 403, resp.status_code
    resp = await surface.client.post(f"{PAGE}/bank/start", data={"csrf_token": "forged"})
    assert resp.status_code == 403, resp.status_code
    signed_out = await client_factory().get(f"{PAGE}/bank/callback", params={"state": "x", "code": "y"})
    assert signed_out.status_code == 303 and signed_out.headers["location"].startswith("/login")
    await assert_unchanged(services, account_id)


@pytest.mark.parametrize("levels_on", [False])
async def test_levels_off_every_page_and_endpoint_is_404(surface: Surface, services: Any, op: NodeProvider) -> None:
    made = await make_account(services, 810)
    assert made.phone is not None
    await sign_in(surface, made.phone)
    if isinstance(surface, UiSurface):
        assert (await surface.client.get(PAGE)).status_code == 404
        assert "через банк" not in (await surface.client.get("/cabinet")).text
    else:
        assert (await surface.client.get(API, headers=bearer(surface))).status_code == 404
    assert (await start(surface)).status == 404
    assert (await callback(surface, {"state": "x", "code": "y"})).status == 404


async def test_ten_parallel_callbacks_of_one_answer_confirm_once(services: Any, op: NodeProvider,
                                                                client_factory: Any) -> None:
    """The flow is spent by one guarded UPDATE: of ten racing posts of the same answer one goes to the bank and
    confirms, the others are told it was used (one notice, one request row)."""
    surface = ApiSurface(client_factory())
    account_id = await customer(services, surface, 811)
    started = await start(surface)
    params = await at_bank(started.data["url"], op.person("race", verified_claims=verified(**BANK_PERSON)))
    results = await asyncio.gather(*(callback(surface, params) for _ in range(10)))
    assert sorted(r.status for r in results) == [200] + [409] * 9, [(r.status, r.code) for r in results]
    assert {r.code for r in results if not r.ok} == {"ceremony_spent"}
    assert await level_of(services, account_id) == 3 and len(await bank_requests(services, account_id)) == 1
    assert len([m for m in await outbox(client_factory()) if m["kind"] == "identity_confirmed_bank"]) == 1


async def test_starts_not_answered_are_limited_per_account(surface: Surface, services: Any, op: NodeProvider,
                                                           clock: Any) -> None:
    """Each start is a flow row: the sixth start while five wait is 429 with Retry-After, until the oldest expires."""
    account_id = await customer(services, surface, 812)
    for _ in range(5):
        assert (await start(surface)).ok
    clock.advance(seconds=60)
    r = await start(surface)
    assert r.status == 429 and "несколько раз" in r.message, r
    assert r.headers.get("retry-after") == str(TTL_SECONDS - 60 + 1)
    async with services.db.read() as s:
        flows = (await s.execute(select(func.count()).select_from(Flow).where(Flow.account_id == account_id))).scalar()
    assert flows == 5
    clock.advance(seconds=TTL_SECONDS - 60 + 1)
    assert (await start(surface)).ok


async def test_a_bank_that_only_confirms_identity_is_no_way_in(surface: Surface, services: Any, op: NodeProvider,
                                                               client_factory: Any) -> None:
    """``sign_in: false``: «Почта Банк» confirms identity but is offered nowhere for signing in, registering or
    linking, and its social start is 404."""
    account_id = await customer(services, surface, 813)
    anonymous = client_factory()
    assert "Почта Банк" not in (await anonymous.get("/login")).text
    assert [p["id"] for p in (await anonymous.get("/api/v1/social/providers")).json()] == ["bank", "idp"]
    assert (await anonymous.post("/api/v1/social/bankonly/start", json={"purpose": "login"})).status_code == 404
    if isinstance(surface, UiSurface):
        assert "Почта Банк" not in (await surface.client.get("/settings/social")).text
        assert "Подтвердить личность через Почта Банк" in (await surface.client.get(PAGE)).text
    r, _ = await round_trip(surface, op.person(f"only-{surface.name}", verified_claims=verified(**BANK_PERSON)),
                            "bankonly")
    assert confirmed(r), r
    assert await level_of(services, account_id) == 3 and await links(services) == 0


@pytest.mark.parametrize("offline_banks", [True])
async def test_a_bank_that_does_not_answer_is_503_and_writes_no_flow(
        surface: Surface, services: Any, op: NodeProvider) -> None:
    """Down at the start (its discovery): 503, no flow; down at the token exchange: 503, the level unchanged and a
    failure event ``provider_unavailable``."""
    account_id = await customer(services, surface, 814)
    r = await start(surface, "down")
    assert r.status == 503 and "Банк Офлайн сейчас не отвечает" in r.message and r.headers.get("retry-after"), r
    async with services.db.read() as s:
        assert (await s.execute(select(func.count()).select_from(Flow).where(Flow.account_id == account_id))
                ).scalar() == 0
    r, _ = await round_trip(surface, op.person(f"flaky-{surface.name}", verified_claims=verified(**BANK_PERSON)),
                            "flaky")
    assert r.status == 503 and "сейчас не отвечает" in r.message, r
    await assert_unchanged(services, account_id)
    assert [e.detail["reason"] for e in await bank_events(services, account_id)] == ["provider_unavailable"]
