"""The cabinet's level, its service catalogue and the profile form (SPEC §4.8), and presets without levels."""

from __future__ import annotations

import pytest

from tests.factories import make_account, sign_in, staff_bearer
from tests.flows.levels_support import GOSUSLUGI, PAGE
from tests.support import ApiSurface, UiSurface


@pytest.mark.parametrize("settings_overrides", [GOSUSLUGI])
async def test_the_cabinet_shows_the_level_what_is_available_and_what_the_next_level_unlocks(services, client):
    browser = UiSurface(client)
    await sign_in(browser, (await make_account(services, 520, "a520@example.ru")).phone)
    home = (await client.get("/cabinet")).text
    assert "<strong>Упрощённая учётная запись</strong>" in home
    available = home.split('class="services available"')[1].split("</ul>")[0]
    assert "оплата штрафов ГИБДД" in available and "запись к врачу" not in available
    locked = home.split('class="services locked"')[1].split("</ul>")[0]
    assert "проверка налоговой задолженности" in locked and "запись к врачу" in locked
    assert "Если повысить уровень учётной записи до стандартного" in home
    assert "Добавьте отчество, пол, дату и место рождения, гражданство. Введите паспортные данные и номер СНИЛС." in home
    assert 'href="/settings/identity">Заполнить профиль</a>' in home
    form = (await client.get(PAGE)).text
    for name in ("family_name", "given_name", "middle_name", "no_middle_name", "gender", "birth_date", "birth_place",
                 "citizenship", "passport_series", "passport_number", "passport_issued_on", "passport_division_code",
                 "passport_issuer", "snils", "csrf_token"):
        assert f'name="{name}"' in form, name
    assert "Нет отчества" in form and '<option value="RU" selected>Россия</option>' in form
    forged = await client.post(PAGE, data={"family_name": "x"})  # no CSRF token
    assert forged.status_code == 403
    services_json = await client.get("/api/v1/account/services")
    assert services_json.status_code == 200 and services_json.json()["next_level"] == 2


@pytest.mark.parametrize("settings_overrides", [GOSUSLUGI | {"DOSTUP_LEVELS__SERVICES":
                         '[{"id": "parcel", "name": "Отслеживание посылок", "min_level": 1},'
                         ' {"id": "customs", "name": "Таможенное оформление", "min_level": 2}]'}])
async def test_the_catalogue_is_the_operators_own_when_set(services, client):
    browser = UiSurface(client)
    await sign_in(browser, (await make_account(services, 521)).phone)
    home = (await client.get("/cabinet")).text
    assert "Отслеживание посылок" in home and "Таможенное оформление" in home and "запись к врачу" not in home


async def test_levels_are_off_on_a_preset_without_them(services, client_factory):
    api = ApiSurface(client_factory())
    await sign_in(api, (await make_account(services, 522)).phone)
    headers = {"Authorization": f"Bearer {api.token}"}
    assert (await api.client.get("/api/v1/account/identity", headers=headers)).status_code == 404
    assert (await api.client.get("/api/v1/account/services", headers=headers)).status_code == 404
    letter = "/api/v1/account/identity/letter"
    assert (await api.client.get(letter, headers=headers)).status_code == 404
    assert (await api.client.post(letter, json={"postcode": "170100"}, headers=headers)).status_code == 404
    staff = client_factory()
    staff_headers = await staff_bearer(staff, services, 524, "operator")
    assert (await staff.post("/api/v1/admin/letters/queue", json={"reason": "печать писем"},
                             headers=staff_headers)).status_code == 404
    browser = UiSurface(client_factory())
    await sign_in(browser, (await make_account(services, 523)).phone)
    assert (await browser.client.get(PAGE)).status_code == 404
    assert (await browser.client.get(PAGE + "/letter")).status_code == 404
    assert "/settings/identity" not in (await browser.client.get("/settings")).text


@pytest.mark.parametrize("settings_overrides", [{"DOSTUP_LEVELS__ENABLED": "true"}])
async def test_a_setting_turns_levels_on_for_another_preset(services, client_factory):
    api = ApiSurface(client_factory())
    await sign_in(api, (await make_account(services, 524)).phone)
    got = await api.client.get("/api/v1/account/identity", headers={"Authorization": f"Bearer {api.token}"})
    assert got.status_code == 200 and got.json()["status"]["levels_on"] is True


@pytest.mark.parametrize("settings_overrides", [GOSUSLUGI])
async def test_discovery_lists_levels_2_and_3_where_levels_are_on(client):
    doc = (await client.get("/.well-known/openid-configuration")).json()
    assert doc["acr_values_supported"] == [f"urn:dostup:loa:{level}:aal{aal}" for level in (1, 2, 3) for aal in (1, 2)]


@pytest.mark.parametrize("value", ['[{"id": "Bad Id", "min_level": 1}]', '[{"id": "tax", "min_level": 4}]',
                                   '[{"id": "tax"}, {"id": "tax"}]', "not json"])
def test_a_wrong_service_catalogue_stops_the_start_naming_the_setting(value):
    from dostup.settings import SettingsError
    from tests.support import make_settings

    with pytest.raises(SettingsError, match="DOSTUP_LEVELS__"):
        make_settings(DOSTUP_LEVELS__SERVICES=value)
