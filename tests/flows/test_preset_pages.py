"""What every preset's pages say before anyone signs in (issue 9 §1, «every preset»): the home page's
sign-in wording, the documents at ``/docs/{id}`` and every link to them, local times, captcha off.

Nothing here is stored beyond a registration's flow, so one backend (SQLite) serves; the
registration flows themselves run on both in test_presets.py and test_preset_fidelity.py.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from dostup.accounts.legal import DOCUMENT_IDS, LegalDocuments, parse
from dostup.presets import PRESETS
from dostup.services import build_services
from dostup.settings import SettingsError
from dostup.web.app import create_app
from tests.flows.helpers import phone_e164
from tests.support import UiSurface, captcha_token, make_settings

HOME_WAYS = {
    "kit": "с помощью логина или номера телефона",
    "rostelecom": "с помощью логина, номера телефона или электронной почты",
    "gosuslugi": "с помощью номера телефона, электронной почты или СНИЛС",
    "sber": "с помощью логина или номера карты",
}


@pytest.fixture
def cabinet(sqlite_template: Path, tmp_path: Path) -> Callable[..., Any]:
    @asynccontextmanager
    async def run(preset: str, **env: str) -> AsyncIterator[httpx.AsyncClient]:
        shutil.copyfile(sqlite_template, tmp_path / f"{preset}.db")
        settings = make_settings(DOSTUP_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/{preset}.db",
                                 DOSTUP_PRESET=preset, **env)
        services = build_services(settings)
        await services.start(run_migrations=False)
        try:
            transport = httpx.ASGITransport(app=create_app(services=services, run_migrations=False))
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
                yield client
        finally:
            await services.stop()

    return run


def _links(html: str) -> set[str]:
    return {h for h in re.findall(r'href="(/[^"#]*)', html) if not h.startswith("/static/")}


@pytest.mark.parametrize("preset", list(PRESETS))
async def test_home_page_names_the_presets_own_ways_to_sign_in(cabinet, preset):
    async with cabinet(preset) as client:
        home = await client.get("/")
    assert f"Войти в свой Личный кабинет {HOME_WAYS[preset]}" in home.text


@pytest.mark.parametrize("preset", list(PRESETS))
async def test_every_document_and_every_link_on_the_signed_out_pages_answers(cabinet, preset):
    async with cabinet(preset) as client:
        for doc_id in DOCUMENT_IDS:
            page = await client.get(f"/docs/{doc_id}")
            assert page.status_code == 200, doc_id
            assert "Редакция 2024-01" in page.text
            exact = await client.get(f"/docs/{doc_id}/2024-01")
            article = re.compile(r"<article.*</article>", re.S)
            assert exact.status_code == 200 and article.search(exact.text)[0] == article.search(page.text)[0]
            api = (await client.get(f"/api/v1/documents/{doc_id}")).json()
            assert api["version"] == "2024-01" and api["url"] == f"/docs/{doc_id}/2024-01" and api["blocks"]
        assert {d["id"] for d in (await client.get("/api/v1/documents")).json()["items"]} == set(DOCUMENT_IDS)
        for missing in ("/docs/nothing", "/docs/policy/1999-01"):
            gone = await client.get(missing)
            assert gone.status_code == 404 and "Документ не найден" in gone.text, missing
        assert (await client.get("/docs/..%2f..%2fsettings.py")).status_code == 404
        assert (await client.get("/api/v1/documents/nothing")).json()["error"]["code"] == "not_found"

        registration = (await client.get("/registration")).text
        footer = registration.split("<footer>")[1]
        assert '<a href="/docs/agreement">настоящего соглашения</a>' in footer
        assert '<a href="/docs/policy">Политикой конфиденциальности</a>' in footer
        assert '<a href="/docs/policy">Политикой по обработке персональных данных</a>' in registration
        assert '<a href="/docs/rules">Правилами оказания услуг</a>' in registration
        seen: set[str] = set()
        for path in ("/", "/login", "/registration", "/recovery", "/docs/policy"):
            html = (await client.get(path)).text
            seen |= _links(html)
        for link in sorted(seen):
            assert (await client.get(link, follow_redirects=True)).status_code == 200, link


def test_a_document_file_reads_as_title_sections_paragraphs_and_lists(tmp_path: Path):
    doc = parse("rules", "2025-02", "# Правила\n\nПервый\nабзац.\n\n## 1. Раздел\n\n- один;\n- два.\n")
    assert doc.title == "Правила"
    assert [(b.kind, b.lines) for b in doc.blocks] == [("p", ("Первый абзац.",)), ("h2", ("1. Раздел",)),
                                                       ("ul", ("один;", "два."))]
    (tmp_path / "kit").mkdir()
    (tmp_path / "kit" / "rules.2024-01.md").write_text("# Старые правила\n\nТекст.\n", encoding="utf-8")
    (tmp_path / "kit" / "rules.2025-02.md").write_text("# Новые правила\n\nТекст.\n", encoding="utf-8")
    docs = LegalDocuments.load("kit", tmp_path)
    assert docs.find("rules").title == "Новые правила" and docs.find("rules").versions == ("2025-02", "2024-01")
    assert docs.find("rules", "2024-01").title == "Старые правила"
    (tmp_path / "kit" / "notes.txt.md").write_text("# x\n", encoding="utf-8")
    with pytest.raises(ValueError, match="<id>.<version>.md"):
        LegalDocuments.load("kit", tmp_path)
    with pytest.raises(ValueError, match="title"):
        parse("rules", "1", "no title")


@pytest.mark.parametrize("preset", list(PRESETS))
def test_each_preset_ships_its_documents_and_links_them(preset):
    docs = LegalDocuments.load(preset)
    assert docs.ids() == tuple(sorted(DOCUMENT_IDS))
    p = PRESETS[preset]
    assert {p.policy_url, p.rules_url, p.agreement_url} == {f"/docs/{i}" for i in DOCUMENT_IDS}
    assert p.product_name in docs.find("agreement").blocks[0].lines[0]
    # A consent is recorded with the preset's consent version: the documents it names are of that version.
    assert docs.find("policy").version == docs.find("rules").version == p.consent_version


async def test_times_are_shown_in_the_browsers_zone_and_the_api_keeps_utc(cabinet):
    async with cabinet("kit", DOSTUP_REQUIRE_COMPANY="false") as client:
        ui = UiSurface(client)
        phone = phone_e164(920)
        r = await ui.register(phone=phone, country="RU", password="Tundra-Lantern-42",
                              password_repeat="Tundra-Lantern-42", consent_personal_data=True,
                              captcha=await captcha_token(client, "register"))
        assert r.ok, r
        flow = r.data["flow_id"]
        api = (await client.get(f"/api/v1/registration/{flow}")).json()["code_expires_at"]
        hours = int(api[11:13]), int(api[14:16])

        def shown(html: str) -> str:
            return re.search(r"Код действует до ([^<]*)</p>", html).group(1)

        default = shown((await client.get(f"/registration/code?flow={flow}")).text)
        assert f"{(hours[0] + 3) % 24:02d}:{hours[1]:02d} (Москва, стандартное время)" in default
        client.cookies.set("tz", "Asia/Vladivostok")
        local = shown((await client.get(f"/registration/code?flow={flow}")).text)
        assert local.endswith(f"{(hours[0] + 10) % 24:02d}:{hours[1]:02d}") and "UTC" not in local
        for bad in ("../../etc/passwd", "Mars/Olympus", "x" * 200, ""):
            client.cookies.set("tz", bad)
            assert "(Москва, стандартное время)" in shown((await client.get(f"/registration/code?flow={flow}")).text)
        assert (await client.get("/static/tz.js")).status_code == 200


async def test_the_default_zone_is_a_setting(cabinet):
    async with cabinet("kit", DOSTUP_TIME_ZONE="Asia/Yekaterinburg") as client:
        assert (await client.get("/")).status_code == 200
    with pytest.raises(SettingsError, match="DOSTUP_TIME_ZONE"):
        make_settings(DOSTUP_TIME_ZONE="Moscow/Kremlin")


@pytest.mark.parametrize("preset", list(PRESETS))
async def test_captcha_none_hides_the_widget_and_the_registration_form_submits(cabinet, preset):
    async with cabinet(preset, DOSTUP_CAPTCHA__PROVIDER="none") as client:
        page = (await client.get("/registration")).text
        assert "altcha-widget" not in page and "altcha.js" not in page
        login = (await client.get("/login?method=login")).text
        assert "altcha-widget" not in login
        def fields(n: int) -> dict[str, Any]:
            phone = phone_e164(n)
            return {"country": "RU", "consent_personal_data": True, **{
                "kit": {"phone": phone, "password": "Tundra-Lantern-42", "password_repeat": "Tundra-Lantern-42"},
                "rostelecom": {"family_name": "Иванов", "given_name": "Иван", "region": "Москва", "contact": phone},
                "gosuslugi": {"family_name": "Иванов", "given_name": "Иван", "phone": phone,
                              "email": f"ivan{n}@example.org"},
                "sber": {"card": {921: "4276380012345679", 922: "4276380000000005"}[n]},
            }[preset]}

        r = await UiSurface(client).register(**fields(921))
        assert r.ok, (r.status, r.field, r.message)
        api = await client.post("/api/v1/registration", json=fields(922))
        assert api.status_code == 201, api.text
