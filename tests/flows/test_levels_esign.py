"""«Подтверждённая учётная запись» by a qualified electronic signature (SPEC §4.8: «or a qualified e-signature
(pluggable)»), with the built-in check, on both backends and both surfaces.  The CA, the personal certificates
(SNILS 1.2.643.100.3, SN, G «Имя Отчество») and the detached CMS signatures are real (``cryptography``'s x509
builder and ``PKCS7SignatureBuilder``): a «Стандартная» customer gets the statement, signs it and becomes
«Подтверждённая»; every bad signature, certificate, person and statement is its own 4xx that changes nothing.
The certificates name CRL distribution points a real local HTTP server answers (revocation itself:
``test_levels_esign_revocation.py``).  The external verification service's adapter: ``test_levels_esign_service.py``."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from dostup.accounts.levels import account_level
from dostup.core.context import Context
from dostup.persistence.models import Account, Flow, SecurityEvent
from dostup.persistence.models_levels import IdentityProfile, VerificationRequest
from dostup.settings import SettingsError
from tests.factories import make_account, sign_in
from tests.flows.esign_support import NOW, YEAR, Ca, ca_fixture, crls_fixture  # noqa: F401 - the fixtures ca, crls
from tests.flows.levels_support import GOSUSLUGI, SNILS, bearer
from tests.support import ApiSurface, Result, Surface, UiSurface, _api_result, make_settings, outbox

PAGE = "/settings/identity/signature"
API = "/api/v1/account/identity/signature"
OTHER_SNILS = "112233446" + "00"  # another person's (the check digit does not matter to the certificate)


@pytest.fixture
def settings_overrides(tmp_path: Path, ca: Ca) -> dict[str, str]:
    return GOSUSLUGI | {"DOSTUP_LEVELS__ESIGN_TRUSTED_ROOTS": json.dumps([ca.write_root(tmp_path)])}


async def customer(services: Any, surface: Surface, n: int, *, level: int = 2, family: str = "Петрова",
                   given: str = "Анна", middle: str | None = "Сергеевна", snils: str = SNILS) -> str:
    """A signed-in customer whose profile was checked (``level`` stored as a verifier would leave it)."""
    made = await make_account(services, n, f"c{n}@example.ru")
    async with services.db.write() as s:
        account = await s.get(Account, made.id)
        assert account is not None
        account.family_name, account.given_name, account.middle_name, account.snils = family, given, middle, snils
        if level > 1:
            s.add(IdentityProfile(account_id=made.id, level=level, no_middle_name=middle is None,
                                  updated_at=services.clock.now()))
    await sign_in(surface, made.phone)
    return made.id


async def start(surface: Surface) -> Result:
    """Ask for a statement; ``data``: ``flow_id`` and ``text`` (the page's download: the exact bytes)."""
    if isinstance(surface, UiSurface):
        r = surface._result(await surface.post_form(PAGE, {}, PAGE))
        if not r.ok:
            return r
        flow = parse_qs(urlsplit(r.data["location"]).query)["flow"][0]
        page = (await surface.client.get(r.data["location"])).text
        assert 'name="signature"' in page and "ЗАЯВЛЕНИЕ НА ПОДТВЕРЖДЕНИЕ УЧЁТНОЙ ЗАПИСИ" in page
        download = await surface.client.get(f"{PAGE}/statement?flow={flow}")
        assert download.status_code == 200 and "attachment" in download.headers["content-disposition"]
        return Result(201, True, data={"flow_id": flow, "text": download.content.decode()})
    return _api_result(await surface.client.post(API, headers=bearer(surface)))


async def sign(surface: Surface, flow_id: str, signature: str | None) -> Result:
    if isinstance(surface, UiSurface):
        return surface._result(await surface.post_form(PAGE + "/sign", {"flow": flow_id, "signature": signature},
                                                       f"{PAGE}?flow={flow_id}"))
    return _api_result(await surface.client.post(f"{API}/{flow_id}", json={"signature": signature},
                                                 headers=bearer(surface)))


def message(r: Result, surface: Surface) -> str:
    return r.data.get("fields", {}).get("signature") or r.message if isinstance(surface, UiSurface) else r.message


async def events(services: Any, account_id: str) -> list[str]:
    async with services.db.read() as s:
        return list((await s.execute(select(SecurityEvent.kind).where(SecurityEvent.account_id == account_id)
                                     )).scalars())


async def flow_row(services: Any, flow_id: str) -> Flow:
    async with services.db.read() as s:
        flow = await s.get(Flow, flow_id)
        assert flow is not None
        return flow


async def test_a_standard_customer_signs_the_statement_and_becomes_confirmed(client_factory, services, surface, ca):
    account_id = await customer(services, surface, 801, family="Семёнова", middle="Сергеевна")
    await services.letters.order(account_id, {"postcode": "170100", "region": "Тверская область", "city": "Тверь",
                                              "house": "5"}, Context(ip="127.0.0.1"))
    if isinstance(surface, UiSurface):
        cabinet = (await surface.client.get("/cabinet")).text
        assert f'href="{PAGE}"' in cabinet and "квалифицированной электронной подписью" in cabinet
        identity = (await surface.client.get("/settings/identity")).text  # the profile page lists it too
        assert f'href="{PAGE}"' in identity and 'href="/settings/identity/letter"' in identity
        page = (await surface.client.get(PAGE)).text
        assert "«КриптоПро» — программа для считывания электронной подписи или плагин для браузера" in page
        assert "ввести PIN-код и подписать заявление на подтверждение учётной записи" in page
    started = await start(surface)
    assert started.ok, (started.status, started.message)
    text = started.data["text"]
    assert "Семёнова Анна Сергеевна" in text and "112-233-445 95" in text and account_id in text
    flow = await flow_row(services, started.data["flow_id"])
    assert (flow.kind, flow.state, flow.account_id) == ("esign", "started", account_id)
    assert flow.expires_at - flow.created_at == dt.timedelta(minutes=30)
    again = await start(surface)  # each statement has its own random number
    assert again.data["text"] != text
    if isinstance(surface, ApiSurface):
        view = (await surface.client.get(f"{API}?flow={started.data['flow_id']}", headers=bearer(surface))).json()
        assert view["may_start"] and view["statement"]["text"] == text

    # the certificate spells the names in capitals and without «ё»: still the same person
    person = ca.person(snils=SNILS, surname="СЕМЕНОВА", given="анна  сергеевна")
    done = await sign(surface, started.data["flow_id"], ca.sign_b64(person, text.encode()))
    assert done.ok, (done.status, done.message, done.data.get("fields"))
    assert await account_level(services.db, account_id) == 3
    assert "esign_confirmed" in await events(services, account_id)
    notice = next(m for m in await outbox(client_factory()) if m["kind"] == "identity_confirmed_esign")
    assert notice["channel"] == "sms" and "электронной подписью" in notice["text"]
    async with services.db.read() as s:
        [letter] = (await s.execute(select(VerificationRequest).where(VerificationRequest.account_id == account_id)
                                    )).scalars()
    assert letter.state == "cancelled"  # the letter waiting with its code is not needed now
    replay = await sign(surface, started.data["flow_id"], ca.sign_b64(person, text.encode()))
    assert replay.status == 409 and "уже подписано" in message(replay, surface)
    other = await sign(surface, again.data["flow_id"], ca.sign_b64(person, again.data["text"].encode()))
    assert other.status == 409 and "только стандартная" in message(other, surface)
    if isinstance(surface, UiSurface):
        shown = (await surface.client.get(done.data["location"])).text
        assert "Личность подтверждена электронной подписью" in shown
    else:
        assert done.data["level"] == "confirmed" and done.data["certificate_serial"] == format(
            person.cert.serial_number, "x")
        assert replay.code == "statement_used"
        assert started.data["expires_at"].endswith("Z")  # RFC 3339 with its zone, as every API time
        shown = (await surface.client.get(f"{API}?flow={again.data['flow_id']}", headers=bearer(surface))).json()
        assert (shown["level"], shown["may_start"], shown["statement"]) == ("confirmed", False, None)


async def test_an_ecdsa_certificate_signs_too(services, client, ca):
    api = ApiSurface(client)
    account_id = await customer(services, api, 802)
    started = await start(api)
    person = ca.person(snils=SNILS, key_type="ec")
    done = await sign(api, started.data["flow_id"], ca.sign_b64(person, started.data["text"].encode(),
                                                                 hash_=__import__("cryptography.hazmat.primitives.hashes",
                                                                                  fromlist=["SHA384"]).SHA384()))
    assert done.ok, done.message
    assert await account_level(services.db, account_id) == 3


Make = Callable[[Ca, bytes], str]


def _other_ca(ca: Ca, content: bytes) -> str:
    stranger = Ca("Чужой УЦ")
    return stranger.sign_b64(stranger.person(snils=SNILS), content)


BAD: list[tuple[str, Make, str, str]] = [
    ("empty", lambda ca, c: "  ", "Вставьте электронную подпись", "required"),
    ("too_long", lambda ca, c: "A" * 48_004, "Подпись слишком длинная", "too_long"),
    ("not_base64", lambda ca, c: "это не подпись!", "в кодировке Base64", "bad_base64"),
    ("not_cms", lambda ca, c: base64.b64encode(b"0\x03\x02\x01\x00" * 10).decode(), "не электронная подпись в формате CMS",
     "signature_not_cms"),
    ("other_text", lambda ca, c: ca.sign_b64(ca.person(snils=SNILS), c + b" "), "Подписано не это заявление",
     "signature_wrong_statement"),
    ("untrusted", _other_ca, "выдан организацией, которой мы не доверяем", "signature_untrusted"),
    ("no_chain", lambda ca, c: ca.sign_b64(ca.person(snils=SNILS), c, chain=False), "которой мы не доверяем",
     "signature_untrusted"),
    ("expired", lambda ca, c: ca.sign_b64(ca.person(snils=SNILS, not_before=NOW - 2 * YEAR, not_after=NOW - YEAR / 12),
                                          c), "Срок действия сертификата подписи истёк", "signature_cert_expired"),
    ("not_yet_valid", lambda ca, c: ca.sign_b64(ca.person(snils=SNILS, not_before=NOW + YEAR / 12), c),
     "ещё не начал действовать", "signature_cert_not_yet_valid"),
    ("key_usage", lambda ca, c: ca.sign_b64(ca.person(snils=SNILS, usage={"key_encipherment": True}), c),
     "не предназначен для электронной подписи", "signature_key_usage"),
    ("no_key_usage", lambda ca, c: ca.sign_b64(ca.person(snils=SNILS, usage={}), c),
     "не предназначен для электронной подписи", "signature_key_usage"),
    ("no_snils", lambda ca, c: ca.sign_b64(ca.person(snils=None), c), "В сертификате нет СНИЛС", "signature_no_person"),
    ("other_snils", lambda ca, c: ca.sign_b64(ca.person(snils=OTHER_SNILS), c), "Подпись принадлежит другому человеку",
     "other_person"),
    ("other_surname", lambda ca, c: ca.sign_b64(ca.person(snils=SNILS, surname="Иванова"), c),
     "Подпись принадлежит другому человеку", "other_person"),
    ("other_middle_name", lambda ca, c: ca.sign_b64(ca.person(snils=SNILS, given="Анна Петровна"), c),
     "Подпись принадлежит другому человеку", "other_person"),
]


@pytest.mark.parametrize(("make", "text", "code"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
async def test_each_bad_signature_is_named_and_changes_nothing(services, surface, ca, make, text, code):
    account_id = await customer(services, surface, 803)
    started = await start(surface)
    before = await events(services, account_id)
    r = await sign(surface, started.data["flow_id"], make(ca, started.data["text"].encode()))
    assert r.status == 422 and text in message(r, surface), (r.status, message(r, surface))
    if isinstance(surface, ApiSurface):
        assert (r.code, r.field) == (code, "signature")
    else:
        assert 'name="signature"' in r.data["html"]  # the form is shown again, with the statement
    assert await account_level(services.db, account_id) == 2
    after = await events(services, account_id)
    assert "esign_confirmed" not in after
    flow = await flow_row(services, started.data["flow_id"])
    assert flow.state == "started"
    checked = code.startswith("signature_") or code == "other_person"  # the check ran: its try is counted
    assert flow.data["tries"] == (1 if checked else 0)
    new = sorted((Counter(after) - Counter(before)).elements())  # the frozen clock ties: no order
    assert new == (["esign_other_person"] if code == "other_person" else ["esign_refused"] if checked else [])


async def test_five_refused_signatures_end_the_statement(services, client, ca):
    api = ApiSurface(client)
    account_id = await customer(services, api, 804)
    started = await start(api)
    flow_id, content = started.data["flow_id"], started.data["text"].encode()
    for _ in range(5):
        assert (await sign(api, flow_id, ca.sign_b64(ca.person(snils=OTHER_SNILS), content))).status == 422
    right = await sign(api, flow_id, ca.sign_b64(ca.person(snils=SNILS), content))
    assert right.status == 409 and right.code == "statement_exhausted" and "пять раз" in right.message
    assert await account_level(services.db, account_id) == 2
    fresh = await start(api)
    assert (await sign(api, fresh.data["flow_id"], ca.sign_b64(ca.person(snils=SNILS), fresh.data["text"].encode()))).ok


async def test_an_expired_unknown_or_anothers_statement_is_refused(services, surface, surface_factory, clock, ca):
    account_id = await customer(services, surface, 805)
    started = await start(surface)
    signature = ca.sign_b64(ca.person(snils=SNILS), started.data["text"].encode())
    unknown = await sign(surface, "no-such-flow", signature)
    assert unknown.status == 404 and "Заявление не найдено" in message(unknown, surface)
    stranger = surface_factory()
    await customer(services, stranger, 806, snils=OTHER_SNILS)
    theirs = await sign(stranger, started.data["flow_id"], signature)
    assert theirs.status == 404
    async with services.db.write() as s:  # its 30 minutes are over (the session's idle timeout is 30 too)
        flow = await s.get(Flow, started.data["flow_id"])
        flow.expires_at = clock.now()
    late = await sign(surface, started.data["flow_id"], signature)
    assert late.status == 410 and "Срок подписания заявления истёк" in message(late, surface)
    assert await account_level(services.db, account_id) == 2
    if isinstance(surface, UiSurface):  # the stale statement is not shown; a new one may be asked for
        page = (await surface.client.get(f"{PAGE}?flow={started.data['flow_id']}")).text
        assert "Заявление больше нельзя подписать" in page and 'name="signature"' not in page


@pytest.mark.parametrize("level", [1, 3])
async def test_only_a_standard_account_gets_a_statement(services, surface, level):
    account_id = await customer(services, surface, 807, level=level)
    r = await start(surface)
    assert r.status == 409 and "только стандартная" in message(r, surface)
    async with services.db.read() as s:
        assert (await s.execute(select(Flow).where(Flow.account_id == account_id, Flow.kind == "esign"))).first() is None
    if isinstance(surface, UiSurface):
        page = (await surface.client.get(PAGE)).text
        assert ("после того, как проверены данные профиля" if level == 1 else "уже подтверждена") in page


async def test_two_signatures_of_one_statement_racing_confirm_once(services, client, ca):
    api = ApiSurface(client)
    account_id = await customer(services, api, 808)
    started = await start(api)
    signature = ca.sign_b64(ca.person(snils=SNILS), started.data["text"].encode())
    results = await asyncio.gather(*(sign(api, started.data["flow_id"], signature) for _ in range(5)))
    assert sorted(r.status for r in results) == [200, 409, 409, 409, 409]
    assert (await events(services, account_id)).count("esign_confirmed") == 1


@pytest.mark.parametrize("settings_overrides", [GOSUSLUGI, {}], ids=["no-roots", "levels-off"])
async def test_without_levels_or_a_configured_check_it_is_404(services, client_factory):
    api = ApiSurface(client_factory())
    await customer(services, api, 809)
    assert (await api.client.post(API, headers=bearer(api))).status_code == 404
    assert (await api.client.post(f"{API}/x", json={"signature": "AA=="}, headers=bearer(api))).status_code == 404
    browser = UiSurface(client_factory())
    await sign_in(browser, (await make_account(services, 810)).phone)
    assert (await browser.client.get(PAGE)).status_code == 404
    assert PAGE not in (await browser.client.get("/cabinet")).text
    assert PAGE not in (await browser.client.get("/settings/identity")).text


def test_trusted_roots_must_be_readable_pem_files(tmp_path: Path):
    with pytest.raises(SettingsError, match="cannot read"):
        make_settings(DOSTUP_LEVELS__ESIGN_TRUSTED_ROOTS=json.dumps([str(tmp_path / "missing.pem")]))
    (tmp_path / "junk.pem").write_text("not a certificate")
    with pytest.raises(SettingsError, match="holds no PEM certificate"):
        make_settings(DOSTUP_LEVELS__ESIGN_TRUSTED_ROOTS=json.dumps([str(tmp_path / "junk.pem")]))


async def test_deleting_the_account_erases_its_statements(client_factory, services):
    from tests.flows.test_deletion import _delete, _reauth

    api = ApiSurface(client_factory())
    account_id = await customer(services, api, 811)
    assert (await start(api)).ok
    await _reauth(api)
    assert await _delete(api) == 204
    async with services.db.read() as s:  # the statement named the person and the SNILS
        assert (await s.execute(select(Flow).where(Flow.account_id == account_id, Flow.kind == "esign"))).first() is None


async def test_a_sixth_statement_waiting_at_once_is_429_until_the_oldest_expires(services, surface, clock, ca):
    account_id = await customer(services, surface, 812)
    first = await start(surface)
    for _ in range(4):
        assert (await start(surface)).ok
    sixth = await start(surface)
    assert sixth.status == 429 and "несколько раз получили заявление" in message(sixth, surface)
    assert int(sixth.headers["retry-after"]) == 30 * 60 + 1
    done = await sign(surface, first.data["flow_id"], ca.sign_b64(ca.person(snils=SNILS), first.data["text"].encode()))
    assert done.ok and await account_level(services.db, account_id) == 3  # the waiting ones stay signable meanwhile
