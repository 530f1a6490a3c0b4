"""A registration variant is one module: a fifth one, registered here in the test only, works on
both surfaces with nothing else changed but its preset entry (SPEC §2; issue 8 §1 presets)."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import pytest

from dostup import presets
from dostup.core.clock import FrozenClock
from dostup.identity.email import parse_email
from dostup.selfservice.registration import variants
from dostup.selfservice.registration.flow import Plan, RegistrationInput
from dostup.selfservice.registration.forms import Errors, RegistrationForms, consent
from dostup.selfservice.registration.variants import Variant, get_variant, register
from dostup.services import Services, build_services
from tests.flows.helpers import PASSWORD
from tests.flows.test_presets import _confirm, _password, _start
from tests.support import last_code, make_settings


class EmailOnly(Variant):
    """The tiny fifth form: an email and the consent; the code goes to the email, the password after."""

    name = "email_only"
    template = "registration.html"

    async def plan(self, inp: RegistrationInput, forms: RegistrationForms) -> Plan:
        errors = Errors()
        email = errors.run(lambda: parse_email(inp.email))
        consent(inp, errors)
        errors.raise_if_any()
        return Plan("email", str(email), None, str(email), None, {})


@pytest.fixture
async def services(backend: dict[str, str], clock: FrozenClock,
                   monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Services]:
    monkeypatch.setattr(variants, "_VARIANTS", dict(variants._VARIANTS))  # registered for this test only
    register(EmailOnly())
    fifth = dataclasses.replace(presets.PRESETS["kit"], name="fifth", registration="email_only",
                                companies=False, require_company=False)
    monkeypatch.setitem(presets.PRESETS, "fifth", fifth)
    settings = make_settings(**backend).model_copy(update={"preset": "fifth"})
    svc = build_services(settings, clock=clock)
    await svc.start(run_migrations=False)
    try:
        yield svc
    finally:
        await svc.stop()


async def test_a_fifth_variant_registers_by_its_own_form(surface, services):
    assert services.registration.variant is get_variant("email_only")
    email = "fifth.variant@example.org"
    r = await _start(surface, email=email)
    assert r.ok, (r.status, r.field, r.message)
    flow = r.data["flow_id"]
    c = await _confirm(surface, flow, await last_code(surface.client, email))
    assert c.ok or c.status == 303
    done = await _password(surface, flow, PASSWORD)
    assert done.ok or done.status == 303, (done.status, done.message)
    assert (await surface.whoami()).ok


async def test_a_fifth_variant_refuses_its_form_without_the_email(surface, services):
    r = await _start(surface, phone="+79120000001")
    assert r.status == 422 and r.field == "email"
