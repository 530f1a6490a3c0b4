"""The password sign-in over JSON before the middleware stack (``api/auth.py`` ``PLAIN``, served by
``api/plain_passkey.py`` as the passkey sign-in): a success is sent with the application's headers,
every refusal is the application's own answer (status, body, headers), and a wrong password is
counted once."""

from __future__ import annotations

from typing import Any

import pytest

from tests.flows.helpers import PASSWORD, count_entries, phone_e164, register
from tests.flows.test_passkey_fast import _names, _post
from tests.support import ApiSurface

LOGIN = "/api/v1/login"


def _body(phone: str, password: str = PASSWORD) -> dict[str, Any]:
    return {"method": "phone", "phone": phone, "password": password}


async def test_a_sign_in_on_the_fast_path_is_the_applications_answer(app, services, client_factory):
    phone = await register(ApiSurface(client_factory()), phone_e164(591))
    fast, routed = await _post(app, LOGIN, fast=True, json=_body(phone)), await _post(app, LOGIN, fast=False,
                                                                                      json=_body(phone))
    assert fast.status_code == routed.status_code == 200, (fast.text, routed.text)
    assert _names(fast) == _names(routed) and "content-security-policy" in _names(fast)
    a, b = fast.json(), routed.json()
    assert a["account"] == b["account"] and a["session"].keys() == b["session"].keys()
    assert a["session"]["token"] != b["session"]["token"] and a["session"]["amr"] == ["pwd"]


async def test_refusals_on_the_fast_path_are_the_applications_answers(app, services, client_factory):
    phone = await register(ApiSurface(client_factory()), phone_e164(592))
    body = _body(phone)
    cases: list[dict[str, Any]] = [
        {"content": b"{not json", "headers": {"content-type": "application/json"}},
        {"content": b'{"method": "phone", "phone": "+79120000592", "password": "\\ud800"}',
         "headers": {"content-type": "application/json"}},  # a lone surrogate: a bad field, not bad JSON
        {"content": b"", "headers": {"content-type": "application/json"}},
        {"content": b'{"phone": "\xff\xfe"}', "headers": {"content-type": "application/json"}},  # not UTF-8
        {"content": b"[]", "headers": {"content-type": "application/json"}},
        {"content": b'{"phone": "+79120000592"}', "headers": {"content-type": "text/plain"}},
        {"content": b'{"phone": "+79120000592"}', "headers": {"content-type": ""}},
        {"json": {**body, "phone": 79120000592}},
        {"json": {**body, "method": "x" * 40}},
        {"json": {**body, "password": ""}},
        {"json": {**body, "phone": "+7 000"}},
        {"json": {**body, "password": "Wrong-Password-1"}},
        {"json": body, "headers": {"origin": "https://evil.example", "sec-fetch-site": "cross-site"}},
        {"content": b"x" * (services.settings.max_body_bytes + 1), "headers": {"content-type": "application/json"}},
    ]
    for kw in cases:
        fast, routed = await _post(app, LOGIN, fast=True, **kw), await _post(app, LOGIN, fast=False, **kw)
        assert 400 <= fast.status_code < 500, (kw, fast.text)
        assert (fast.status_code, fast.content, fast.headers.raw) == (routed.status_code, routed.content,
                                                                      routed.headers.raw), kw


async def test_a_wrong_password_on_the_fast_path_is_counted_once(app, services, client_factory):
    """Refused on the fast path and answered again by the application, a failure is one failure: four,
    below the captcha's five, still let the right password in without a captcha."""
    phone = await register(ApiSurface(client_factory()), phone_e164(593))
    assert services.settings.limits.signin_captcha_after_failures == 5
    for _ in range(4):
        wrong = await _post(app, LOGIN, fast=True, json=_body(phone, "Wrong-Password-1"))
        assert wrong.status_code == 401, wrong.text
    done = await _post(app, LOGIN, fast=True, json=_body(phone))
    assert done.status_code == 200, done.text


async def test_a_sign_in_is_answered_without_the_middleware_stack(app, services, client_factory,
                                                                   monkeypatch: pytest.MonkeyPatch):
    phone = await register(ApiSurface(client_factory()), phone_e164(594))
    entered = count_entries(monkeypatch)
    done = await _post(app, LOGIN, fast=True, json=_body(phone))
    assert done.status_code == 200 and entered == [], (done.text, entered)
    refused = await _post(app, LOGIN, fast=True, json=_body(phone, "Wrong-Password-1"))
    assert refused.status_code == 401 and entered == [LOGIN]
