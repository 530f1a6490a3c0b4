"""Support requests («Обращения», SPEC §4.14) end to end on both backends: the customer writes on either surface,
an operator (staff bearer, two factors) finds it in the queue, reads it with a reason and answers (both
audited), the customer is told by SMS and reads the answer on the request's page, replies, and the operator
closes it.  Every field's bad input is a localised 4xx that writes nothing; another customer's request is
404; non-staff and one-factor staff are refused; the limits hold; deleting the account erases the texts."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import func, select

from dostup.accounts.support import MAX_TEXT
from dostup.persistence.models_admin import OperatorAction
from dostup.persistence.models_support import SupportMessage, SupportRequest
from tests.factories import make_account, sign_in, staff_bearer, staff_browser
from tests.flows.helpers import PASSWORD, phone_e164
from tests.support import ApiSurface, Result, Surface, UiSurface, _api_result, outbox

API = "/api/v1/support/requests"
QUEUE = "/api/v1/admin/support/requests"
REASON = "Обращение клиента по телефону"
QUESTION = "Не приходит SMS с кодом.\nНомер указан верно."


def _bearer(surface: Surface) -> dict[str, str]:
    return {"Authorization": f"Bearer {surface.token}"} if isinstance(surface, ApiSurface) else {}


async def create(surface: Surface, **fields: Any) -> Result:
    """The form on «Обращения» (ui) or ``POST /api/v1/support/requests`` (api); ``data["id"]`` on success."""
    if isinstance(surface, UiSurface):
        r = surface._result(await surface.post_form("/support", fields, "/support"))
        if r.ok:
            r.data["id"] = re.match(r"/support/(\w+)\?sent=1$", r.data["location"]).group(1)  # type: ignore[union-attr]
        return r
    return _api_result(await surface.client.post(API, json=fields, headers=_bearer(surface)))


async def reply(surface: Surface, request_id: str, text: str | None) -> Result:
    if isinstance(surface, UiSurface):
        return surface._result(await surface.post_form(f"/support/{request_id}", {"text": text}, "/support"))
    return _api_result(await surface.client.post(f"{API}/{request_id}/messages", json={"text": text},
                                                 headers=_bearer(surface)))


async def view(surface: Surface, request_id: str) -> tuple[int, str]:
    """The request's page (ui) or JSON (api): status and text."""
    if isinstance(surface, UiSurface):
        r = await surface.client.get(f"/support/{request_id}")
    else:
        r = await surface.client.get(f"{API}/{request_id}", headers=_bearer(surface))
    return r.status_code, r.text


async def _customer(services: Any, surface: Surface, n: int) -> str:
    made = await make_account(services, n, f"c{n}@example.ru")
    assert made.phone
    await sign_in(surface, made.phone)
    return made.id


async def _rows(services: Any) -> tuple[list[SupportRequest], list[SupportMessage]]:
    async with services.db.read() as s:
        reqs = list((await s.execute(select(SupportRequest).order_by(SupportRequest.created_at))).scalars())
        msgs = list((await s.execute(select(SupportMessage).order_by(SupportMessage.request_id, SupportMessage.seq)))
                    .scalars())
    return reqs, msgs


async def _audit(services: Any) -> list[tuple[str, str | None]]:
    async with services.db.read() as s:
        rows = (await s.execute(select(OperatorAction).order_by(OperatorAction.created_at))).scalars()
        return [(a.action, a.detail.get("request")) for a in rows]


async def _queue(staff: Any, headers: dict[str, str], after: str | None = None) -> dict[str, Any]:
    r = await staff.get(QUEUE, params={"after": after} if after else None, headers=headers)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def test_a_request_goes_from_the_customer_to_support_and_the_answer_comes_back(client_factory, services,
                                                                                     surface):
    account_id = await _customer(services, surface, 701)
    made = await create(surface, topic="access", text=QUESTION)
    assert made.ok, (made.status, made.message)
    rid = made.data["id"]
    status, shown = await view(surface, rid)
    assert status == 200 and "Не приходит SMS с кодом." in shown
    if isinstance(surface, UiSurface):
        assert "Обращение отправлено в службу поддержки" in (await surface.client.get(made.data["location"])).text
        listed = (await surface.client.get("/support")).text
        assert f'id="request-{rid}" data-state="open"' in listed and "Вход и восстановление доступа" in listed
        assert "Ждёт ответа" in listed
    else:
        assert made.status == 201 and made.data["state"] == "open" and made.data["topic"] == "access"
        assert [m["author"] for m in made.data["messages"]] == ["customer"]
        assert made.data["messages"][0]["text"] == QUESTION  # line breaks kept
        listed = (await surface.client.get(API, headers=_bearer(surface))).json()
        assert [(r["id"], r["state"]) for r in listed["requests"]] == [(rid, "open")]

    staff = client_factory()
    headers = await staff_bearer(staff, services, 790, "operator")
    queue = await _queue(staff, headers)
    assert [(i["id"], i["account_id"], i["topic"]) for i in queue["items"]] == [(rid, account_id, "access")]
    assert queue["next"] is None and "text" not in queue["items"][0]
    read = await staff.post(f"{QUEUE}/{rid}/read", json={"reason": REASON}, headers=headers)
    assert read.status_code == 200 and read.json()["messages"][0]["text"] == QUESTION
    answer = "Проверьте, не заблокированы ли короткие номера у оператора связи."
    r = await staff.post(f"{QUEUE}/{rid}/answer", json={"reason": REASON, "text": answer}, headers=headers)
    assert r.status_code == 200 and r.json()["state"] == "answered", r.text
    assert await _audit(services) == [("support_read", rid), ("support_answer", rid)]
    assert (await _queue(staff, headers))["items"] == []  # answered: no longer waiting

    notice = next(m for m in await outbox(client_factory()) if m["kind"] == "support_answered")
    assert notice["channel"] == "sms" and notice["to"] == phone_e164(701) and "ответила на ваше обращение" in notice["text"]
    status, shown = await view(surface, rid)
    assert status == 200 and "Проверьте, не заблокированы ли короткие номера" in shown
    if isinstance(surface, UiSurface):
        assert "Служба поддержки" in shown and 'data-state="answered">Есть ответ' in shown

    services.clock.advance(seconds=60)
    again = await reply(surface, rid, "Не помогло")
    assert again.ok, (again.status, again.message)
    [waiting] = (await _queue(staff, headers))["items"]
    assert waiting["id"] == rid and waiting["queued_at"] > waiting["created_at"]  # waits again, from the reply
    reqs, msgs = await _rows(services)
    assert [(m.seq, m.author) for m in msgs] == [(1, "customer"), (2, "operator"), (3, "customer")]
    assert msgs[1].operator_id and reqs[0].state == "open"

    closed = await staff.post(f"{QUEUE}/{rid}/close", json={"reason": REASON}, headers=headers)
    assert closed.status_code == 204
    twice = await staff.post(f"{QUEUE}/{rid}/close", json={"reason": REASON}, headers=headers)
    assert twice.status_code == 409 and twice.json()["error"]["code"] == "closed"
    late = await staff.post(f"{QUEUE}/{rid}/answer", json={"reason": REASON, "text": "ещё"}, headers=headers)
    assert late.status_code == 409
    after = await reply(surface, rid, "И ещё вопрос")
    assert after.status == 409 and "Обращение закрыто" in after.message
    status, shown = await view(surface, rid)
    if isinstance(surface, UiSurface):
        assert "Обращение закрыто. Если вопрос остался" in shown and 'name="text"' not in shown
    else:
        assert '"state":"closed"' in shown
    assert len((await _rows(services))[1]) == 3


BAD = [
    ({"topic": "", "text": QUESTION}, "topic", "Выберите тему обращения"),
    ({"topic": "billing'; --", "text": QUESTION}, "topic", "Выберите тему обращения"),
    ({"topic": "access", "text": ""}, "text", "Опишите вопрос"),
    ({"topic": "access", "text": " \n\t "}, "text", "Опишите вопрос"),
    ({"topic": "access", "text": "я" * (MAX_TEXT + 1)}, "text", "не длиннее 2000 символов"),
    ({"topic": "access", "text": "код\x00 не пришёл"}, "text", "недопустимые символы"),
    ({"topic": "access", "text": "код\x1b[31m"}, "text", "недопустимые символы"),
    ({"topic": "access", "text": "оплата \u202eвозврат"}, "text", "недопустимые символы"),
]


@pytest.mark.parametrize(("fields", "field", "message"), BAD)
async def test_bad_input_in_any_field_is_a_localised_4xx_that_writes_nothing(services, surface, fields, field, message):
    await _customer(services, surface, 702)
    r = await create(surface, **fields)
    assert r.status == 422 and r.field == field and message in r.message, (r.status, r.field, r.message)
    assert await _rows(services) == ([], [])
    if isinstance(surface, UiSurface) and field == "topic":  # the form comes back with what was typed
        assert "Не приходит SMS с кодом." in r.data["html"]


async def test_both_fields_wrong_are_reported_at_once_and_a_full_length_text_with_line_breaks_is_taken(services,
                                                                                                    surface):
    await _customer(services, surface, 703)
    r = await create(surface, topic="nope", text="")
    assert r.status == 422 and r.field == "topic"
    if isinstance(surface, UiSurface):
        assert set(r.data["fields"]) == {"topic", "text"}
    text = ("строка\r\n" * 250)[: MAX_TEXT * 2 - 2].rstrip()  # CR LF as a browser sends it: 2,000 characters as \n
    made = await create(surface, topic="other", text=text)
    assert made.ok, (made.status, made.message)
    [msg] = (await _rows(services))[1]
    assert msg.text == text.replace("\r\n", "\n") and len(msg.text) <= MAX_TEXT and "\r" not in msg.text
    tags = await create(surface, topic="other", text="<script>alert(1)</script> ' OR 1=1; --")
    assert tags.ok
    status, shown = await view(surface, tags.data["id"])
    if isinstance(surface, UiSurface):  # stored as typed, escaped where shown
        assert status == 200 and "&lt;script&gt;alert(1)&lt;/script&gt;" in shown and "<script>alert" not in shown
    [stored] = [m for m in (await _rows(services))[1] if m.request_id == tags.data["id"]]
    assert stored.text == "<script>alert(1)</script> ' OR 1=1; --"
    bad_reply = await reply(surface, made.data["id"], "")
    assert bad_reply.status == 422 and bad_reply.field == "text"
    assert len((await _rows(services))[1]) == 2


async def test_another_customers_request_is_404_on_both_surfaces(client_factory, services, surface):
    owner = ApiSurface(client_factory())
    await _customer(services, owner, 704)
    made = await create(owner, topic="profile", text="Мой вопрос")
    await _customer(services, surface, 705)
    for rid in (made.data["id"], "0" * 32, "nope", "a" * 200):
        status, _ = await view(surface, rid)
        assert status == 404, rid
        r = await reply(surface, rid, "чужое")
        assert r.status == 404, rid
    listed = (await surface.client.get(API, headers=_bearer(surface))).json()
    assert listed["requests"] == []
    assert len((await _rows(services))[1]) == 1
    assert (await client_factory().get(API)).status_code == 401


@pytest.mark.parametrize("settings_overrides", [{"DOSTUP_SUPPORT__MAX_OPEN": "2",
                                                 "DOSTUP_SUPPORT__REQUESTS_PER_DAY": "3"}])
async def test_the_open_and_daily_limits_hold(client_factory, services, surface):
    await _customer(services, surface, 706)
    first = await create(surface, topic="other", text="один")
    assert first.ok and (await create(surface, topic="other", text="два")).ok
    third = await create(surface, topic="other", text="три")
    assert third.status == 409 and "Открытых обращений уже 2" in third.message
    staff = client_factory()
    headers = await staff_bearer(staff, services, 791, "operator")
    assert (await staff.post(f"{QUEUE}/{first.data['id']}/close", json={"reason": REASON},
                             headers=headers)).status_code == 204
    assert (await create(surface, topic="other", text="три")).ok  # one was closed: room again
    items = (await _queue(staff, headers))["items"]
    for item in items:
        await staff.post(f"{QUEUE}/{item['id']}/close", json={"reason": REASON}, headers=headers)
    fourth = await create(surface, topic="other", text="четыре")
    assert fourth.status == 429 and "не больше 3 раз в сутки" in fourth.message
    assert int(fourth.headers["retry-after"]) > 0
    assert len((await _rows(services))[0]) == 3
    services.clock.advance(seconds=24 * 3600 + 1)
    await sign_in(surface, phone_e164(706))  # the session did not outlive the day
    assert (await create(surface, topic="other", text="четыре")).ok


async def test_customers_one_factor_staff_and_cookies_are_refused_and_nothing_is_audited(client_factory, services):
    from dostup.admin.users import create_user

    api = ApiSurface(client_factory())
    await _customer(services, api, 707)
    rid = (await create(api, topic="other", text="вопрос")).data["id"]
    calls = [("get", QUEUE, None), ("post", f"{QUEUE}/{rid}/read", {"reason": REASON}),
             ("post", f"{QUEUE}/{rid}/answer", {"reason": REASON, "text": "ответ"}),
             ("post", f"{QUEUE}/{rid}/close", {"reason": REASON})]
    for method, url, body in calls:
        r = await api.client.request(method, url, json=body, headers=_bearer(api))  # a customer's own bearer
        assert r.status_code == 403 and r.json()["error"]["code"] == "operator_only", url
        assert (await client_factory().request(method, url, json=body)).status_code == 401
    await create_user(services.settings, phone=phone_e164(792), password=PASSWORD, login=None, email=None,
                      country="RU", role="operator", now=services.clock.now())
    weak = ApiSurface(client_factory())
    assert (await weak.login(method="phone", phone=phone_e164(792), password=PASSWORD)).ok
    for method, url, body in calls:
        r = await weak.client.request(method, url, json=body, headers=_bearer(weak))
        assert r.status_code == 403 and r.json()["error"]["code"] == "second_factor_required", url
    browser = await staff_browser(client_factory(), services, await staff_bearer(client_factory(), services, 793,
                                                                                 "operator"))
    r = await browser.client.post(f"{QUEUE}/{rid}/read", json={"reason": REASON})
    assert r.status_code == 403 and r.json()["error"]["code"] == "bearer_required"
    staff = client_factory()
    headers = await staff_bearer(staff, services, 794, "operator")
    for body in ({}, {"reason": "x"}, {"reason": "я" * 301}):
        r = await staff.post(f"{QUEUE}/{rid}/read", json=body, headers=headers)
        assert r.status_code == 422 and r.json()["error"]["field"] == "reason", body
    for text in ("", "я" * (MAX_TEXT + 1), "\x07"):
        r = await staff.post(f"{QUEUE}/{rid}/answer", json={"reason": REASON, "text": text}, headers=headers)
        assert r.status_code == 422 and r.json()["error"]["field"] == "text", text
    assert (await staff.post(f"{QUEUE}/{'0' * 32}/read", json={"reason": REASON}, headers=headers)).status_code == 404
    bad_cursor = await staff.get(QUEUE, params={"after": "!!"}, headers=headers)
    assert bad_cursor.status_code == 422
    assert await _audit(services) == []
    reqs, msgs = await _rows(services)
    assert [r.state for r in reqs] == ["open"] and len(msgs) == 1


async def test_an_operator_cannot_answer_their_own_request(client_factory, services):
    staff = client_factory()
    headers = await staff_bearer(staff, services, 795, "operator")
    own = _api_result(await staff.post(API, json={"topic": "other", "text": "мой вопрос"}, headers=headers))
    assert own.ok
    r = await staff.post(f"{QUEUE}/{own.data['id']}/answer", json={"reason": REASON, "text": "сам себе"},
                         headers=headers)
    assert r.status_code == 403 and r.json()["error"]["code"] == "not_allowed"


async def test_the_queue_is_served_oldest_first_by_pages(client_factory, services, monkeypatch):
    from dostup.admin import support

    monkeypatch.setattr(support, "PER_PAGE", 2)
    ids = []
    for n in range(5):
        api = ApiSurface(client_factory())
        await _customer(services, api, 710 + n)
        ids.append((await create(api, topic="other", text=f"вопрос {n}")).data["id"])
        services.clock.advance(seconds=1)
    staff = client_factory()
    headers = await staff_bearer(staff, services, 796, "operator")
    seen, after = [], None
    while True:
        page = await _queue(staff, headers, after)
        seen += [i["id"] for i in page["items"]]
        after = page["next"]
        if after is None:
            break
    assert seen == ids


async def test_deleting_the_account_erases_its_requests_texts_and_takes_them_off_the_queue(client_factory, services):
    from tests.flows.test_deletion import _delete, _reauth

    api = ApiSurface(client_factory())
    account_id = await _customer(services, api, 720)
    rid = (await create(api, topic="profile", text="Мой паспорт 4508 123456")).data["id"]
    staff = client_factory()
    headers = await staff_bearer(staff, services, 797, "operator")
    assert (await staff.post(f"{QUEUE}/{rid}/answer", json={"reason": REASON, "text": "Пришлите фото"},
                             headers=headers)).status_code == 200
    await _reauth(api)
    assert await _delete(api) == 204
    reqs, msgs = await _rows(services)
    assert [(r.account_id, r.state, r.closed_by) for r in reqs] == [(account_id, "closed", "account_deleted")]
    assert [m.text for m in msgs] == ["", ""]
    assert (await _queue(staff, headers))["items"] == []
    async with services.db.read() as s:
        assert (await s.execute(select(func.count()).select_from(SupportMessage)
                                .where(SupportMessage.text.like("%4508%")))).scalar_one() == 0


async def test_a_huge_body_is_refused_before_the_use_case_and_a_full_request_takes_no_more(services, surface,
                                                                                        monkeypatch):
    from dostup.accounts import support

    await _customer(services, surface, 721)
    huge = await create(surface, topic="other", text="я" * (4 * MAX_TEXT + 1))
    assert huge.status == 422 and huge.field == "text" and huge.message, (huge.status, huge.field, huge.message)
    assert await _rows(services) == ([], [])
    monkeypatch.setattr(support, "MAX_MESSAGES", 3)
    rid = (await create(surface, topic="other", text="1")).data["id"]
    assert (await reply(surface, rid, "2")).ok and (await reply(surface, rid, "3")).ok
    full = await reply(surface, rid, "4")
    assert full.status == 409 and "уже 3 сообщений" in full.message
    assert len((await _rows(services))[1]) == 3


@pytest.mark.parametrize("settings_overrides", [{"DOSTUP_SUPPORT__MAX_OPEN": "3",
                                                 "DOSTUP_SUPPORT__REQUESTS_PER_DAY": "100"}])
async def test_parallel_posts_never_pass_the_open_limit(client_factory, services):
    import asyncio

    api = ApiSurface(client_factory())
    await _customer(services, api, 722)
    results = await asyncio.gather(*(create(api, topic="other", text=f"вопрос {i}") for i in range(10)))
    assert sorted(r.status for r in results) == [201] * 3 + [409] * 7
    reqs, msgs = await _rows(services)
    assert len(reqs) == 3 and len(msgs) == 3


@pytest.mark.parametrize("settings_overrides", [{"DOSTUP_PRESET": "rostelecom"}])  # signs in by email
async def test_a_customer_without_a_phone_is_told_of_the_answer_by_email(client_factory, services):
    made = await make_account(services, None, "only.email@example.ru")
    api = ApiSurface(client_factory())
    assert (await api.login(method="email", email="only.email@example.ru", password=PASSWORD)).ok
    rid = (await create(api, topic="notifications", text="Письма не приходят")).data["id"]
    staff = client_factory()
    headers = await staff_bearer(staff, services, 798, "admin")
    r = await staff.post(f"{QUEUE}/{rid}/answer", json={"reason": REASON, "text": "Проверьте папку «Спам»"},
                         headers=headers)
    assert r.status_code == 200 and r.json()["account_id"] == made.id
    notice = next(m for m in await outbox(client_factory()) if m["kind"] == "support_answered")
    assert notice["channel"] == "email" and notice["to"] == "only.email@example.ru"
    assert "/support" in notice["text"] and "Спам" not in notice["text"]  # the answer itself stays in the cabinet


async def close(surface: Surface, request_id: str) -> Result:
    if isinstance(surface, UiSurface):
        return surface._result(await surface.post_form(f"/support/{request_id}/close", {}, "/support"))
    return _api_result(await surface.client.post(f"{API}/{request_id}/close", headers=_bearer(surface)))


@pytest.mark.parametrize("settings_overrides", [{"DOSTUP_SUPPORT__MAX_OPEN": "2"}])
async def test_the_customer_closes_a_settled_request_and_may_write_another(client_factory, services, surface):
    account_id = await _customer(services, surface, 723)
    first = (await create(surface, topic="other", text="один")).data["id"]
    assert (await create(surface, topic="other", text="два")).ok
    assert (await create(surface, topic="other", text="три")).status == 409
    stranger = ApiSurface(client_factory())
    await _customer(services, stranger, 724)
    assert (await close(stranger, first)).status == 404  # not theirs
    done = await close(surface, first)
    assert done.ok, (done.status, done.message)
    if isinstance(surface, UiSurface):
        page = (await surface.client.get(done.data["location"])).text
        assert "Обращение закрыто." in page and 'data-state="closed">Закрыто' in page
    else:
        assert done.data["state"] == "closed" and done.data["closed_at"]
    assert (await close(surface, first)).status == 409
    assert (await create(surface, topic="other", text="три")).ok  # room again
    reqs, _ = await _rows(services)
    assert [(r.state, r.closed_by) for r in reqs if r.id == first] == [("closed", account_id)]
    staff = client_factory()
    headers = await staff_bearer(staff, services, 799, "operator")
    assert first not in [i["id"] for i in (await _queue(staff, headers))["items"]]


async def test_replies_and_answers_racing_on_one_request_are_numbered_in_turn(client_factory, services):
    import asyncio

    api = ApiSurface(client_factory())
    await _customer(services, api, 725)
    rid = (await create(api, topic="other", text="вопрос")).data["id"]
    staff = client_factory()
    headers = await staff_bearer(staff, services, 800, "operator")

    async def answer(i: int) -> int:
        r = await staff.post(f"{QUEUE}/{rid}/answer", json={"reason": REASON, "text": f"ответ {i}"}, headers=headers)
        return r.status_code

    async def write(i: int) -> int:
        return (await reply(api, rid, f"ещё {i}")).status

    codes = await asyncio.gather(*(f(i) for i in range(5) for f in (answer, write)))
    assert sorted(codes) == [200] * 10, codes
    _, msgs = await _rows(services)
    assert [m.seq for m in msgs] == list(range(1, 12))
    assert sorted(m.author for m in msgs) == ["customer"] * 6 + ["operator"] * 5


async def test_the_customers_list_comes_by_pages_newest_first(services, surface):
    import datetime as dt

    from sqlalchemy import insert

    account_id = await _customer(services, surface, 726)
    now = services.clock.now()
    rows = [{"id": f"{n:032d}", "account_id": account_id, "topic": "other", "state": "closed",
             "created_at": now - dt.timedelta(minutes=n), "updated_at": now, "queued_at": now} for n in range(21)]
    async with services.db.write() as s:
        await s.execute(insert(SupportRequest), rows)
    if isinstance(surface, UiSurface):
        first = (await surface.client.get("/support")).text
        assert first.count('class="support-request"') == 20 and f'id="request-{20:032d}"' not in first
        older = re.search(r'href="/support\?before=([^"]+)"', first)
        assert older, first
        second = (await surface.client.get(f"/support?before={older.group(1)}")).text
        assert second.count('class="support-request"') == 1 and f'id="request-{20:032d}"' in second
        assert (await surface.client.get("/support?before=!!")).status_code == 200  # a damaged link: page one
        return
    seen, before = [], None
    while True:
        r = await surface.client.get(API, params={"per_page": 8, **({"before": before} if before else {})},
                                     headers=_bearer(surface))
        assert r.status_code == 200 and r.json()["total"] == 21, r.text
        seen += [x["id"] for x in r.json()["requests"]]
        before = r.json()["next"]
        if before is None:
            break
    assert seen == [f"{n:032d}" for n in range(21)]
    for params in ({"before": "!!"}, {"per_page": 0}, {"per_page": 101}):
        assert (await surface.client.get(API, params=params, headers=_bearer(surface))).status_code == 422, params


async def test_the_console_pages_list_read_answer_and_close_a_request(client_factory, services):
    api = ApiSurface(client_factory())
    await _customer(services, api, 730)
    rid = (await create(api, topic="access", text=QUESTION)).data["id"]
    assert (await api.client.get("/operator/support", headers=_bearer(api))).status_code in (303, 307, 404)
    browser = await staff_browser(client_factory(), services, await staff_bearer(client_factory(), services, 801,
                                                                                 "operator"))
    console = await browser.client.get("/operator")
    assert console.status_code == 200 and 'href="/operator/support"' in console.text
    queue = await browser.client.get("/operator/support")
    assert queue.status_code == 200 and f'id="request-{rid}"' in queue.text and "Не приходит" not in queue.text
    short = await browser.post_form(f"/operator/support/{rid}", {"reason": "x"}, "/operator/support")
    assert short.status_code == 422 and "Укажите причину" in short.text
    assert await _audit(services) == []
    opened = await browser.post_form(f"/operator/support/{rid}", {"reason": REASON}, "/operator/support")
    assert opened.status_code == 200 and "Не приходит SMS с кодом." in opened.text
    assert f'name="reason" value="{REASON}"' in opened.text  # the reason travels with the answer's form
    empty = await browser.post_form(f"/operator/support/{rid}/answer", {"reason": REASON, "text": " "},
                                    "/operator/support")
    assert empty.status_code == 422 and 'id="text-error"' in empty.text and "Напишите ответ клиенту" in empty.text
    done = await browser.post_form(f"/operator/support/{rid}/answer",
                                   {"reason": REASON, "text": "Проверьте короткие номера"}, "/operator/support")
    assert done.status_code == 200 and "Ответ отправлен" in done.text and "Есть ответ" in done.text
    assert any(m["kind"] == "support_answered" for m in await outbox(client_factory()))
    assert "Проверьте короткие номера" in (await view(api, rid))[1]
    closed = await browser.post_form(f"/operator/support/{rid}/close", {"reason": REASON}, "/operator/support")
    assert closed.status_code == 303 and closed.headers["location"] == "/operator/support?closed=1"
    assert [a for a, _ in await _audit(services)] == ["support_read", "support_read", "support_answer", "support_close"]
    assert (await _rows(services))[0][0].state == "closed"


async def test_the_forms_need_their_csrf_token_and_the_api_its_own_origin(client_factory, services):
    browser = UiSurface(client_factory())
    await _customer(services, browser, 731)
    rid = (await create(browser, topic="other", text="вопрос")).data["id"]
    for path, data in (("/support", {"topic": "other", "text": "ещё"}), (f"/support/{rid}", {"text": "ещё"}),
                       (f"/support/{rid}/close", {})):
        for token in (None, "forged"):
            r = await browser.client.post(path, data={**data, **({"csrf_token": token} if token else {})})
            assert r.status_code == 403 and "Срок действия формы истёк" in r.text, (path, token)
    evil = {"Origin": "https://evil.example"}  # the cabinet's cookie sent from another site
    assert (await browser.client.post(API, json={"topic": "other", "text": "x"}, headers=evil)).status_code == 403
    assert (await browser.client.post(f"{API}/{rid}/close", headers=evil)).status_code == 403
    reqs, msgs = await _rows(services)
    assert [r.state for r in reqs] == ["open"] and len(msgs) == 1
