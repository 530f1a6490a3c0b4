"""Which relying party passkeys speak for (WebAuthn §5.1.3–§5.1.4: the RP ID is a domain, the origin exact)."""

from __future__ import annotations

import pytest

from dostup.credentials.passkeys import relying_party


def test_the_rp_id_and_origin_come_from_the_public_url():
    rp = relying_party("https://lk.example.ru", "КИТ")
    assert rp is not None and rp.id == "lk.example.ru" and rp.origins == ("https://lk.example.ru",)
    local = relying_party("http://localhost:8000", "КИТ")
    assert local is not None and local.id == "localhost" and local.origins == ("http://localhost:8000",)


def test_a_setting_overrides_the_rp_id_and_the_origins():
    rp = relying_party("https://lk.example.ru", "КИТ", "example.ru",
                       ("https://lk.example.ru", "android:apk-key-hash:abc"))
    assert rp is not None and rp.id == "example.ru"
    assert rp.origins == ("https://lk.example.ru", "android:apk-key-hash:abc")


@pytest.mark.parametrize("url", ["http://127.0.0.1:8000", "http://[::1]:8000", "http://10.0.0.5"])
def test_an_ip_address_is_no_rp_id(url):
    assert relying_party(url, "КИТ") is None


@pytest.mark.parametrize("settings_overrides", [{"DOSTUP_PUBLIC_URL": "http://127.0.0.1:8000"}])
async def test_with_an_ip_address_for_a_url_passkeys_are_off_and_the_rest_works(services, client, settings_overrides):
    page = await client.get("/login")
    assert page.status_code == 200 and "Войти по отпечатку" not in page.text and "webauthn" not in page.text
    r = await client.post("/api/v1/login/passkey/options", json={})
    assert r.status_code == 422 and r.json()["error"]["field"] == "method"


@pytest.mark.parametrize("settings_overrides", [{"DOSTUP_PASSKEYS__ENABLED": "false"}])
async def test_passkeys_can_be_turned_off(services, client, settings_overrides):
    assert "Войти по отпечатку" not in (await client.get("/login")).text
    assert (await client.post("/api/v1/login/passkey/options", json={})).status_code == 422
