"""Sign-in tabs per preset: email where the preset allows it (SPEC §2)."""

from __future__ import annotations

import pytest

from tests.flows.helpers import PASSWORD, phone_e164


@pytest.mark.parametrize("settings_overrides", [{"DOSTUP_PRESET": "rostelecom"}])
async def test_rostelecom_signs_in_by_email_case_insensitively(surface, services):
    from dostup.admin.users import create_user

    await create_user(services.settings, phone=phone_e164(800), password=PASSWORD, login=None,
                      email="Ivan.Petrov@Example.com", country="RU", role="customer", now=services.clock.now())
    r = await surface.login(method="email", email="IVAN.PETROV@example.COM", password=PASSWORD)
    assert r.ok
    bad = await surface.login(method="email", email="ivan.petrov@example.com", password="Wrong-password-1")
    assert bad.status == 401 and bad.message == "Неверный адрес электронной почты или пароль"


async def test_kit_has_no_email_tab(surface, services):
    r = await surface.login(method="email", email="a@example.com", password=PASSWORD)
    assert r.status == 422 and r.field == "method"


@pytest.mark.parametrize("settings_overrides", [{"DOSTUP_PRESET": "gosuslugi"}])
async def test_gosuslugi_signs_in_by_snils_once_it_exists(surface, services):
    from dostup.admin.users import create_user

    await create_user(services.settings, phone=phone_e164(801), password=PASSWORD, login=None, email=None,
                      country="RU", role="customer", now=services.clock.now(), snils="112-233-445 95")
    assert (await surface.login(method="snils", snils="11223344595", password=PASSWORD)).ok
    unknown = await surface.login(method="snils", snils="112-233-445 95".replace("95", "96"), password=PASSWORD)
    assert unknown.status == 422 and unknown.field == "snils"  # bad checksum: a field error, not a lookup
    wrong = await surface.login(method="snils", snils="112-233-445 95", password="Wrong-password-1")
    assert wrong.status == 401 and wrong.message == "Неверный СНИЛС или пароль"
