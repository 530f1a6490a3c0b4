"""«История уведомлений» (SPEC §4.5) and «Сеансы и безопасность» (SPEC §4.10), through both surfaces.

Pages are read loosely (rows carry ``data-*`` attributes); the API is read as JSON.  The same
assertions run against both, so a test states what a user sees wherever they look.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import httpx
from sqlalchemy import select, update

from dostup.core.crypto import random_id
from dostup.persistence.models import OutboxMessage, SecurityEvent, Session
from tests.factories import make_account as _user
from tests.factories import sign_in as _signed_in
from tests.flows.helpers import PASSWORD, phone_e164, register
from tests.support import ApiSurface, Surface, UiSurface, last_code

CHROME_WINDOWS = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                  "Chrome/124.0.0.0 Safari/537.36")
FIREFOX_ANDROID = "Mozilla/5.0 (Android 14; Mobile; rv:125.0) Gecko/125.0 Firefox/125.0"


# -- helpers ---------------------------------------------------------------------------------

def _same_kind(surface: Surface, client: httpx.AsyncClient) -> Surface:
    return UiSurface(client) if surface.name == "ui" else ApiSurface(client)


def _auth(surface: Surface) -> dict[str, str]:
    return {"Authorization": f"Bearer {surface.token}"} if surface.name == "api" and surface.token else {}


async def _get(surface: Surface, api_path: str, ui_path: str, **params: Any) -> httpx.Response:
    if surface.name == "api":
        return await surface.client.get(api_path, params=params, headers=_auth(surface))
    return await surface.client.get(ui_path, params=params)


_NOTE_ROW = re.compile(r'<tr class="notification" data-kind="([^"]*)" data-status="([^"]*)" '
                       r'data-channel="([^"]*)">(.*?)</tr>', re.S)
_EVENT_ROW = re.compile(r'<tr class="event" data-kind="([^"]*)" data-outcome="([^"]*)">(.*?)</tr>', re.S)
_SESSION_ROW = re.compile(r'<tr class="session( current)?" data-session="([^"]*)">\s*<td[^>]*>([^<]*)(.*?)</tr>', re.S)
_PAGER_LINK = re.compile(r'<a class="button" rel="(next|prev)" href="[^"?]*\?(?:before|after)=([^"#&]*)')
_TOTAL = re.compile(r"Всего записей: (\d+)")


def _cell(html: str, name: str) -> str:
    m = re.search(rf'<td class="{name}"[^>]*>([^<]*)', html)
    return m.group(1).strip() if m else ""


Pager = dict[str, Any]


def _pager(html: str) -> Pager:
    """The page's pager as the API gives it: ``next`` / ``prev`` cursors and ``total`` (when shown)."""
    links = dict(_PAGER_LINK.findall(html))
    total = _TOTAL.search(html)
    return {"next": links.get("next"), "prev": links.get("prev"), "total": int(total.group(1)) if total else None}


def _api_pager(body: dict[str, Any]) -> Pager:
    return {"next": body["next"], "prev": body["prev"], "total": body["total"] if body["next"] or body["prev"] else None}


async def _notifications(surface: Surface, **params: Any) -> tuple[httpx.Response, list[dict[str, str]], Pager]:
    """The notification list as (response, rows, pager) — the same shape from both surfaces."""
    resp = await _get(surface, "/api/v1/notifications", "/notifications", **params)
    if resp.status_code != 200:
        return resp, [], {}
    if surface.name == "api":
        body = resp.json()
        rows = [{k: item[k] for k in ("kind", "status", "channel", "destination", "kind_name", "status_name")}
                for item in body["items"]]
        return resp, rows, _api_pager(body)
    rows = [{"kind": k, "status": s, "channel": c, "destination": _cell(inner, "destination"),
             "kind_name": _cell(inner, "kind"), "status_name": _cell(inner, "status")}
            for k, s, c, inner in _NOTE_ROW.findall(resp.text)]
    return resp, rows, _pager(resp.text)


async def _events(surface: Surface, **params: Any) -> tuple[httpx.Response, list[dict[str, str]], Pager]:
    resp = await _get(surface, "/api/v1/security-events", "/security", **params)
    if resp.status_code != 200:
        return resp, [], {}
    if surface.name == "api":
        body = resp.json()
        rows = [{"kind": e["kind"], "outcome": e["outcome"], "kind_name": e["kind_name"],
                 "outcome_name": e["outcome_name"], "detail": " ".join(e["detail"].values())} for e in body["items"]]
        return resp, rows, _api_pager(body)
    rows = [{"kind": k, "outcome": o, "kind_name": _cell(inner, "kind"), "outcome_name": _cell(inner, "outcome"),
             "detail": _cell(inner, "detail")} for k, o, inner in _EVENT_ROW.findall(resp.text)]
    return resp, rows, _pager(resp.text)


async def _sessions(surface: Surface) -> list[dict[str, Any]]:
    resp = await _get(surface, "/api/v1/sessions", "/security")
    assert resp.status_code == 200, resp.text
    if surface.name == "api":
        return [{"id": s["id"], "current": s["current"], "device": s["device"]} for s in resp.json()["items"]]
    return [{"id": sid, "current": bool(cur), "device": device.strip()}
            for cur, sid, device, _rest in _SESSION_ROW.findall(resp.text)]


async def _end(surface: Surface, session_id: str) -> int:
    if surface.name == "api":
        resp = await surface.client.delete(f"/api/v1/sessions/{session_id}", headers=_auth(surface))
        return resp.status_code
    assert isinstance(surface, UiSurface)
    resp = await surface.post_form(f"/security/sessions/{session_id}/end", {}, page="/security")
    return resp.status_code


async def _end_others(surface: Surface) -> httpx.Response:
    if surface.name == "api":
        return await surface.client.post("/api/v1/sessions/end-others", headers=_auth(surface))
    assert isinstance(surface, UiSurface)
    return await surface.post_form("/security/sessions/end-others", {}, page="/security")


async def _add_messages(services: Any, account_id: str, count: int, *, kind: str = "password_changed",
                        status: str = "sent", to: str = "+79120000000", start: dt.datetime | None = None) -> None:
    start = start or services.clock.now() - dt.timedelta(days=1)
    # A pending message is scheduled later, so the in-process courier leaves it pending.
    due = services.clock.now() + dt.timedelta(days=1) if status == "pending" else start
    async with services.db.write() as s:
        for i in range(count):
            s.add(OutboxMessage(
                id=random_id(), account_id=account_id, channel="sms", kind=kind, to=to, body=f"secret text {i}",
                code=None, status=status, next_attempt_at=due, created_at=start + dt.timedelta(minutes=i),
            ))


# -- «История уведомлений» -------------------------------------------------------------------

async def test_registration_code_appears_in_the_history_masked_and_without_its_code(surface):
    phone = await register(surface, phone_e164(500))
    code = await last_code(surface.client, phone)
    resp, rows, _ = await _notifications(surface)
    assert resp.status_code == 200
    assert [r["kind"] for r in rows] == ["registration_code"]
    row = rows[0]
    assert row["kind_name"] == "Код подтверждения регистрации"
    assert row["channel"] == "sms"
    assert row["destination"] == "+7 *** ***-05-00"
    assert row["status"] in ("pending", "sent")
    assert row["status_name"] in ("Ожидает отправки", "Отправлено")
    assert phone not in resp.text and phone[2:] not in resp.text and "912 000" not in resp.text
    assert code not in resp.text


async def test_a_password_change_notice_is_listed_newest_first(surface, services, clock):
    phone = await register(surface, phone_e164(501))
    clock.advance(minutes=1)
    new_password = "Quartz-Meadow-77"
    if surface.name == "api":
        resp = await surface.client.post("/api/v1/settings/password", headers=_auth(surface), json={
            "old_password": PASSWORD, "new_password": new_password, "new_password_repeat": new_password})
        assert resp.status_code == 200, resp.text
        surface.token = resp.json()["token"]
    else:
        assert isinstance(surface, UiSurface)
        resp = await surface.post_form("/settings/password", {
            "old_password": PASSWORD, "new_password": new_password, "new_password_repeat": new_password},
            page="/settings/password")
        assert resp.status_code == 303, resp.text
    _, rows, _ = await _notifications(surface)
    assert [r["kind"] for r in rows] == ["password_changed", "registration_code"]
    assert rows[0]["kind_name"] == "Пароль изменён"
    async with services.db.read() as s:
        owners = set((await s.execute(select(OutboxMessage.account_id).where(OutboxMessage.to == phone))).scalars())
    assert None not in owners and len(owners) == 1


async def test_statuses_and_kinds_have_human_names_and_unknown_kinds_a_generic_one(surface, services, clock):
    phone, account_id = await _user(services, 502)
    await _signed_in(surface, phone)
    base = clock.now() - dt.timedelta(hours=1)
    await _add_messages(services, account_id, 1, kind="recovery_password", status="failed", start=base)
    await _add_messages(services, account_id, 1, kind="contact_changed", status="pending",
                        start=base + dt.timedelta(minutes=5))
    await _add_messages(services, account_id, 1, kind="brand_new_kind", status="sent",
                        start=base + dt.timedelta(minutes=10))
    _, rows, _ = await _notifications(surface)
    assert [(r["kind"], r["kind_name"], r["status_name"]) for r in rows] == [
        ("brand_new_kind", "Уведомление", "Отправлено"),
        ("contact_changed", "Контактные данные изменены", "Ожидает отправки"),
        ("recovery_password", "Временный пароль для восстановления доступа", "Не доставлено"),
    ]


async def test_only_the_accounts_own_messages_are_listed(surface, services):
    phone, account_id = await _user(services, 503)
    _, other_id = await _user(services, 504)
    await _add_messages(services, account_id, 2)
    await _add_messages(services, other_id, 3, kind="contact_changed", to="+79120000504")
    async with services.db.write() as s:  # a message of no account (e.g. to the operator)
        s.add(OutboxMessage(id=random_id(), account_id=None, channel="email", kind="sms_budget_alert",
                            to="ops@example.com", body="x", status="sent", next_attempt_at=services.clock.now(),
                            created_at=services.clock.now()))
    await _signed_in(surface, phone)
    _, rows, _ = await _notifications(surface)
    assert [r["kind"] for r in rows] == ["password_changed", "password_changed"]


async def _walk(surface: Surface, reader: Any, direction: str, start: Pager, **params: Any) -> list[list[dict[str, str]]]:
    """Follow ``next`` (older) or ``prev`` (newer) cursors from ``start`` to the end of the list."""
    pages, pager = [], start
    while pager.get(direction):
        _, rows, pager = await reader(surface, **{"before" if direction == "next" else "after": pager[direction]},
                                      **params)
        pages.append(rows)
        assert len(pages) < 20
    return pages


async def test_notifications_are_paginated_twenty_a_page_by_keyset(surface, services):
    phone, account_id = await _user(services, 505)
    await _add_messages(services, account_id, 45)
    await _signed_in(surface, phone)
    _, first, pager = await _notifications(surface)
    assert len(first) == 20 and pager["prev"] is None and pager["next"] and pager["total"] == 45
    older = await _walk(surface, _notifications, "next", pager)
    assert [len(p) for p in older] == [20, 5]
    _, last, last_pager = await _notifications(surface, before=pager["next"])
    _, last, last_pager = await _notifications(surface, before=last_pager["next"])
    assert last_pager["next"] is None and last_pager["prev"]
    newer = await _walk(surface, _notifications, "prev", last_pager)  # back up to the newest
    assert [len(p) for p in newer] == [20, 20]
    assert newer[-1] == first
    if surface.name == "api":
        resp, everything, pager = await _notifications(surface, per_page=100)
        assert len(everything) == 45 and pager["next"] is None and resp.json()["total"] == 45


async def test_keyset_pages_split_rows_written_in_the_same_instant_without_losing_or_repeating_one(surface, services):
    phone, account_id = await _user(services, 508)
    at = services.clock.now() - dt.timedelta(hours=1)
    async with services.db.write() as s:
        for i in range(45):  # one timestamp for all: only the id orders them
            s.add(OutboxMessage(id=f"{i:02d}" + random_id()[2:], account_id=account_id, channel="email",
                                kind="password_changed", to=f"u@d{i:02d}.example.ru", body="text", code=None,
                                status="sent", next_attempt_at=at, created_at=at))
    await _signed_in(surface, phone)
    _, first, pager = await _notifications(surface)
    pages = [first, *await _walk(surface, _notifications, "next", pager)]
    seen = [r["destination"] for page in pages for r in page]
    assert [len(p) for p in pages] == [20, 20, 5] and len(set(seen)) == 45


async def test_rows_written_while_reading_do_not_shift_older_pages(surface, services):
    phone, account_id = await _user(services, 509)
    await _add_messages(services, account_id, 30)
    await _signed_in(surface, phone)
    _, first, pager = await _notifications(surface)
    await _add_messages(services, account_id, 7, kind="contact_changed", start=services.clock.now())  # newer ones
    _, second, _ = await _notifications(surface, before=pager["next"])
    assert len(second) == 10 and all(r["kind"] == "password_changed" for r in second)  # nothing seen twice


async def test_api_refuses_bad_cursors_and_page_sizes_with_the_error_shape(surface, services):
    if surface.name != "api":
        return
    phone, _ = await _user(services, 506)
    await _signed_in(surface, phone)
    good = "MjAyNi0xMi0wM1QwMDowMDowMC4wMDAwMDB8eA"  # 2026-12-03T00:00:00.000000|x
    cases = [({"before": "abc"}, "before"), ({"before": "%%%"}, "before"), ({"after": "a" * 500}, "after"),
             ({"after": "bm90IGEgdGltZXx4"}, "after"), ({"before": good, "after": good}, "after"),
             ({"per_page": 0}, "per_page"), ({"per_page": 101}, "per_page"), ({"per_page": "x"}, "per_page"),
             ({"per_page": 10**30}, "per_page")]
    for path in ("/api/v1/notifications", "/api/v1/security-events"):
        for params, field in cases:
            resp = await surface.client.get(path, params=params, headers=_auth(surface))
            assert resp.status_code == 422, (path, params, resp.text)
            error = resp.json()["error"]
            assert error["field"] == field and error["code"] and error["message"], (path, params, error)
        resp = await surface.client.get(path, params={"before": good}, headers=_auth(surface))
        assert resp.status_code == 200 and resp.json()["items"] == []


async def test_pages_show_the_first_page_for_a_damaged_cursor(surface, services):
    if surface.name != "ui":
        return
    phone, account_id = await _user(services, 507)
    await _add_messages(services, account_id, 25)
    await _signed_in(surface, phone)
    for params in ({"before": "abc"}, {"after": "%%%"}, {"before": "9" * 400}, {"page": "3"},
                   {"before": "MjAyNi0xMi0wM1QwMDowMDowMC4wMDAwMDB8eA", "after": "x"}):
        resp, rows, pager = await _notifications(surface, **params)
        assert resp.status_code == 200 and len(rows) == 20 and pager["prev"] is None and pager["next"], params
    for raw in ("abc", "0", "999"):
        resp = await surface.client.get("/security", params={"before": raw})
        assert resp.status_code == 200


async def test_history_pages_need_a_signed_in_full_session(surface, services):
    if surface.name == "api":
        for path in ("/api/v1/notifications", "/api/v1/sessions", "/api/v1/security-events"):
            resp = await surface.client.get(path)
            assert resp.status_code == 401 and resp.json()["error"]["code"] == "unauthenticated"
        resp = await surface.client.post("/api/v1/sessions/end-others")
        assert resp.status_code == 401
    else:
        for path in ("/notifications", "/security"):
            resp = await surface.client.get(path)
            assert resp.status_code == 303 and resp.headers["location"] == f"/login?return_to={path}"
    # A session limited to setting a new password (temporary password) sees none of it.
    phone, account_id = await _user(services, 508)
    await _signed_in(surface, phone)
    async with services.db.write() as s:
        await s.execute(update(Session).where(Session.account_id == account_id).values(restrictions="password_change"))
    if surface.name == "api":
        resp = await surface.client.get("/api/v1/notifications", headers=_auth(surface))
        assert resp.status_code == 403 and resp.json()["error"]["code"] == "password_change_required"
    else:
        resp = await surface.client.get("/security")
        assert resp.status_code == 303 and resp.headers["location"] == "/settings/password"


async def test_names_follow_the_language(client_factory, services):
    phone, account_id = await _user(services, 509)
    await _add_messages(services, account_id, 1, kind="registration_code", status="failed")
    api = await _signed_in(ApiSurface(client_factory()), phone)
    resp = await api.client.get("/api/v1/notifications", headers={**_auth(api), "Accept-Language": "en"})
    item = resp.json()["items"][0]
    assert (item["kind_name"], item["status_name"], item["channel_name"]) == (
        "Registration confirmation code", "Not delivered", "SMS")
    ui = await _signed_in(UiSurface(client_factory()), phone)
    ui.client.cookies.set("dostup_lang", "en")
    page = await ui.client.get("/notifications")
    assert "Notification history" in page.text and "Registration confirmation code" in page.text


# -- sessions --------------------------------------------------------------------------------

async def test_sessions_list_devices_and_marks_the_current_one(surface, client_factory, services):
    phone, _ = await _user(services, 520)
    await _signed_in(surface, phone)
    chrome = await _signed_in(_same_kind(surface, client_factory(headers={"User-Agent": CHROME_WINDOWS})), phone)
    await _signed_in(_same_kind(surface, client_factory(headers={"User-Agent": FIREFOX_ANDROID})), phone)
    listed = await _sessions(chrome)
    assert len(listed) == 3
    assert listed[0]["current"] and [s["current"] for s in listed].count(True) == 1
    assert listed[0]["device"] == "Chrome, Windows"
    assert {s["device"] for s in listed} == {"Chrome, Windows", "Firefox, Android", "python-httpx"}
    if surface.name == "ui":
        page = await chrome.client.get("/security")
        assert "Текущий сеанс" in page.text and "Завершить все остальные сеансы" in page.text
        assert "127.0.0.1" in page.text


async def test_ending_one_session_kills_its_token(surface, surface_factory, services):
    phone, _ = await _user(services, 521)
    me = await _signed_in(surface, phone)
    other = await _signed_in(surface_factory(), phone)
    other_id = next(s["id"] for s in await _sessions(other) if s["current"])
    assert await _end(me, other_id) in (204, 303)
    assert (await other.whoami()).status == 401
    assert (await me.whoami()).ok
    assert [s["current"] for s in await _sessions(me)] == [True]
    # Ending it again, or an id that never was: not found.
    assert await _end(me, other_id) == 404
    assert await _end(me, "0" * 32) == 404
    assert await _end(me, "x" * 300) == 404


async def test_another_accounts_session_id_is_404_and_stays_alive(surface, surface_factory, services):
    phone_a, _ = await _user(services, 522)
    phone_b, _ = await _user(services, 523)
    alice = await _signed_in(surface, phone_a)
    bob = await _signed_in(surface_factory(), phone_b)
    bob_id = (await _sessions(bob))[0]["id"]
    assert await _end(alice, bob_id) == 404
    assert (await bob.whoami()).ok
    if surface.name == "api":
        resp = await alice.client.delete(f"/api/v1/sessions/{bob_id}", headers=_auth(alice))
        assert resp.json()["error"]["code"] == "not_found"


async def test_ending_all_other_sessions_keeps_only_this_one(surface, surface_factory, services):
    phone, _ = await _user(services, 524)
    me = await _signed_in(surface, phone)
    others = [await _signed_in(surface_factory(), phone) for _ in range(3)]
    stranger_phone, _ = await _user(services, 525)
    stranger = await _signed_in(surface_factory(), stranger_phone)
    resp = await _end_others(me)
    if surface.name == "api":
        assert resp.status_code == 200 and resp.json() == {"ended": 3}
    else:
        assert resp.status_code == 303 and resp.headers["location"] == "/security?ended_others=3"
        page = await me.client.get(resp.headers["location"])
        assert "Остальные сеансы завершены: 3." in page.text and "Других активных сеансов нет." in page.text
    for o in others:
        assert (await o.whoami()).status == 401
    assert (await me.whoami()).ok
    assert (await stranger.whoami()).ok
    assert [s["current"] for s in await _sessions(me)] == [True]


async def test_ending_the_current_session_signs_out(surface, services):
    phone, _ = await _user(services, 526)
    me = await _signed_in(surface, phone)
    token = me.token
    current = (await _sessions(me))[0]["id"]
    if surface.name == "api":
        assert await _end(me, current) == 204
    else:
        assert isinstance(me, UiSurface)
        resp = await me.post_form(f"/security/sessions/{current}/end", {}, page="/security")
        assert resp.status_code == 303 and resp.headers["location"] == "/login"
        assert (await me.client.get("/security")).status_code == 303
    stale = ApiSurface(me.client)
    stale.token = token
    assert (await stale.whoami()).status == 401


async def test_session_forms_need_the_csrf_token(client_factory, services):
    phone, _ = await _user(services, 527)
    ui = await _signed_in(UiSurface(client_factory()), phone)
    current = (await _sessions(ui))[0]["id"]
    for path in ("/security/sessions/end-others", f"/security/sessions/{current}/end"):
        resp = await ui.client.post(path, data={})
        assert resp.status_code == 403
        resp = await ui.client.post(path, data={"csrf_token": "forged"})
        assert resp.status_code == 403
    assert (await ui.whoami()).ok
    api = await _signed_in(ApiSurface(client_factory()), phone)
    resp = await api.client.post("/api/v1/sessions/end-others", headers={**_auth(api), "Origin": "https://evil.example"})
    assert resp.status_code == 403
    assert (await ui.whoami()).ok


# -- security history ------------------------------------------------------------------------

async def test_security_history_shows_sign_ins_failures_and_registration_masked(surface, surface_factory, clock):
    phone = await register(surface, phone_e164(530))
    clock.advance(seconds=1)
    intruder = surface_factory(ip="10.1.2.3")
    assert (await intruder.login(method="phone", phone=phone, password="Wrong-password-1")).status == 401
    clock.advance(seconds=1)
    again = await _signed_in(surface_factory(), phone)
    resp, rows, _ = await _events(again)
    assert resp.status_code == 200
    kinds = [(r["kind"], r["outcome"]) for r in rows]
    assert kinds == [("login", "success"), ("login", "failure"), ("registration", "success")]
    assert [(r["kind_name"], r["outcome_name"]) for r in rows] == [
        ("Вход", "Успешно"), ("Вход", "Неудачно"), ("Регистрация", "Успешно")]
    assert "+7 *** ***-05-30" in rows[1]["detail"]
    assert phone not in resp.text and phone[2:] not in resp.text
    assert "10.1.2.3" in resp.text


async def test_ending_sessions_is_itself_in_the_security_history(surface, surface_factory, services, clock):
    phone, _ = await _user(services, 531)
    me = await _signed_in(surface, phone)
    other = await _signed_in(surface_factory(), phone)
    other_id = next(s["id"] for s in await _sessions(other) if s["current"])
    clock.advance(seconds=1)
    await _end(me, other_id)
    clock.advance(seconds=1)
    await _signed_in(surface_factory(), phone)
    clock.advance(seconds=1)
    await _end_others(me)
    _, rows, _ = await _events(me)
    assert [r["kind"] for r in rows[:3]] == ["sessions_ended", "login", "session_ended"]
    assert rows[0]["kind_name"] == "Завершение остальных сеансов"


async def test_security_events_are_paginated_and_unknown_kinds_get_a_generic_name(surface, services, clock):
    phone, account_id = await _user(services, 532)
    start = clock.now() - dt.timedelta(days=2)
    async with services.db.write() as s:
        for i in range(24):
            s.add(SecurityEvent(id=random_id(), account_id=account_id, kind="future_kind" if i == 23 else "reauth",
                                outcome="success", ip="192.0.2.1", user_agent=CHROME_WINDOWS,
                                detail={"destination": "+79120000532", "password": "never-shown"},
                                created_at=start + dt.timedelta(minutes=i)))
    await _signed_in(surface, phone)  # the 25th event, the newest
    resp, first, pager = await _events(surface)
    assert len(first) == 20 and pager["prev"] is None and pager["total"] == 25
    assert first[1]["kind"] == "future_kind" and first[1]["kind_name"] == "Событие безопасности"
    assert first[2]["kind_name"] == "Подтверждение пароля"
    assert "+7 *** ***-05-32" in first[2]["detail"]
    assert "never-shown" not in resp.text and "+79120000532" not in resp.text
    _, second, pager = await _events(surface, before=pager["next"])
    assert len(second) == 5 and pager["next"] is None and pager["prev"]
    _, back, _ = await _events(surface, after=pager["prev"])
    assert back == first
