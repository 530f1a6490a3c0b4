"""Social sign-in against a real certified OpenID provider (panva's oidc-provider on 127.0.0.1):
register through it, sign out, sign in with it, link and unlink in «Способы входа»,
re-authenticate through it; a second factor is still asked; never linked by a matching address
(issue 11 §2, §3; SECURITY.md: OpenID Connect as client).  Both surfaces, both backends."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from dostup.persistence.models import Account, Credential, CredentialIdentifier
from tests.factories import make_account, sign_in
from tests.flows.helpers import PASSWORD
from tests.flows.settings_support import events, messages, shown
from tests.social.conftest import providers_env
from tests.social.support import NodeProvider, Social
from tests.support import Surface, UiSurface, _api_result, last_code


@pytest.fixture
def settings_overrides(op: NodeProvider) -> dict[str, str]:
    return providers_env(op.setting("op", "Тестовый ID"), op.setting("op-trusted", "Банк ID", trusted=True))


async def _links(services: Any, account_id: str | None = None) -> int:
    async with services.db.read() as s:
        stmt = select(func.count()).select_from(Credential).where(Credential.type == "social")
        if account_id:
            stmt = stmt.where(Credential.account_id == account_id)
        return int((await s.execute(stmt)).scalar_one())


async def _account_by_phone(services: Any, phone: str) -> Account | None:
    async with services.db.read() as s:
        return (await s.execute(select(Account).where(Account.phone == phone))).scalar_one_or_none()


async def test_register_with_provider_sign_out_sign_in(surface: Surface, services: Any, op: NodeProvider) -> None:
    login = op.person(
        f"ivan-{surface.name}",
        given_name="Иван",
        family_name="Петров",
        email="ivan@example.com",
        email_verified=True,
        phone_number="+79120000101",
        phone_number_verified=True,
    )
    social = Social(surface)
    r = await social.round_trip("op", login)
    assert social.outcome(r) == "register", r
    flow_id = social.signup_flow(r)
    view = (await surface.client.get(f"/api/v1/registration/social/{flow_id}")).json()
    assert view["prefill"] == {
        "phone": "+79120000101",
        "email": "ivan@example.com",
        "contact": "+79120000101",
        "given_name": "Иван",
        "family_name": "Петров",
    }
    if social.ui:  # the preset's form, prefilled, without a password, consents still asked
        page = (await surface.client.get(f"/registration/social?flow={flow_id}")).text
        assert 'value="ivan@example.com"' in page and 'name="password"' not in page
        assert "consent_personal_data" in page and "Тестовый ID" in page
    bad = await social.register(flow_id, phone="12", email="not-an-email", consent_personal_data=True)
    assert not bad.ok and bad.status == 422 and bad.field in ("phone", "email"), bad
    assert not (await social.register("no-such-flow", phone="+79120000101", consent_personal_data=True)).ok
    refused = await social.register(flow_id, phone="+79120000101", email="ivan@example.com")
    assert not refused.ok and refused.status == 422 and refused.field == "consent_personal_data"
    # not trusted: the phone is confirmed by an SMS code all the same
    r = await social.register(flow_id, phone="+79120000101", email="ivan@example.com", consent_personal_data=True)
    assert r.ok and r.status in (200, 303), r
    code = await last_code(surface.client, "+79120000101")
    done = await surface.confirm(r.data["flow_id"], code)
    assert done.ok, done
    account = await _account_by_phone(services, "+79120000101")
    assert account is not None and account.password_hash is None and account.phone_verified_at is not None
    assert await _links(services, account.id) == 1
    who = await surface.whoami()
    assert who.data["session"]["amr"] == ["fed"]
    assert [e.outcome for e in await events(services, account.id, "social_linked")] == ["success"]

    assert (await surface.logout()).ok
    surface.token = None
    r = await social.round_trip("op", login)
    assert social.outcome(r) == "signed_in", r
    who = await surface.whoami()
    assert who.ok and who.data["account"]["id"] == account.id and "fed" in who.data["session"]["amr"]
    logins = [e for e in await events(services, account.id, "login") if e.outcome == "success"]
    assert logins and logins[-1].detail["method"] == "social" and logins[-1].detail["provider"] == "op"
    assert [m.kind for m in await messages(services, "+79120000101", "social_signin")] == ["social_signin"]
    # the signup flow began one registration only
    again = await social.register(flow_id, phone="+79120000101", consent_personal_data=True)
    assert not again.ok and again.status == 404
    # no password: the password form does not open this account
    assert not (await surface.login(method="phone", phone="+79120000101", password=PASSWORD)).ok


async def test_trusted_provider_verified_phone_needs_no_code(surface: Surface, services: Any, op: NodeProvider) -> None:
    login = op.person(
        f"anna-{surface.name}", given_name="Анна", phone_number="+79120000102", phone_number_verified=True
    )
    social = Social(surface)
    r = await social.round_trip("op-trusted", login)
    flow_id = social.signup_flow(r)
    r = await social.register(flow_id, phone="+79120000102", consent_personal_data=True)
    assert r.ok and (r.status == 201 or "flow=" not in r.data.get("location", "flow=")), r
    account = await _account_by_phone(services, "+79120000102")
    assert account is not None and account.phone_verified_at is not None and account.password_hash is None
    assert await messages(services, "+79120000102", "registration_code") == []
    # another phone typed into the form is not the one the provider proved: a code goes to it
    surface.client.cookies.clear()
    surface.token = None
    login = op.person(f"oleg-{surface.name}", phone_number="+79120000103", phone_number_verified=True)
    flow_id = social.signup_flow(await social.round_trip("op-trusted", login))
    r = await social.register(flow_id, phone="+79120000113", consent_personal_data=True)
    assert r.ok and "flow_id" in r.data, r
    assert len(await messages(services, "+79120000113", "registration_code")) == 1


async def test_matching_email_is_never_linked(surface: Surface, services: Any, op: NodeProvider) -> None:
    owner = await make_account(services, 104, email="taken@example.com")
    login = op.person(f"mallory-{surface.name}", email="taken@example.com", email_verified=True)
    social = Social(surface)
    r = await social.round_trip("op-trusted", login)
    assert not r.ok and r.status == 409 and (r.code or "address_taken") == "address_taken", r
    assert "t***" in shown(r) or "другом личном кабинете" in shown(r)
    assert "Войдите в него и привяжите Банк ID" in shown(r)
    if isinstance(surface, UiSurface):  # and the page offers to sign in there
        assert 'href="/login">Войти в личный кабинет</a>' in r.data["html"]
    assert await _links(services) == 0
    failures = await events(services, owner.id, "login")
    assert failures == []  # nothing is written to the owner's account


async def test_link_in_settings_sign_in_unlink(surface: Surface, services: Any, op: NodeProvider, clock: Any) -> None:
    phone = (await make_account(services, 105)).phone
    assert phone is not None
    await sign_in(surface, phone)
    login = op.person(f"petr-{surface.name}", given_name="Пётр")
    social = Social(surface)
    r = await social.round_trip("op", login, "link", page="/settings/social")
    assert social.outcome(r) == "linked", r
    account = await _account_by_phone(services, phone)
    assert account is not None
    methods = await social.methods()
    assert methods["has_password"] is True
    assert [(m["provider"], m["linked_at"] is not None) for m in methods["providers"]] == [
        ("op", True),
        ("op-trusted", False),
    ]
    assert [m.kind for m in await messages(services, phone, "social_linked")] == ["social_linked"]
    # linked twice: refused, nothing added
    r = await social.round_trip("op", login, "link", page="/settings/social")
    assert not r.ok and r.status == 409 and "уже привязан" in shown(r)
    assert await _links(services) == 1

    assert (await surface.logout()).ok
    surface.token = None
    r = await social.round_trip("op", login)
    assert social.outcome(r) == "signed_in", r
    # unlinking is sensitive: re-authentication first
    clock.advance(minutes=16)
    r = await social.start("op-trusted", "link", page="/settings/social")  # «Привязать» after /reauth only
    assert r.data.get("location", "").startswith("/reauth") if social.ui else r.code == "reauth_required", r
    r = await social.unlink("op")
    assert not r.ok and r.code in ("reauth_required",), r
    await sign_in(surface, phone)
    r = await social.unlink("op")
    assert r.ok, r
    assert await _links(services) == 0
    assert [e.outcome for e in await events(services, account.id, "social_unlinked")] == ["success"]
    assert [m.kind for m in await messages(services, phone, "social_unlinked")] == ["social_unlinked"]
    assert not (await social.unlink("op")).ok  # nothing left to unlink: 404
    surface.token = None
    surface.client.cookies.clear()
    r = await social.round_trip("op", login)
    assert social.outcome(r) == "register"  # the provider account opens nothing now


async def test_provider_account_linked_to_another_cabinet(
    surface: Surface, services: Any, op: NodeProvider, surface_factory: Any
) -> None:
    first = await sign_in(surface_factory(), (await make_account(services, 106)).phone or "")
    login = op.person(f"shared-{surface.name}")
    assert Social.outcome(await Social(first).round_trip("op", login, "link", page="/settings/social")) == "linked"
    await sign_in(surface, (await make_account(services, 107)).phone or "")
    r = await Social(surface).round_trip("op", login, "link", page="/settings/social")
    assert not r.ok and r.status == 409, r
    assert "уже привязан к другому личному кабинету" in shown(r)
    async with services.db.read() as s:
        assert (await s.execute(select(func.count()).select_from(CredentialIdentifier))).scalar_one() == 1


async def test_last_way_in_is_kept_then_a_password_is_added(
    surface: Surface, services: Any, op: NodeProvider, clock: Any
) -> None:
    login = op.person(f"solo-{surface.name}", phone_number="+79120000108", phone_number_verified=True)
    social = Social(surface)
    flow_id = social.signup_flow(await social.round_trip("op-trusted", login))
    assert (await social.register(flow_id, phone="+79120000108", consent_personal_data=True)).ok
    r = await social.unlink("op-trusted")
    assert not r.ok and r.status == 409 and "единственный способ входа" in shown(r), r
    assert await _links(services) == 1
    # a first password needs no old one, only a recent sign-in
    body = {"new_password": PASSWORD, "new_password_repeat": PASSWORD}
    if isinstance(surface, UiSurface):
        r = surface._result(await surface.post_form("/settings/password", body, "/settings/password"))
    else:
        r = _api_result(
            await surface.client.post(
                "/api/v1/settings/password", json=body, headers={"Authorization": f"Bearer {surface.token}"}
            )
        )
    assert r.ok, r
    account = await _account_by_phone(services, "+79120000108")
    assert account is not None and account.password_hash is not None
    await sign_in(surface, "+79120000108")
    assert (await social.unlink("op-trusted")).ok


async def test_second_factor_is_still_asked(surface: Surface, services: Any, op: NodeProvider) -> None:
    phone = (await make_account(services, 109)).phone or ""
    await sign_in(surface, phone)
    login = op.person(f"twofa-{surface.name}")
    social = Social(surface)
    assert social.outcome(await social.round_trip("op", login, "link", page="/settings/social")) == "linked"
    codes = (
        await surface.client.post(
            "/api/v1/settings/recovery-codes", headers={"Authorization": f"Bearer {surface.token}"}
        )
    ).json()["codes"]
    assert (await surface.logout()).ok
    surface.token = None
    r = await social.round_trip("op", login)
    assert social.outcome(r) == "second_factor", r
    assert not (await surface.whoami()).ok  # no session before the second step
    flow_id = (
        r.data["location"].split("flow=")[1].split("&")[0]
        if "location" in r.data
        else r.data["second_factor"]["flow_id"]
    )
    done = await surface.client.post(
        f"/api/v1/login/{flow_id}/second-factor", json={"method": "recovery_code", "code": codes[0]}
    )
    assert done.status_code == 200, done.text
    assert done.json()["session"]["aal"] == 2 and "fed" in done.json()["session"]["amr"]


async def test_reauth_through_the_provider(surface: Surface, services: Any, op: NodeProvider, clock: Any) -> None:
    login = op.person(f"reauth-{surface.name}", phone_number="+79120000110", phone_number_verified=True)
    social = Social(surface)
    assert (
        await social.register(
            social.signup_flow(await social.round_trip("op-trusted", login)),
            phone="+79120000110",
            consent_personal_data=True,
        )
    ).ok
    clock.advance(minutes=16)
    assert (await social.unlink("op-trusted")).code == "reauth_required"
    if social.ui:  # «Подтвердите»: no password form for an account without one, the provider's button
        page = (await surface.client.get("/reauth?return_to=/settings/social")).text
        assert 'name="password"' not in page and "Подтвердить через Банк ID" in page
    r = await social.round_trip("op-trusted", login, "reauth", page="/reauth", return_to="/settings/social")
    assert r.ok and social.outcome(r) in ("reauthenticated", "signed_in"), r
    if social.ui:
        assert r.data["location"] == "/settings/social"
    who = await surface.whoami()
    assert who.ok and who.data["session"]["authenticated_at"] >= clock.now().isoformat()[:16]
    other = op.person(f"stranger-{surface.name}")  # a provider account not linked here proves nothing
    r = await social.round_trip("op-trusted", other, "reauth", page="/reauth")
    assert not r.ok and r.status == 401 and "не привязан" in shown(r), r


async def test_refused_at_the_provider(surface: Surface, services: Any, op: NodeProvider) -> None:
    """«Cancel» at the provider (error=access_denied): a clear message, nothing written."""
    social = Social(surface)
    r = await social.round_trip("op", op.person(f"shy-{surface.name}"), deny=True)
    assert not r.ok and r.status == 401 and (r.code or "access_denied") == "access_denied", r
    assert "Вы отказались от входа через Тестовый ID" in shown(r)
    async with services.db.read() as s:
        assert (await s.execute(select(func.count()).select_from(Account))).scalar_one() == 0
    assert await _links(services) == 0


async def test_replayed_unknown_and_foreign_state(
    surface: Surface, services: Any, op: NodeProvider, surface_factory: Any
) -> None:
    from tests.social.support import at_provider, query_of

    login = op.person(f"replay-{surface.name}")
    social = Social(surface)
    started = await social.start("op")
    back = query_of(await at_provider(started.data["url"], "http://testserver/social/op/callback", login))
    assert social.outcome(await social.callback("op", back)) == "register"
    replay = await social.callback("op", back)  # the same state again
    assert not replay.ok and replay.status in (404, 409), replay
    assert "Начните заново" in shown(replay)
    unknown = await social.callback("op", {**back, "state": "x" * 32})
    assert not unknown.ok and unknown.status == 404
    wrong_provider = await social.callback("op-trusted", back)
    assert not wrong_provider.ok and wrong_provider.status in (404, 409)
    if social.ui:  # a state started in another browser is refused (no cookie of ours): login CSRF
        started = await social.start("op")
        back = query_of(await at_provider(started.data["url"], "http://testserver/social/op/callback", login))
        victim = Social(surface_factory())
        r = await victim.callback("op", back)
        assert not r.ok and r.status == 404 and "Начните заново" in shown(r)
    async with services.db.read() as s:
        assert (await s.execute(select(func.count()).select_from(Account))).scalar_one() == 0


async def test_bad_start_input(surface: Surface, services: Any, op: NodeProvider) -> None:
    social = Social(surface)
    r = await social.start("nope")
    assert not r.ok and r.status == 404 and "Такого способа входа нет" in shown(r)
    r = await social.start("op", "steal")
    assert not r.ok and r.status in (404, 422)
    r = await social.start("op", "link")  # linking needs a signed-in session
    assert not r.ok or r.data["location"].startswith("/login")
    r = await social.callback("op", {"state": "", "code": "x"})
    assert not r.ok and r.status in (404, 422)
