"""The registration begun at a provider asks for the captcha where it names a taken phone or email
(SECURITY.md, registration: «with the seed's explicit mode … the endpoint is rate-limited and
captcha-protected»).  Without it one provider sign-in let a script test typed phones against the
cabinet up to the per-IP limit.  In enumeration-safe mode the answer tells nothing, and the
provider's sign-in stands for the captcha as before.  Both surfaces, both backends."""

from __future__ import annotations

from typing import Any

import pytest

from tests.factories import make_account
from tests.flows.settings_support import messages
from tests.social.conftest import providers_env
from tests.social.support import NodeProvider, Social
from tests.support import Surface, UiSurface


@pytest.fixture
def enumeration_safe() -> bool:
    return False


@pytest.fixture
def settings_overrides(op: NodeProvider, enumeration_safe: bool) -> dict[str, str]:
    return {**providers_env(op.setting("op", "Тестовый ID")),
            "DOSTUP_ENUMERATION_SAFE": "true" if enumeration_safe else "false"}


async def _signup(surface: Surface, op: NodeProvider, login: str) -> tuple[Social, str]:
    op.person(login, given_name="Анна", family_name="Котова")  # no phone or email claimed: the person types one
    social = Social(surface)
    r = await social.round_trip("op", login)
    assert social.outcome(r) == "register", r
    return social, social.signup_flow(r)


async def test_explicit_mode_refuses_a_typed_taken_phone_probe_without_a_captcha(
    surface: Surface, services: Any, op: NodeProvider
) -> None:
    owner = await make_account(services, "+79120000301")
    social, flow_id = await _signup(surface, op, f"prober-{surface.name}")
    probe = await social.register(flow_id, captcha=False, phone=owner.phone, consent_personal_data=True)
    assert not probe.ok and probe.status == 422 and probe.field == "captcha", probe  # «Подтвердите, что вы не робот»
    assert probe.message and "phone_taken" not in str(probe.data)  # the answer says nothing of the phone
    fresh = await social.register(flow_id, captcha=False, phone="+79120000302", consent_personal_data=True)
    assert fresh.status == 422 and fresh.field == "captcha", fresh  # a free phone gets the same refusal
    assert await messages(services, "+79120000302") == []  # and no code went out
    # with the captcha the form answers as the registration form does: the taken phone is named
    taken = await social.register(flow_id, phone=owner.phone, consent_personal_data=True)
    assert taken.status == 409 and taken.field == "phone", taken
    done = await social.register(flow_id, phone="+79120000302", consent_personal_data=True)
    assert done.ok, done


@pytest.mark.parametrize("enumeration_safe", [True])
async def test_enumeration_safe_mode_needs_no_captcha_after_the_provider(
    surface: Surface, services: Any, op: NodeProvider, enumeration_safe: bool
) -> None:
    social, flow_id = await _signup(surface, op, f"safe-{surface.name}")
    done = await social.register(flow_id, captcha=False, phone="+79120000303", consent_personal_data=True)
    assert done.ok, done
    assert len(await messages(services, "+79120000303", "registration_code")) == 1


@pytest.mark.parametrize("enumeration_safe", [False, True])
async def test_the_prefilled_form_shows_the_captcha_only_where_it_is_asked(
    surface: Surface, op: NodeProvider, enumeration_safe: bool
) -> None:
    if not isinstance(surface, UiSurface):
        pytest.skip("a page")
    _, flow_id = await _signup(surface, op, f"form-{enumeration_safe}")
    page = (await surface.client.get(f"/registration/social?flow={flow_id}")).text
    assert ("<altcha-widget" in page) is not enumeration_safe
