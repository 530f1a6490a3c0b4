"""Registering a phone that already has an account (SECURITY.md: registration and consent)."""

from __future__ import annotations

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
