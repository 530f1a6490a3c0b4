"""``DOSTUP_SOCIAL__PROVIDERS`` (issue 11 §1): kinds and their defaults, overrides, and every wrong
setting stops the start with a message naming it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from dostup.federation.providers import Provider
from dostup.settings import SettingsError, load_settings


def _load(providers: object, **env: str) -> Any:
    raw = providers if isinstance(providers, str) else json.dumps(providers)
    return load_settings({"DOSTUP_SOCIAL__PROVIDERS": raw, **env}, workdir=Path("/tmp"))


def test_kinds_carry_their_providers_endpoints_each_overridable() -> None:
    s = _load(
        [
            {"id": "yandex", "kind": "yandex", "name": "Яндекс ID", "client_id": "a", "client_secret": "b"},
            {"id": "vk", "kind": "vk", "name": "VK ID", "client_id": "c", "scopes": ["vkid.personal_info"]},
            {
                "id": "sber",
                "kind": "sber",
                "name": "Сбер ID",
                "client_id": "d",
                "client_secret": "e",
                "issuer": "https://id.sber.example",
                "jwks_uri": "https://id.sber.example/jwks",
                "trusted": True,
            },
            {
                "id": "corp",
                "kind": "oidc",
                "name": "Corp",
                "client_id": "f",
                "client_secret": "g",
                "issuer": "https://sso.corp.example/",
                "token_endpoint": "https://sso.corp.example/alt-token",
                "icon": "/static/corp.svg",
            },
        ]
    )
    ya, vk, sber, corp = (Provider.of(p) for p in s.social.providers)
    assert ya.authorization_endpoint == "https://oauth.yandex.ru/authorize"
    assert ya.userinfo_endpoint == "https://login.yandex.ru/info?format=json" and not ya.openid
    assert vk.token_endpoint == "https://id.vk.com/oauth2/auth" and vk.scopes == ("vkid.personal_info",)
    assert sber.openid and sber.trusted and sber.authorization_endpoint.startswith("https://online.sberbank.ru/")
    assert corp.issuer == "https://sso.corp.example" and corp.token_endpoint.endswith("/alt-token")
    assert corp.scopes == ("openid", "profile", "email", "phone") and corp.icon == "/static/corp.svg"


@pytest.mark.parametrize(
    ("providers", "named"),
    [
        ("not json", "DOSTUP_SOCIAL__"),
        ([{"id": "x", "kind": "google", "name": "G", "client_id": "a"}], "DOSTUP_SOCIAL__PROVIDERS__0__KIND"),
        ([{"id": "Bad Id", "kind": "vk", "name": "V", "client_id": "a"}], "DOSTUP_SOCIAL__PROVIDERS__0__ID"),
        ([{"id": "x", "kind": "vk", "name": "", "client_id": "a"}], "DOSTUP_SOCIAL__PROVIDERS__0__NAME"),
        ([{"id": "x", "kind": "vk", "name": "V"}], "DOSTUP_SOCIAL__PROVIDERS__0__CLIENT_ID"),
        ([{"id": "x", "kind": "oidc", "name": "O", "client_id": "a", "client_secret": "b"}], "needs an issuer"),
        ([{"id": "x", "kind": "sber", "name": "S", "client_id": "a", "client_secret": "b"}], "issuer and jwks_uri"),
        ([{"id": "x", "kind": "yandex", "name": "Y", "client_id": "a"}], "client_secret is required"),
        (
            [{"id": "x", "kind": "vk", "name": "V", "client_id": "a", "surprise": 1}],
            "DOSTUP_SOCIAL__PROVIDERS__0__SURPRISE",
        ),
        (
            [
                {"id": "x", "kind": "vk", "name": "V", "client_id": "a"},
                {"id": "x", "kind": "vk", "name": "W", "client_id": "b"},
            ],
            "unique",
        ),
        (
            [{"id": "x", "kind": "oidc", "name": "O", "client_id": "a", "client_secret": "b", "issuer": "ftp://x"}],
            "https:// URL",
        ),
        (
            [
                {
                    "id": "x",
                    "kind": "oidc",
                    "name": "O",
                    "client_id": "a",
                    "client_secret": "b",
                    "issuer": "http://sso.example.com",
                }
            ],
            "DOSTUP_SOCIAL__PROVIDERS[0].issuer",
        ),
    ],
)
def test_a_wrong_provider_setting_stops_the_start_naming_it(providers: object, named: str) -> None:
    with pytest.raises(SettingsError) as err:
        _load(providers)
    assert named in str(err.value)


def test_http_loopback_issuer_only_in_development() -> None:
    local = [
        {
            "id": "x",
            "kind": "oidc",
            "name": "O",
            "client_id": "a",
            "client_secret": "b",
            "issuer": "http://127.0.0.1:9000",
        }
    ]
    assert _load(local).social.providers[0].issuer == "http://127.0.0.1:9000"
    with pytest.raises(SettingsError) as err:
        _load(local, DOSTUP_ENV="production", DOSTUP_SECRET_KEY="k" * 40, DOSTUP_PUBLIC_URL="https://lk.example")
    assert "DOSTUP_SOCIAL__PROVIDERS[0].issuer" in str(err.value)
