"""A provider's email or phone that another cabinet holds (issue 11 §2: «never link by an unverified
claim»; SECURITY.md: OpenID Connect as client, registration and enumeration).

Explicit mode: a *verified* claim gets «… уже указан в другом личном кабинете», never a link or a
sign-in; an unverified one is not even looked up — the registration form answers for it as it does
for a typed one.  Enumeration-safe mode: every unlinked provider account gets the registration, and a
taken contact in it gets the same code step as a free one (undeliverable), its owner a message.
Both surfaces, both backends."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from dostup.persistence.models import Account, Credential, SecurityEvent
from tests.factories import make_account
from tests.flows.helpers import phone_e164
from tests.flows.settings_support import messages, shown
from tests.social.conftest import providers_env
from tests.social.support import NodeProvider, Social
from tests.support import Surface, UiSurface


@pytest.fixture
def enumeration_safe() -> bool:
    return False


@pytest.fixture
def settings_overrides(op: NodeProvider, enumeration_safe: bool) -> dict[str, str]:
    env = providers_env(op.setting("op", "Тестовый ID"), op.setting("op-trusted", "Банк ID", trusted=True))
    return {**env, "DOSTUP_ENUMERATION_SAFE": "true" if enumeration_safe else "false"}


async def _links(services: Any) -> int:
    async with services.db.read() as s:
        stmt = select(func.count()).select_from(Credential).where(Credential.type == "social")
        return int((await s.execute(stmt)).scalar_one())


async def _owner_untouched(services: Any, owner_id: str, surface: Surface) -> None:
    """Nothing linked, nobody signed in, no sign-in written to the owner's account."""
    assert await _links(services) == 0
    assert not (await surface.whoami()).ok
    async with services.db.read() as s:
        stmt = select(func.count()).select_from(SecurityEvent).where(SecurityEvent.account_id == owner_id)
        assert (await s.execute(stmt)).scalar_one() == 0


def _shape(r: Any) -> object:
    """What the person sees of a registration step, without its ids and masked destination."""
    if "location" in r.data:
        return r.status, r.data["location"].split("?")[0]
    return r.status, sorted(r.data), r.data.get("state")


# -- explicit mode -----------------------------------------------------------------------------------


@pytest.mark.parametrize("pid", ["op-trusted", "op"])
async def test_a_verified_phone_of_another_cabinet_is_named_never_linked(
    surface: Surface, services: Any, op: NodeProvider, pid: str
) -> None:
    """Like the email the issue names: told, offered to sign in there and link — trusted or not."""
    owner = await make_account(services, 201)
    assert owner.phone is not None
    login = op.person(f"ph-{pid}-{surface.name}", phone_number=owner.phone, phone_number_verified=True)
    r = await Social(surface).round_trip(pid, login)
    assert not r.ok and r.status == 409 and (r.code or "address_taken") == "address_taken", r
    name = "Банк ID" if pid == "op-trusted" else "Тестовый ID"
    assert shown(r).startswith("+7 *** ***-02-01 уже указан в другом личном кабинете"), shown(r)
    assert f"Войдите в него и привяжите {name}" in shown(r)
    if isinstance(surface, UiSurface):
        assert 'href="/login">Войти в личный кабинет</a>' in r.data["html"]
    await _owner_untouched(services, owner.id, surface)


async def test_an_unverified_phone_is_not_looked_up_the_form_answers_for_it(
    surface: Surface, services: Any, op: NodeProvider, surface_factory: Any
) -> None:
    """The provider did not check the phone: its answer is a fresh registration's, the phone is only
    a prefill, and the form then says what it says to anybody who types that number."""
    owner = await make_account(services, 202)
    assert owner.phone is not None
    taken = op.person(f"unv-{surface.name}", phone_number=owner.phone, phone_number_verified=False)
    fresh = op.person(f"unv-fresh-{surface.name}", phone_number=phone_e164(203), phone_number_verified=False)
    answers = []
    for login, s in ((taken, surface), (fresh, surface_factory())):
        social = Social(s)
        r = await social.round_trip("op-trusted", login)
        assert social.outcome(r) == "register", r
        view = (await s.client.get(f"/api/v1/registration/social/{social.signup_flow(r)}")).json()
        answers.append((r.status, sorted(r.data.get("registration", {})), sorted(view["prefill"])))
    assert answers[0] == answers[1]
    await _owner_untouched(services, owner.id, surface)
    social = Social(surface)
    flow_id = social.signup_flow(await social.round_trip("op-trusted", taken))
    r = await social.register(flow_id, phone=owner.phone, consent_personal_data=True)
    assert not r.ok and r.status == 409 and r.field == "phone", r
    assert shown(r) == services.catalog.text("registration.phone_taken", "ru")
    await _owner_untouched(services, owner.id, surface)


# -- enumeration-safe mode ---------------------------------------------------------------------------


@pytest.mark.parametrize("enumeration_safe", [True])
@pytest.mark.parametrize(
    ("claim", "pid", "verified"),
    [("phone", "op-trusted", True), ("email", "op-trusted", True), ("phone", "op", False)],
)
async def test_enumeration_safe_a_taken_contact_registers_like_a_free_one_and_its_owner_is_told(
    surface: Surface,
    services: Any,
    op: NodeProvider,
    surface_factory: Any,
    claim: str,
    pid: str,
    verified: bool,
) -> None:
    n = {"phone": 210, "email": 220}[claim] + (0 if verified else 5)
    owner = await make_account(services, n, email=f"owner{n}@example.com")
    assert owner.phone is not None
    mine, other = phone_e164(n + 1), phone_e164(n + 2)

    def person(login: str, phone: str, email: str) -> str:
        claims: dict[str, Any] = {"phone_number": phone, "phone_number_verified": verified}
        if claim == "email":
            claims.update(email=email, email_verified=verified, phone_number_verified=False)
        return op.person(f"{login}-{n}-{surface.name}", **claims)

    taken_contact = owner.phone if claim == "phone" else f"owner{n}@example.com"
    cases = {
        "taken": (surface, person("taken", owner.phone if claim == "phone" else mine, taken_contact)),
        "fresh": (surface_factory(), person("fresh", other, f"fresh{n}@example.com")),
    }
    answers: dict[str, Any] = {}
    flows: dict[str, str] = {}
    for key, (s, login) in cases.items():
        social = Social(s)
        r = await social.round_trip(pid, login)
        assert social.outcome(r) == "register", r  # the callback names nothing
        view = (await s.client.get(f"/api/v1/registration/social/{social.signup_flow(r)}")).json()
        fields = {"phone": view["prefill"]["phone"], "consent_personal_data": True}
        if claim == "email":
            fields["email"] = view["prefill"]["email"]
        done = await social.register(social.signup_flow(r), **fields)
        assert done.ok, done
        answers[key] = _shape(done)
        flows[key] = done.data["flow_id"]
    assert answers["taken"] == answers["fresh"]  # the same code step, nothing completed at once
    await _owner_untouched(services, owner.id, surface)
    told = await messages(services, taken_contact, "registration_exists")
    assert [(m.account_id, m.code) for m in told] == [(owner.id, None)]
    registrant = owner.phone if claim == "phone" else mine
    assert await messages(services, registrant, "registration_code") == []  # a decoy: nothing to deliver
    if claim == "email":
        assert await messages(services, mine) == []  # not even the «someone is registering» notice
    s, _ = cases["taken"]
    assert (await s.confirm(flows["taken"], "123456")).status == 422
    await _owner_untouched(services, owner.id, surface)
    # the free one is a real registration: its code completes it and links the provider account
    s, _ = cases["fresh"]
    sent = await messages(services, other, "registration_code")
    assert len(sent) == 1 and sent[0].code
    assert (await s.confirm(flows["fresh"], sent[0].code)).ok
    assert await _links(services) == 1
    async with services.db.read() as db:
        made = (await db.execute(select(Account).where(Account.phone == other))).scalar_one()
    assert made.password_hash is None
