"""«Подтверждённая учётная запись» by a code in a registered letter (SPEC §4.8, §4.14) on both backends and both
surfaces: a «Стандартная» customer orders the letter to a postal address, an operator lists the print queue (with
the codes: audited) and marks the batch printed (the codes' text erased, their hashes kept), the customer enters
the code and the account becomes «Подтверждённая», told by SMS.  Every bad part of the address is a 4xx that writes
nothing; wrong, expired, used and cancelled codes say so; parallel tries are all counted and one right code wins;
a change to a checked field cancels a waiting letter; deleting the account erases the address."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select

from dostup.accounts.letters import CODE_LENGTH, MAX_TRIES
from dostup.accounts.levels import account_level
from dostup.core.context import Context
from dostup.persistence.models import Account
from dostup.persistence.models_levels import IdentityProfile, VerificationRequest
from tests.factories import make_account, sign_in
from tests.flows.helpers import phone_e164
from tests.flows.levels_support import GOSUSLUGI, PERSON, bearer, status, submit
from tests.flows.test_operator_search import REASON, _audit, _staff
from tests.support import ApiSurface, Result, Surface, UiSurface, _api_result, outbox

pytestmark = pytest.mark.parametrize("settings_overrides", [GOSUSLUGI])
PAGE = "/settings/identity/letter"
API = "/api/v1/account/identity/letter"
QUEUE = "/api/v1/admin/letters"
ADDRESS = {"postcode": "170100", "region": "Тверская область", "city": "г. Тверь", "street": "ул. Советская",
           "house": "д. 5, корп. 2", "flat": "17"}
STAFF = Context(ip="10.0.0.1")


async def _customer(services: Any, surface: Surface, n: int, *, level: int = 2) -> str:
    """A signed-in customer whose profile was checked (``level`` stored as a verifier would leave it)."""
    made = await make_account(services, n, f"c{n}@example.ru")
    async with services.db.write() as s:
        account = await s.get(Account, made.id)
        assert account is not None
        account.family_name, account.given_name, account.middle_name = "Петрова", "Анна", "Сергеевна"
        if level > 1:
            s.add(IdentityProfile(account_id=made.id, level=level, no_middle_name=False,
                                  updated_at=services.clock.now()))
    await sign_in(surface, made.phone)
    return made.id


async def order(surface: Surface, **fields: Any) -> Result:
    if isinstance(surface, UiSurface):
        return surface._result(await surface.post_form(PAGE, fields, PAGE))
    return _api_result(await surface.client.post(API, json=fields, headers=bearer(surface)))


async def enter(surface: Surface, code: str) -> Result:
    if isinstance(surface, UiSurface):
        return surface._result(await surface.post_form(PAGE + "/code", {"code": code}, PAGE))
    return _api_result(await surface.client.post(API + "/code", json={"code": code}, headers=bearer(surface)))


async def cancel(surface: Surface) -> Result:
    if isinstance(surface, UiSurface):
        return surface._result(await surface.post_form(PAGE + "/cancel", {}, PAGE))
    return _api_result(await surface.client.post(API + "/cancel", headers=bearer(surface)))


async def letters(services: Any, account_id: str | None = None) -> list[VerificationRequest]:
    q = select(VerificationRequest).where(VerificationRequest.verifier == "letter")
    if account_id:
        q = q.where(VerificationRequest.account_id == account_id)
    async with services.db.read() as s:
        return list((await s.execute(q.order_by(VerificationRequest.created_at))).scalars())


async def print_all(services: Any) -> dict[str, str]:
    """The operators' use-cases run directly: the queue read, the batch marked printed; account id → code."""
    page = await services.print_queue.waiting("staff", REASON, None, STAFF)
    await services.print_queue.mark_printed("staff", [i.id for i in page.items], REASON, STAFF)
    return {i.account_id: i.code for i in page.items}


def _wrong(code: str) -> str:
    return str((int(code) + 1) % 10 ** CODE_LENGTH).zfill(CODE_LENGTH)


async def test_a_standard_customer_orders_the_letter_an_operator_prints_it_and_its_code_confirms_the_identity(
        client_factory, services, surface):
    made = await make_account(services, 701, "c701@example.ru")
    await sign_in(surface, made.phone)
    assert (await submit(surface, **PERSON)).ok  # «Стандартная» the real way: the profile checked by an operator
    staff = client_factory()
    headers = await _staff(staff, services, 790, "operator")
    [item] = (await staff.post("/api/v1/admin/verifications/pending", json={"reason": REASON}, headers=headers)
              ).json()["items"]
    assert (await staff.post(f"/api/v1/admin/verifications/{item['id']}/approve", json={"reason": REASON},
                             headers=headers)).status_code == 204
    if isinstance(surface, UiSurface):
        cabinet = (await surface.client.get("/cabinet")).text
        assert 'href="/settings/identity/letter"' in cabinet and "заказным письмом с уведомлением" in cabinet
        assert "закажите код подтверждения через «Почту России»" in (await surface.client.get(PAGE)).text

    ordered = await order(surface, **ADDRESS, level=3, state="approved")  # mass assignment ignored
    assert ordered.ok, (ordered.status, ordered.message, ordered.data)
    [letter] = await letters(services, made.id)
    assert (letter.level, letter.state, letter.verifier) == (3, "submitted", "letter")
    assert letter.data["address"] == ADDRESS and letter.data["tries"] == 0
    assert set(letter.data) == {"address", "code_hash", "code_sealed", "tries", "printed_at"}
    assert letter.expires_at == letter.created_at + dt.timedelta(days=30) and letter.queued_at == letter.created_at
    again = await order(surface, **ADDRESS)
    assert again.status == 409 and "уже заказано" in again.message
    if isinstance(surface, ApiSurface):
        assert ordered.status == 201 and ordered.data["letter"]["state"] == "printing"
        assert again.code == "letter_waiting"
    else:
        assert "Письмо заказано" in (await surface.client.get(PAGE)).text

    queue = await staff.post(f"{QUEUE}/queue", json={"reason": REASON}, headers=headers)
    assert queue.status_code == 200, queue.text
    [shown] = queue.json()["items"]
    assert (shown["id"], shown["family_name"], shown["given_name"], shown["address"]) == (
        letter.id, "Петрова", "Анна", ADDRESS)
    code = shown["code"]
    assert len(code) == CODE_LENGTH and code.isdigit() and code not in str(letter.data)
    printed = await staff.post(f"{QUEUE}/printed", json={"reason": REASON, "ids": [letter.id, "nope"]},
                               headers=headers)
    assert printed.json() == {"printed": [letter.id], "skipped": ["nope"]}
    [letter] = await letters(services, made.id)
    assert "code_sealed" not in letter.data and letter.data["code_hash"] and letter.data["printed_at"]
    assert (await staff.post(f"{QUEUE}/queue", json={"reason": REASON}, headers=headers)).json()["items"] == []
    assert [(a.action, a.detail.get("letters")) for a in await _audit(services)][-3:] == [
        ("letter_queue", [letter.id]), ("letters_printed", [letter.id]), ("letter_queue", [])]

    wrong = await enter(surface, _wrong(code))
    assert wrong.status == 422 and f"Осталось попыток: {MAX_TRIES - 1}" in wrong.message
    done = await enter(surface, code)
    assert done.ok, (done.status, done.message)
    got = await status(surface)
    assert (got["level"], got["level_number"], got["next_level"]) == ("confirmed", 3, None)
    assert await account_level(services.db, made.id) == 3
    notice = next(m for m in await outbox(client_factory()) if m["kind"] == "identity_confirmed_letter")
    assert notice["channel"] == "sms" and "кодом из письма" in notice["text"] and code not in notice["text"]
    used = await enter(surface, code)
    assert used.status == 409 and "уже использован" in used.message
    if isinstance(surface, UiSurface):
        assert "Личность подтверждена" in (await surface.client.get(done.data["location"])).text
    else:
        assert done.data["letter"]["state"] == "confirmed" and used.code == "letter_used"


BAD = [
    ({"postcode": ""}, "postcode", "Введите индекс"),
    ({"postcode": "17010"}, "postcode", "Индекс — 6 цифр"),
    ({"postcode": "1701000"}, "postcode", "Индекс — 6 цифр"),
    ({"postcode": "17О100"}, "postcode", "Индекс — 6 цифр"),  # a Cyrillic О
    ({"postcode": "١٧٠١٠٠"}, "postcode", "Индекс — 6 цифр"),  # Arabic-Indic digits
    ({"region": " "}, "region", "Введите регион"),
    ({"region": "Т" * 101}, "region", "Не больше 100 символов"),
    ({"city": ""}, "city", "Введите город или населённый пункт"),
    ({"city": "Тверь\x00"}, "city", "Проверьте, что адрес введён правильно"),
    ({"city": "Тверь\u202e"}, "city", "Проверьте, что адрес введён правильно"),
    ({"street": "ул. " + "С" * 98}, "street", "Не больше 100 символов"),
    ({"street": "--- ..."}, "street", "Проверьте, что адрес введён правильно"),
    ({"house": ""}, "house", "Введите номер дома"),
    ({"house": "5" * 21}, "house", "Не больше 20 символов"),
    ({"flat": "1" * 11}, "flat", "Не больше 10 символов"),
]


@pytest.mark.parametrize(("change", "field", "message"), BAD, ids=[f"{b[1]}-{i}" for i, b in enumerate(BAD)])
async def test_each_bad_part_of_the_address_is_named_and_nothing_is_written(services, surface, change, field, message):
    account_id = await _customer(services, surface, 702)
    r = await order(surface, **{**ADDRESS, **change})
    assert r.status == 422 and r.field == field and message in (r.message if isinstance(surface, ApiSurface)
                                                                 else r.data["fields"][field])
    assert await letters(services, account_id) == []


async def test_an_empty_address_names_every_missing_part_at_once_and_an_overlong_body_is_refused(services, surface):
    account_id = await _customer(services, surface, 703)
    r = await order(surface)
    assert r.status == 422
    if isinstance(surface, UiSurface):
        assert set(r.data["fields"]) == {"postcode", "region", "city", "house"}
    else:
        assert r.field == "postcode"
        huge = await order(surface, **{**ADDRESS, "region": "Т" * 401})
        assert huge.status == 422
    assert await letters(services, account_id) == []


@pytest.mark.parametrize("level", [1, 3])
async def test_only_a_standard_account_orders_the_letter(services, surface, level):
    account_id = await _customer(services, surface, 704, level=level)
    r = await order(surface, **ADDRESS)
    assert r.status == 409 and "только для стандартной" in r.message
    assert await letters(services, account_id) == []


async def test_a_letter_not_yet_printed_is_cancelled_by_its_customer_and_a_printed_one_is_not(services, surface):
    account_id = await _customer(services, surface, 705)
    assert (await order(surface, **ADDRESS)).ok
    r = await cancel(surface)
    assert r.ok, (r.status, r.message)
    [gone] = await letters(services, account_id)
    assert gone.state == "cancelled" and "code_sealed" not in gone.data
    assert (await services.print_queue.waiting("staff", REASON, None, STAFF)).items == []
    refused = await enter(surface, "1" * CODE_LENGTH)
    assert refused.status == 409 and "Письмо отменено" in refused.message
    assert (await order(surface, **ADDRESS)).ok
    await print_all(services)
    late = await cancel(surface)
    assert late.status == 409 and "отменить его нельзя" in late.message
    # both ordered at the frozen clock's one instant: their order by time is a tie
    assert sorted(x.state for x in await letters(services, account_id)) == ["cancelled", "submitted"]


async def test_five_wrong_codes_end_the_letter_even_if_the_sixth_is_right(client_factory, services):
    api = ApiSurface(client_factory())
    account_id = await _customer(services, api, 706)
    assert (await order(api, **ADDRESS)).ok
    early = await enter(api, "1" * CODE_LENGTH)
    assert early.status == 409 and early.code == "letter_not_printed"
    code = (await print_all(services))[account_id]
    for left in range(MAX_TRIES - 1, 0, -1):
        r = await enter(api, _wrong(code))
        assert (r.status, r.code, f"Осталось попыток: {left}" in r.message) == (422, "code_invalid", True)
    last = await enter(api, _wrong(code))
    assert last.code == "code_exhausted" and "слишком много раз" in last.message
    sixth = await enter(api, code)
    assert sixth.status == 422 and sixth.code == "code_exhausted"
    assert await account_level(services.db, account_id) == 2
    for bad in ("", "1234567", "12345678a", "１２３４５６７８"):  # empty, short, a letter, full-width digits
        r = await enter(api, bad)
        assert r.status == 422 and r.field == "code"
    view = (await api.client.get(API, headers=bearer(api))).json()
    assert view["letter"]["state"] == "exhausted" and view["may_order"] is True


async def test_ten_parallel_wrong_codes_are_all_counted(client_factory, services):
    api = ApiSurface(client_factory())
    account_id = await _customer(services, api, 707)
    assert (await order(api, **ADDRESS)).ok
    code = (await print_all(services))[account_id]
    results = await asyncio.gather(*(enter(api, _wrong(code)) for _ in range(10)))
    lefts = sorted(r.message for r in results if r.code == "code_invalid")
    assert lefts == sorted(f"Неверный код. Осталось попыток: {n}" for n in range(1, MAX_TRIES))  # no count lost
    assert [r.code for r in results].count("code_exhausted") == 10 - (MAX_TRIES - 1)
    [letter] = await letters(services, account_id)
    assert (letter.state, letter.answer, letter.data["tries"]) == ("cancelled", "code_exhausted", MAX_TRIES)
    assert (await enter(api, code)).code == "code_exhausted"


async def test_of_ten_parallel_right_codes_exactly_one_confirms(client_factory, services):
    api = ApiSurface(client_factory())
    account_id = await _customer(services, api, 708)
    assert (await order(api, **ADDRESS)).ok
    code = (await print_all(services))[account_id]
    results = await asyncio.gather(*(enter(api, code) for _ in range(10)))
    assert [r.ok for r in results].count(True) == 1
    assert {r.code for r in results if not r.ok} == {"letter_used"}
    assert await account_level(services.db, account_id) == 3
    assert [m["kind"] for m in await outbox(client_factory())].count("identity_confirmed_letter") == 1


async def test_an_expired_code_is_refused_and_a_new_letter_may_be_ordered(client_factory, services, surface):
    account_id = await _customer(services, surface, 709)
    assert (await order(surface, **ADDRESS)).ok
    code = (await print_all(services))[account_id]
    services.clock.advance(days=services.settings.levels.letter_code_days, seconds=1)
    await sign_in(surface, phone_e164(709))  # the session has ended meanwhile
    r = await enter(surface, code)
    assert r.status == 422 and "Срок действия кода истёк" in r.message
    assert await account_level(services.db, account_id) == 2
    assert (await order(surface, **ADDRESS)).ok
    # both ordered at the frozen clock's one instant: their order by time is a tie
    assert sorted(x.state for x in await letters(services, account_id)) == ["cancelled", "submitted"]


async def test_an_unprinted_expired_letter_leaves_the_queue_and_does_not_block_a_new_one(client_factory, services):
    api = ApiSurface(client_factory())
    account_id = await _customer(services, api, 710)
    assert (await order(api, **ADDRESS)).ok
    services.clock.advance(days=services.settings.levels.letter_code_days + 1)
    await sign_in(api, phone_e164(710))
    assert (await services.print_queue.waiting("staff", REASON, None, STAFF)).items == []
    assert (await api.client.get(API, headers=bearer(api))).json()["letter"]["state"] == "expired"
    assert (await order(api, **ADDRESS)).status == 201
    [old, new] = await letters(services, account_id)
    assert (old.state, old.answer, "code_sealed" in old.data, new.state) == ("cancelled", "code_expired", False,
                                                                              "submitted")


async def test_housekeeping_ends_an_expired_letter_and_its_customer_sees_it_expired_and_orders_again(
        client_factory, services):
    """An unprinted letter past its expiry is ended by housekeeping, not only when somebody next looks: its sealed
    code's text is erased at once (only the hash stays), and the customer's page says it expired."""
    api = ApiSurface(client_factory())
    account_id = await _customer(services, api, 713)
    assert (await order(api, **ADDRESS)).ok
    services.clock.advance(days=services.settings.levels.letter_code_days, seconds=1)
    assert (await services.housekeeping.purge())["verification_requests"] == 1
    [letter] = await letters(services, account_id)
    assert (letter.state, letter.answer, letter.queued_at) == ("cancelled", "code_expired", None)
    assert "code_sealed" not in letter.data and letter.data["code_hash"] and letter.data["address"] == ADDRESS
    await sign_in(api, phone_e164(713))  # the session has ended meanwhile
    assert (await api.client.get(API, headers=bearer(api))).json()["letter"]["state"] == "expired"
    r = await enter(api, "1" * CODE_LENGTH)
    assert r.status == 422 and "Срок действия кода истёк" in r.message
    assert (await order(api, **ADDRESS)).status == 201


async def test_the_print_queue_is_one_bounded_query_oldest_first_50_a_page_without_expired_or_printed_letters(
        services):
    """The queue reads one page through its index: ``LIMIT 51`` (the 51st only says a next page exists), the
    expired letters left out by SQL, the printed ones not in it at all; ``after`` pages on by keyset."""
    from sqlalchemy import event, insert

    from dostup.accounts.letters import LetterCodes
    from dostup.core.crypto import Keyring

    codes = LetterCodes(Keyring(services.settings.secret_key))
    made = await make_account(services, 714)
    now = services.clock.now()
    rows, expected = [], []
    for n in range(130):
        rid = f"letter{n:03d}"
        ordered = now - dt.timedelta(days=20, minutes=130 - n)  # letter000 is the oldest
        code_hash, sealed = codes.new(rid)
        expired, printed = n % 10 == 3, n % 10 == 7
        data = {"address": ADDRESS, "code_hash": code_hash, "tries": 0,
                "printed_at": ordered.isoformat() if printed else None}
        if not printed:
            data["code_sealed"] = sealed
        rows.append({"id": rid, "account_id": made.id, "level": 3, "state": "submitted", "verifier": "letter",
                     "data": data, "created_at": ordered, "updated_at": ordered,
                     "expires_at": now - dt.timedelta(minutes=1) if expired else now + dt.timedelta(days=10),
                     "queued_at": None if printed else ordered})
        if not expired and not printed:
            expected.append(rid)
    async with services.db.write() as s:
        await s.execute(insert(VerificationRequest), rows)
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if "FROM verification_requests" in statement and statement.lstrip().upper().startswith("SELECT"):
            statements.append(statement)

    engine = services.db.writer.sync_engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        pages, after = [], None
        while True:
            page = await services.print_queue.waiting("staff", REASON, after, STAFF)
            pages.append(page.items)
            if page.next is None:
                break
            after = page.next
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert [len(p) for p in pages] == [50, 50, 4]  # 104 of 130: 13 expired, 13 printed
    assert [i.id for p in pages for i in p] == expected  # oldest first, each once
    assert all(len(i.code) == CODE_LENGTH and i.code.isdigit() for p in pages for i in p)
    assert len(statements) == 3 and all("LIMIT" in sql.upper() and "expires_at" in sql for sql in statements)


async def test_a_change_to_a_checked_field_cancels_the_waiting_letter(client_factory, services, surface):
    made = await make_account(services, 711, "c711@example.ru")
    await sign_in(surface, made.phone)
    assert (await submit(surface, **PERSON)).ok
    async with services.db.read() as s:
        req = (await s.execute(select(VerificationRequest.id).where(VerificationRequest.account_id == made.id))).scalar()
    await services.verification_queue.decide("staff", "operator", req, approved=True, reason=REASON, ctx=STAFF)
    assert (await order(surface, **ADDRESS)).ok
    lowered = await submit(surface, **{**PERSON, "passport_number": "654321"})
    assert lowered.ok
    [letter] = await letters(services, made.id)
    assert letter.state == "cancelled" and "code_sealed" not in letter.data
    assert (await status(surface))["level_number"] == 1
    r = await enter(surface, "1" * CODE_LENGTH)
    assert r.status == 409 and "Письмо отменено" in r.message
    assert (await services.print_queue.waiting("staff", REASON, None, STAFF)).items == []


async def test_the_print_queue_is_for_staff_with_two_factors_and_a_reason(client_factory, services):
    from dostup.admin.users import create_user
    from tests.factories import PASSWORD

    api = ApiSurface(client_factory())
    await _customer(services, api, 712)
    assert (await order(api, **ADDRESS)).ok
    for url, body in ((f"{QUEUE}/queue", {"reason": REASON}), (f"{QUEUE}/printed", {"reason": REASON, "ids": ["x"]})):
        r = await api.client.post(url, json=body, headers=bearer(api))
        assert r.status_code == 403, r.text
    await create_user(services.settings, phone=phone_e164(791), password=PASSWORD, login=None, email=None,
                      country="RU", role="operator", now=services.clock.now())
    weak = ApiSurface(client_factory())
    assert (await weak.login(method="phone", phone=phone_e164(791), password=PASSWORD)).ok
    r = await weak.client.post(f"{QUEUE}/queue", json={"reason": REASON}, headers=bearer(weak))
    assert r.status_code == 403 and r.json()["error"]["code"] == "second_factor_required"
    staff = client_factory()
    headers = await _staff(staff, services, 792, "operator")
    assert (await staff.post(f"{QUEUE}/queue", json={}, headers=headers)).status_code == 422  # a reason is required
    assert (await staff.post(f"{QUEUE}/printed", json={"reason": REASON, "ids": []}, headers=headers)).status_code == 422
    assert (await staff.post(f"{QUEUE}/printed", json={"reason": REASON, "ids": ["x"] * 201},
                             headers=headers)).status_code == 422
    assert await _audit(services) == []
    assert (await letters(services))[0].data.get("code_sealed")


async def test_deleting_the_account_erases_the_letters_address_and_code(client_factory, services):
    from tests.flows.test_deletion import _delete, _reauth

    api = ApiSurface(client_factory())
    account_id = await _customer(services, api, 713)
    assert (await order(api, **ADDRESS)).ok
    await _reauth(api)
    assert await _delete(api) == 204
    [letter] = await letters(services, account_id)
    assert letter.state == "cancelled" and letter.data == {}
    assert (await services.print_queue.waiting("staff", REASON, None, STAFF)).items == []


async def test_an_identity_confirmed_in_person_cancels_the_waiting_letter(client_factory, services):
    api = ApiSurface(client_factory())
    account_id = await _customer(services, api, 715)
    assert (await order(api, **ADDRESS)).ok
    staff = client_factory()
    headers = await _staff(staff, services, 793, "operator")
    r = await staff.post(f"/api/v1/admin/accounts/{account_id}/confirm-identity", json={"reason": REASON},
                         headers=headers)
    assert r.status_code == 204, r.text
    [letter] = await letters(services, account_id)
    assert letter.state == "cancelled" and "code_sealed" not in letter.data
    assert (await staff.post(f"{QUEUE}/queue", json={"reason": REASON}, headers=headers)).json()["items"] == []
    assert (await status(api))["level_number"] == 3


async def test_ten_parallel_orders_make_one_letter(client_factory, services):
    """The account's row is locked for the «one letter waits» check: orders racing each other make one letter,
    and the others are told one is on its way."""
    api = ApiSurface(client_factory())
    account_id = await _customer(services, api, 709)
    results = await asyncio.gather(*(order(api, **ADDRESS) for _ in range(10)))
    assert [r.ok for r in results].count(True) == 1, [(r.status, r.code) for r in results]
    assert {r.status for r in results if not r.ok} == {409}
    assert len(await letters(services, account_id)) == 1
