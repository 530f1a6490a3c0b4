"""«Стандартная учётная запись» (SPEC §4.8) end to end on both backends and both surfaces: the customer fills the
full profile and sends it for the check, an operator approves or rejects it in the review queue (staff bearer,
two factors, a reason, audited), the customer is told by SMS, the level becomes «Стандартная» and the OpenID
Connect provider says so; a later change to a checked field lowers it again and says so.  Bad input on every
field is a 422 that writes nothing; levels are off (404) where the preset has none."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select, update

from dostup.accounts.levels import account_level
from dostup.core.crypto import Keyring
from dostup.persistence.models import Account, SecurityEvent
from dostup.persistence.models_levels import IdentityProfile
from dostup.selfservice.verification.passport import PassportSeal
from tests.factories import make_account, sign_in
from tests.flows.levels_support import GOSUSLUGI, PAGE, PERSON, SNILS, bearer, count_requests, rows, status, submit
from tests.flows.test_operator_search import REASON, _audit, _staff
from tests.support import ApiSurface, UiSurface, outbox

QUEUE = "/api/v1/admin/verifications"
pytestmark = pytest.mark.parametrize("settings_overrides", [GOSUSLUGI])


async def _customer(services: Any, surface: Any, n: int) -> str:
    made = await make_account(services, n, f"c{n}@example.ru")
    await sign_in(surface, made.phone)
    return made.id


async def _pending(staff: Any, headers: dict[str, str]) -> list[dict[str, Any]]:
    r = await staff.post(f"{QUEUE}/pending", json={"reason": REASON}, headers=headers)
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


async def test_a_profile_approved_by_an_operator_makes_the_account_standard_and_the_customer_is_told(
        client_factory, services, surface):
    account_id = await _customer(services, surface, 501)
    before = await status(surface)
    assert (before["level"], before["level_number"], before["verification"]) == ("simplified", 1, None)

    sent = await submit(surface, **PERSON)
    assert sent.ok, (sent.status, sent.message, sent.data)
    profile, reqs = await rows(services, account_id)
    assert profile is not None and profile.level == 1 and _passport(services, profile)["passport_division_code"] == "770-001"
    assert [(r.state, r.verifier) for r in reqs] == [("submitted", "operator")]
    waiting = await status(surface)
    assert waiting["verification"]["state"] == "submitted" and waiting["level"] == "simplified"
    again = await submit(surface, **PERSON)  # the same data while it waits: nothing new
    assert again.ok and len((await rows(services, account_id))[1]) == 1
    if isinstance(surface, UiSurface):
        assert sent.data["location"].endswith("?sent=1") and again.data["location"].endswith("?saved=1")
        assert "Данные сохранены и отправлены на проверку." in (await surface.client.get(sent.data["location"])).text
    else:
        assert sent.data["sent"] is True and again.data["sent"] is False

    staff = client_factory()
    headers = await _staff(staff, services, 590, "operator")
    items = await _pending(staff, headers)
    assert [(i["account_id"], i["data"]["passport_number"], i["data"]["snils"]) for i in items] == [
        (account_id, "123456", SNILS)]
    r = await staff.post(f"{QUEUE}/{items[0]['id']}/approve", json={"reason": "Паспорт и СНИЛС сверены"},
                         headers=headers)
    assert r.status_code == 204, r.text
    twice = await staff.post(f"{QUEUE}/{items[0]['id']}/reject", json={"reason": REASON}, headers=headers)
    assert twice.status_code == 409 and twice.json()["error"]["code"] == "not_waiting"

    after = await status(surface)
    assert (after["level"], after["level_number"], after["next_level"]) == ("standard", 2, "confirmed")
    assert after["verification"]["state"] == "approved"
    assert await account_level(services.db, account_id) == 2
    notice = next(m for m in await outbox(client_factory()) if m["kind"] == "verification_approved")
    assert notice["channel"] == "sms" and "Стандартная учётная запись" in notice["text"]
    assert [(a.action, a.detail.get("request")) for a in await _audit(services)] == [
        ("verification_queue", None), ("verification_approve", items[0]["id"])]
    assert await _pending(staff, headers) == []
    async with services.db.read() as s:
        kinds = list((await s.execute(select(SecurityEvent.kind).where(SecurityEvent.account_id == account_id)))
                     .scalars())
    assert "verification_submitted" in kinds and "level_raised" in kinds
    if isinstance(surface, UiSurface):
        home = (await surface.client.get("/cabinet")).text
        assert "<strong>Стандартная учётная запись</strong>" in home and "запись к врачу" in home
        assert "Подтверждённая учётная запись" in home and "регистрация брака" in home
        assert "В центр обслуживания нужно взять паспорт и СНИЛС" in home


async def test_a_rejection_keeps_the_level_and_tells_the_reason(client_factory, services, surface):
    account_id = await _customer(services, surface, 502)
    assert (await submit(surface, **{**PERSON, "middle_name": "", "no_middle_name": True})).ok
    staff = client_factory()
    headers = await _staff(staff, services, 591, "operator")
    [item] = await _pending(staff, headers)
    assert item["data"]["no_middle_name"] is True and item["data"]["middle_name"] is None
    r = await staff.post(f"{QUEUE}/{item['id']}/reject", json={"reason": "Номер паспорта не совпадает с МВД"},
                         headers=headers)
    assert r.status_code == 204
    profile, [rejected] = await rows(services, account_id)
    assert set(rejected.data) == {"digest"} and profile is not None and profile.checked is None
    got = await status(surface)
    assert got["level"] == "simplified" and got["verification"]["state"] == "rejected"
    assert got["verification"]["answer"] == "Номер паспорта не совпадает с МВД"
    notice = next(m for m in await outbox(client_factory()) if m["kind"] == "verification_rejected")
    assert "Номер паспорта не совпадает с МВД" in notice["text"]
    if isinstance(surface, UiSurface):
        page = (await surface.client.get(PAGE)).text
        assert "Причина: Номер паспорта не совпадает с МВД" in page and 'name="no_middle_name" checked' in page
    services.clock.advance(seconds=60)
    fixed = await submit(surface, **{**PERSON, "passport_number": "654321"})  # a new request, waiting again
    assert fixed.ok
    assert [r.state for r in (await rows(services, account_id))[1]] == ["rejected", "submitted"]


async def test_a_change_to_a_checked_field_lowers_the_level_and_says_so(client_factory, services, surface):
    account_id = await _customer(services, surface, 503)
    assert (await submit(surface, **PERSON)).ok
    staff = client_factory()
    headers = await _staff(staff, services, 592, "operator")
    [item] = await _pending(staff, headers)
    assert (await staff.post(f"{QUEUE}/{item['id']}/approve", json={"reason": REASON}, headers=headers)).status_code == 204
    assert (await status(surface))["level"] == "standard"
    profile, [answered] = await rows(services, account_id)  # answered: a digest of what was checked, no second copy
    assert profile is not None and profile.passport  # the profile holds the passport (sealed)
    assert answered.data == profile.checked == {"digest": answered.data["digest"]}
    assert PERSON["passport_number"] not in str(answered.data) and len(str(answered.data["digest"])) == 64

    same = await submit(surface, **PERSON)  # unchanged: stays standard, nothing sent
    assert same.ok and (await status(surface))["level"] == "standard" and await count_requests(services) == 1

    if isinstance(surface, UiSurface):  # the names on «Мои данные»
        r = await surface.post_form("/settings", {"family_name": "Иванова", "given_name": "Анна",
                                                  "middle_name": "Сергеевна"}, "/settings")
        assert r.status_code == 303 and "lowered=1" in r.headers["location"]
        shown = (await surface.client.get(r.headers["location"])).text
        assert "учётная запись снова упрощённая" in shown
    else:
        r = await surface.client.put("/api/v1/settings/profile", json={"family_name": "Иванова"},
                                     headers=bearer(surface))
        assert r.status_code == 200 and r.json()["level_lowered"] is True
    got = await status(surface)
    assert (got["level"], got["level_number"]) == ("simplified", 1)
    assert await account_level(services.db, account_id) == 1

    services.clock.advance(seconds=60)
    resent = await submit(surface, **{**PERSON, "family_name": "Иванова"})
    assert resent.ok
    services.clock.advance(seconds=60)
    moved = await submit(surface, **{**PERSON, "family_name": "Иванова", "birth_place": "гор. Москва"})
    assert moved.ok  # changed again while waiting: the waiting request is cancelled, a new one waits
    assert [r.state for r in (await rows(services, account_id))[1]] == ["approved", "cancelled", "submitted"]
    cancelled, waiting = (await rows(services, account_id))[1][1:]
    assert cancelled.data == {} and waiting.data["birth_place"] == "гор. Москва"  # the queue shows the waiting one
    late = await staff.post(f"{QUEUE}/{cancelled.id}/approve", json={"reason": REASON}, headers=headers)
    assert late.status_code == 409 and (await status(surface))["level"] == "simplified"


async def test_the_snils_form_lowers_a_standard_account_too(client_factory, services):
    api = ApiSurface(client_factory())
    await _customer(services, api, 504)
    assert (await submit(api, **PERSON)).ok
    staff = client_factory()
    headers = await _staff(staff, services, 593, "operator")
    [item] = await _pending(staff, headers)
    await staff.post(f"{QUEUE}/{item['id']}/approve", json={"reason": REASON}, headers=headers)
    r = await api.client.put("/api/v1/settings/snils", json={"snils": "12345678964"}, headers=bearer(api))
    assert r.status_code == 200 and r.json()["level_lowered"] is True
    assert (await status(api))["level"] == "simplified"


BAD = [
    ("family_name", ""), ("given_name", "1"), ("middle_name", ""), ("gender", "x"), ("birth_date", "32.01.1990"),
    ("birth_place", "12"), ("citizenship", "ZZ"), ("passport_series", "12"), ("passport_number", "abc"),
    ("passport_issued_on", "2099-01-01"), ("passport_division_code", "1234"), ("passport_issuer", "\x01"),
    ("snils", "112-233-445 00"),
]


@pytest.mark.parametrize(("field", "value"), BAD)
async def test_bad_input_in_any_field_is_a_422_that_writes_nothing(services, surface, field, value):
    account_id = await _customer(services, surface, 505)
    r = await submit(surface, **{**PERSON, field: value})
    assert r.status == 422 and r.field == field and r.message, (r.status, r.field, r.message)
    profile, reqs = await rows(services, account_id)
    assert profile is None and reqs == []
    async with services.db.read() as s:
        account = await s.get(Account, account_id)
    assert account is not None and account.family_name is None and account.snils is None
    if isinstance(surface, UiSurface):  # the form comes back with what was typed
        assert f'value="{PERSON["passport_issuer"]}"' in r.data["html"] or field == "passport_issuer"


async def test_a_patronymic_and_no_patronymic_together_are_refused(services, surface):
    account_id = await _customer(services, surface, 512)
    r = await submit(surface, **PERSON, no_middle_name=True)
    assert r.status == 422 and r.field == "middle_name" and "оставьте что-то одно" in r.message
    assert await rows(services, account_id) == (None, [])


async def test_a_snils_of_another_cabinet_is_a_409_and_unknown_fields_are_ignored(client_factory, services, surface):
    other = await make_account(services, 506)
    async with services.db.write() as s:
        (await s.get(Account, other.id)).snils = SNILS
    account_id = await _customer(services, surface, 507)
    r = await submit(surface, **PERSON)
    assert r.status == 409 and r.field == "snils"
    assert await rows(services, account_id) == (None, [])
    if isinstance(surface, ApiSurface):
        sneaky = await surface.client.put("/api/v1/account/identity", headers=bearer(surface),
                                          json={**PERSON, "snils": "12345678964", "level": 3, "state": "approved"})
        assert sneaky.status_code == 200 and sneaky.json()["status"]["level_number"] == 1
        big = await surface.client.put("/api/v1/account/identity", headers=bearer(surface),
                                       json={**PERSON, "birth_place": "Т" * 5000})
        assert big.status_code == 422
        bad_json = await surface.client.put("/api/v1/account/identity", headers={
            **bearer(surface), "Content-Type": "application/json"}, content=b"{nope")
        assert bad_json.status_code in (400, 422)


async def test_the_queue_is_staff_only_with_a_reason_and_nobody_answers_their_own(client_factory, services):
    api = ApiSurface(client_factory())
    await _customer(services, api, 508)
    assert (await submit(api, **PERSON)).ok
    customer = await api.client.post(f"{QUEUE}/pending", json={"reason": REASON}, headers=bearer(api))
    assert customer.status_code == 403
    assert (await client_factory().post(f"{QUEUE}/pending", json={"reason": REASON})).status_code == 401
    staff = client_factory()
    headers = await _staff(staff, services, 594, "operator")
    for body in ({}, {"reason": "x"}):
        r = await staff.post(f"{QUEUE}/pending", json=body, headers=headers)
        assert r.status_code == 422 and r.json()["error"]["field"] == "reason"
    for cursor in ("garbage", "x" * 500):
        r = await staff.post(f"{QUEUE}/pending?after={cursor}", json={"reason": REASON}, headers=headers)
        assert r.status_code == 422, r.text
    [item] = await _pending(staff, headers)
    for body in ({}, {"reason": "я" * 301}):
        r = await staff.post(f"{QUEUE}/{item['id']}/approve", json=body, headers=headers)
        assert r.status_code == 422
    assert (await staff.post(f"{QUEUE}/nothing/approve", json={"reason": REASON}, headers=headers)).status_code == 404
    assert (await status(api))["level"] == "simplified"
    # an operator's own request is not theirs to answer
    op_surface = ApiSurface(client_factory())
    op_surface.token = headers["Authorization"].split()[1]
    assert (await submit(op_surface, **{**PERSON, "snils": "12345678964"})).ok
    own = [i for i in await _pending(staff, headers) if i["data"]["snils"] == "12345678964"][0]
    r = await staff.post(f"{QUEUE}/{own['id']}/approve", json={"reason": REASON}, headers=headers)
    assert r.status_code == 403 and r.json()["error"]["code"] == "not_allowed"


async def test_submissions_are_limited_per_day(services, surface):
    await _customer(services, surface, 509)
    for i in range(services.settings.levels.requests_per_day):
        services.clock.advance(seconds=10)
        assert (await submit(surface, **{**PERSON, "birth_place": f"гор. Тверь, {i}"})).ok
    r = await submit(surface, **{**PERSON, "birth_place": "гор. Псков"})
    assert r.status == 429 and "не больше 5 раз в сутки" in r.message


async def test_deleting_the_account_erases_the_passport_and_cancels_the_waiting_check(client_factory, services):
    from tests.flows.test_deletion import _delete, _reauth

    api = ApiSurface(client_factory())
    account_id = await _customer(services, api, 510)
    assert (await submit(api, **PERSON)).ok
    await _reauth(api)
    assert await _delete(api) == 204
    profile, [req] = await rows(services, account_id)
    assert profile is None and req.state == "cancelled" and req.data == {}
    staff = client_factory()
    headers = await _staff(staff, services, 595, "operator")
    assert await _pending(staff, headers) == []


async def test_an_operator_confirms_a_standard_accounts_identity_in_person(client_factory, services):
    api = ApiSurface(client_factory())
    account_id = await _customer(services, api, 511)
    staff = client_factory()
    headers = await _staff(staff, services, 596, "operator")
    confirm = f"/api/v1/admin/accounts/{account_id}/confirm-identity"
    early = await staff.post(confirm, json={"reason": "Клиент в центре обслуживания"}, headers=headers)
    assert early.status_code == 409 and early.json()["error"]["code"] == "not_standard"  # nothing checked yet
    assert (await submit(api, **PERSON)).ok
    [item] = await _pending(staff, headers)
    await staff.post(f"{QUEUE}/{item['id']}/approve", json={"reason": REASON}, headers=headers)
    assert (await staff.post(confirm, json={}, headers=headers)).status_code == 422  # a reason is required
    assert (await api.client.post(confirm, json={"reason": REASON}, headers=bearer(api))).status_code == 403
    r = await staff.post(confirm, json={"reason": "Паспорт 45 08 123456 и СНИЛС предъявлены в ЦО №12"},
                         headers=headers)
    assert r.status_code == 204, r.text
    got = await status(api)
    assert (got["level"], got["level_number"], got["next_level"]) == ("confirmed", 3, None)
    assert await account_level(services.db, account_id) == 3
    again = await staff.post(confirm, json={"reason": REASON}, headers=headers)
    assert again.status_code == 409
    assert next(m for m in await outbox(client_factory()) if m["kind"] == "identity_confirmed")["channel"] == "sms"
    assert (await _audit(services))[-1].action == "confirm_identity"
    card = await staff.post(f"/api/v1/admin/accounts/{account_id}/card", json={"reason": REASON}, headers=headers)
    assert card.json()["level"] == 3
    services_now = (await api.client.get("/api/v1/account/services", headers=bearer(api))).json()
    assert services_now["next_level"] is None and services_now["unlocked_next"] == []
    assert (await staff.post("/api/v1/admin/accounts/nobody/confirm-identity", json={"reason": REASON},
                             headers=headers)).status_code == 404


async def test_the_passport_is_sealed_at_rest_and_a_profile_saved_before_is_read_then_sealed(services, surface):
    account_id = await _customer(services, surface, 506)
    assert (await submit(surface, **PERSON)).ok
    profile, _ = await rows(services, account_id)
    assert profile is not None and profile.passport
    assert profile.passport_series is None and profile.passport_number is None and profile.passport_issuer is None
    assert PERSON["passport_number"] not in profile.passport and "4510" not in profile.passport
    shown = await _identity(surface)  # the owner still sees it
    assert PERSON["passport_number"] in shown and PERSON["passport_issuer"] in shown

    async with services.db.write() as s:  # a profile saved before 0051: its fields in the old columns
        await s.execute(update(IdentityProfile).where(IdentityProfile.account_id == account_id).values(
            passport=None, passport_series="4510", passport_number="654321"))
    assert "654321" in await _identity(surface)
    assert (await submit(surface, **{**PERSON, "passport_number": "654321"})).ok
    profile, _ = await rows(services, account_id)
    assert profile is not None and profile.passport and profile.passport_number is None
    assert "654321" in await _identity(surface)


def _passport(services: Any, profile: IdentityProfile) -> dict[str, object]:
    """The profile's passport fields, opened with the instance key as the service opens them."""
    return PassportSeal(Keyring(services.settings.secret_key)).read(profile)


async def _identity(surface: Any) -> str:
    if isinstance(surface, UiSurface):
        return (await surface.client.get(PAGE)).text
    r = await surface.client.get("/api/v1/account/identity", headers=bearer(surface))
    assert r.status_code == 200, r.text
    return r.text
