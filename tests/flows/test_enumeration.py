"""Registering a phone that already has an account (SECURITY.md: registration and consent)."""

from __future__ import annotations

import re

import pytest

from tests.flows.helpers import phone_e164, register, registration_fields
from tests.support import outbox


async def test_seed_mode_says_the_number_is_used_and_points_to_recovery(surface, surface_factory):
    phone = await register(surface, phone_e164(70))
    other = surface_factory()
    r = await other.register(**await registration_fields(other, phone))
    assert r.status == 409 and r.field == "phone"
    assert "уже используется в другом личном кабинете" in r.message and "Восстановите доступ" in r.message


@pytest.mark.parametrize("settings_overrides", [{"DOSTUP_ENUMERATION_SAFE": "true"}])
async def test_enumeration_safe_mode_answers_alike_and_tells_the_owner(surface, surface_factory, services):
    from dostup.admin.users import create_user

    phone = phone_e164(71)
    await create_user(services.settings, phone=phone, password="Tundra-Lantern-42", login=None, email=None,
                      country="RU", role="customer", now=services.clock.now())
    other = surface_factory()
    taken = await other.register(**await registration_fields(other, phone))
    fresh = await other.register(**await registration_fields(other, phone_e164(72)))
    assert taken.status == fresh.status and taken.ok
    if other.name == "api":
        assert set(taken.data) == set(fresh.data)
        assert taken.data["state"] == fresh.data["state"] == "code_sent"
    msgs = [m for m in await outbox(other.client) if m["to"] == phone]
    assert msgs[0]["kind"] == "registration_exists" and msgs[0]["code"] is None
    assert "восстановите доступ" in msgs[0]["text"]
    # No code can complete the decoy flow.
    assert (await other.confirm(taken.data["flow_id"], "123456")).status == 422


@pytest.mark.parametrize("settings_overrides", [{"DOSTUP_ENUMERATION_SAFE": "true"}])
async def test_enumeration_safe_a_taken_email_beside_a_free_phone_is_told_to_the_email_not_the_phone(
    surface, surface_factory, services
):
    """The code goes to the phone; the email is another cabinet's.  The «someone is registering»
    notice goes to that cabinet's email: sent to the phone, it would tell whoever holds the phone
    that the email has a cabinet (SECURITY.md: the owner gets a message)."""
    from tests.factories import make_account

    owner = await make_account(services, 75, email="owner75@example.com")
    other = surface_factory()
    mine = phone_e164(76)
    taken = await other.register(**await registration_fields(other, mine, email="owner75@example.com"))
    fresh = await other.register(**await registration_fields(other, phone_e164(77), email="fresh77@example.com"))
    assert taken.ok and taken.status == fresh.status
    msgs = await outbox(other.client)
    assert [(m["kind"], m["code"]) for m in msgs if m["to"] == "owner75@example.com"] == [
        ("registration_exists", None)
    ]
    assert [m for m in msgs if m["to"] == mine] == []  # nothing at all: the decoy's code is never sent
    assert owner.id and [m["kind"] for m in msgs if m["to"] == phone_e164(77)] == ["registration_code"]


async def _code_expiry(surface, flow_id: str) -> str:
    """When the code step says the code expires, as that surface shows it."""
    if surface.name == "api":
        return str((await surface.client.get(f"/api/v1/registration/{flow_id}")).json()["code_expires_at"])
    page = (await surface.client.get(f"/registration/code?flow={flow_id}")).text
    match = re.search(r'<p class="hint[^"]*"[^>]*>(Код действует до [^<]*)</p>', page)
    assert match, "the code page shows no expiry"
    return match.group(1)


async def _code_step(surface, services, clock, backend, phone: str) -> tuple[bool, list[tuple[int, str | None]]]:
    """Whether a resend moves the code's expiry, and the answers to six wrong codes."""
    r = await surface.register(**await registration_fields(surface, phone))
    assert r.ok, r.message
    flow_id = r.data["flow_id"]
    before = await _code_expiry(surface, flow_id)
    clock.advance(minutes=2)
    if "DOSTUP_REDIS_URL" in backend:
        await services.store.delete(f"send-cooldown:sms:{phone}")  # Redis windows follow real time
    assert (await surface.resend(flow_id)).ok
    moved = await _code_expiry(surface, flow_id) != before
    sent = [m["code"] for m in await outbox(surface.client) if m["to"] == phone and m["code"]]
    wrong = f"{(int(sent[0]) + 1) % 1_000_000:06d}" if sent else "000000"
    answers = []
    for _ in range(6):
        a = await surface.confirm(flow_id, wrong)
        answers.append((a.status, a.code if surface.name == "api" else a.message))
    return moved, answers


@pytest.mark.parametrize("settings_overrides", [{"DOSTUP_ENUMERATION_SAFE": "true"}])
async def test_enumeration_safe_code_step_of_a_taken_phone_counts_tries_and_timers_like_a_new_one(
    surface, surface_factory, services, clock, backend
):
    """The decoy flow is the same flow, only undeliverable: its wrong tries run out after five and a
    resend moves its code's expiry, exactly as for a phone that has no cabinet (SECURITY.md: enumeration)."""
    from dostup.admin.users import create_user

    taken = phone_e164(73)
    await create_user(services.settings, phone=taken, password="Tundra-Lantern-42", login=None, email=None,
                      country="RU", role="customer", now=services.clock.now())
    taken_step = await _code_step(surface_factory(), services, clock, backend, taken)
    fresh_step = await _code_step(surface_factory(), services, clock, backend, phone_e164(74))
    assert fresh_step[0] is True
    assert [status for status, _ in fresh_step[1]] == [422] * 6
    assert fresh_step[1][0] != fresh_step[1][-1]  # the sixth try finds the code used up
    assert taken_step == fresh_step
