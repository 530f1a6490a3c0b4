"""The external registry as the verifier of «Стандартная учётная запись» (SPEC §4.8: «pluggable: an external
registry over HTTP with a callback»), against a real HTTP server started by the test (``http.server`` in a
thread, :class:`tests.courier.conftest.Gateway`; nothing mocked).

Dostup POSTs the request through the courier (an outbox message written with the submission), signed with the
shared secret; the registry answers later on ``/api/v1/verification/registry/callback``, signed the same way.
A wrong, missing, stale or future signature is 401, a replay finds the request answered (409), a registry that
is down gets the request again after the courier's back-off.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select, update

from dostup.core.crypto import Keyring
from dostup.core.signatures import sign, signed_headers, unix_time, verify
from dostup.persistence.models import OutboxMessage
from dostup.persistence.models_levels import VerificationRequest
from dostup.selfservice.verification.service import checked_digest
from dostup.settings import SettingsError
from tests.courier.conftest import Gateway, Reply
from tests.factories import make_account, sign_in
from tests.flows.levels_support import PERSON, rows, status, submit
from tests.flows.test_operator_search import REASON, _staff
from tests.flows.test_passport_at_rest import CLEAR, _raw, _snapshot
from tests.support import make_settings, outbox

SECRET = "registry-shared-secret-0123456789abcdef"
CALLBACK = "/api/v1/verification/registry/callback"


@pytest.fixture
def registry() -> Iterator[Gateway]:
    gw = Gateway().up()
    gw.reply = Reply(202, {"accepted": True})
    try:
        yield gw
    finally:
        gw.close()


@pytest.fixture
def settings_overrides(registry: Gateway) -> dict[str, str]:
    return {"DOSTUP_PRESET": "gosuslugi", "DOSTUP_LEVELS__VERIFIER": "registry",
            "DOSTUP_LEVELS__REGISTRY_URL": registry.url + "/checks", "DOSTUP_LEVELS__REGISTRY_SECRET": SECRET,
            "DOSTUP_LEVELS__REGISTRY_TIMEOUT_SECONDS": "2", "DOSTUP_COURIER__MAX_ATTEMPTS": "2"}


async def _sent(registry: Gateway, count: int = 1) -> list[Any]:
    return await asyncio.to_thread(registry.wait_for, count)


async def _messages(services: Any) -> list[OutboxMessage]:
    async with services.db.read() as s:
        return list((await s.execute(select(OutboxMessage).where(OutboxMessage.channel == "registry"))).scalars())


async def _message_once(services: Any, done: Any) -> OutboxMessage:
    """The registry's one message, once the courier has recorded what ``done`` looks for (a deadline)."""
    for _ in range(250):
        [message] = await _messages(services)
        if done(message):
            return message
        await asyncio.sleep(0.02)
    raise AssertionError("the courier did not record the delivery in time")


async def _down_then(services: Any, surface: Any, registry: Gateway, n: int) -> Any:
    """A customer's request sent to a registry that answers 503."""
    registry.reply = Reply(503, {"error": "maintenance"})
    made = await make_account(services, n)
    await sign_in(surface, made.phone)
    assert (await submit(surface, **PERSON)).ok
    await _sent(registry)
    return made


def _answer(services: Any, body: dict[str, Any], *, secret: str = SECRET, shift: int = 0) -> tuple[bytes, dict[str, str]]:
    raw = json.dumps(body).encode()
    return raw, {"Content-Type": "application/json",
                 **signed_headers(secret, unix_time(services.clock.now()) + shift, raw)}


async def test_the_registry_gets_the_signed_request_and_its_signed_answer_makes_the_account_standard(
        client_factory, services, surface, registry):
    made = await make_account(services, 601, "r601@example.ru")
    await sign_in(surface, made.phone)
    assert (await submit(surface, **PERSON)).ok
    [req] = await _sent(registry)
    assert req.method == "POST" and req.path == "/checks" and req.headers["content-type"] == "application/json"
    assert verify(SECRET, req.headers["x-dostup-timestamp"], req.headers["x-dostup-signature"], req.body,
                  now=unix_time(services.clock.now()), window=5)
    body = req.json()
    [(_, [waiting])] = [await rows(services, made.id)]
    assert body["request_id"] == waiting.id and waiting.verifier == "registry" and waiting.state == "submitted"
    assert body["callback_url"] == "http://testserver" + CALLBACK and body["level"] == 2
    assert body["person"]["passport_number"] == "123456" and body["person"]["snils"] == PERSON["snils"]
    assert body["person"] == _snapshot()  # the whole person, the passport opened from the sealed copy
    raw = (await _raw(services))[waiting.id]
    assert not [c for c in CLEAR if c in raw], raw  # while it waits, the stored copy holds no passport in clear
    # the courier records the delivery after the answer: the passport data goes
    message = await _message_once(services, lambda m: m.status == "sent")
    assert req.headers["idempotency-key"] == message.id
    assert message.status == "sent" and "123456" not in message.body and message.account_id is None
    assert (await status(surface))["verification"]["state"] == "submitted"

    raw, headers = _answer(services, {"request_id": waiting.id, "decision": "approved", "reason": "Сведения совпали"})
    registry_side = client_factory()
    r = await registry_side.post(CALLBACK, content=raw, headers=headers)
    assert r.status_code == 204, r.text
    got = await status(surface)
    assert (got["level"], got["verification"]["state"]) == ("standard", "approved")
    replay = await registry_side.post(CALLBACK, content=raw, headers=headers)
    assert replay.status_code == 409 and replay.json()["error"]["code"] == "not_waiting"
    notice = next(m for m in await outbox(registry_side) if m["kind"] == "verification_approved")
    assert notice["to"] == made.phone


async def test_a_check_sent_to_the_registry_before_the_passport_was_sealed_is_answered_as_a_sealed_one(
        client_factory, services, surface, registry):
    """A check submitted before its copy of the person was sealed (the five fields in clear) still takes the
    registry's answer, and what the answer keeps is the digest of the same person as a sealed check's."""
    made = await make_account(services, 606)
    await sign_in(surface, made.phone)
    assert (await submit(surface, **PERSON)).ok
    request_id = (await _sent(registry))[0].json()["request_id"]
    async with services.db.write() as s:
        await s.execute(update(VerificationRequest).where(VerificationRequest.id == request_id)
                        .values(data=_snapshot()))
    raw, headers = _answer(services, {"request_id": request_id, "decision": "approved"})
    assert (await client_factory().post(CALLBACK, content=raw, headers=headers)).status_code == 204
    profile, [answered] = await rows(services, made.id)
    digest = checked_digest(Keyring(services.settings.secret_key), _snapshot())
    assert profile is not None and profile.level == 2 and answered.data == profile.checked == digest


async def test_a_rejection_by_the_registry_is_told_with_its_reason(client_factory, services, surface, registry):
    made = await make_account(services, 602)
    await sign_in(surface, made.phone)
    assert (await submit(surface, **PERSON)).ok
    [req] = await _sent(registry)
    raw, headers = _answer(services, {"request_id": req.json()["request_id"], "decision": "rejected",
                                      "reason": "СНИЛС не найден в ПФР"})
    assert (await client_factory().post(CALLBACK, content=raw, headers=headers)).status_code == 204
    got = await status(surface)
    assert got["level"] == "simplified" and got["verification"]["answer"] == "СНИЛС не найден в ПФР"


async def test_forged_stale_and_malformed_answers_are_refused_and_change_nothing(client_factory, services, registry):
    api_client = client_factory()
    made = await make_account(services, 603)
    from tests.support import ApiSurface

    api = ApiSurface(api_client)
    await sign_in(api, made.phone)
    assert (await submit(api, **PERSON)).ok
    request_id = (await _sent(registry))[0].json()["request_id"]
    good = {"request_id": request_id, "decision": "approved"}
    http = client_factory()

    async def post(raw: bytes, headers: dict[str, str]) -> Any:
        return await http.post(CALLBACK, content=raw, headers=headers)

    raw, headers = _answer(services, good, secret="another-secret-0123456789abcdef0123")
    assert (await post(raw, headers)).status_code == 401
    raw, headers = _answer(services, good, shift=-301)  # older than the window: a replay of an old answer
    assert (await post(raw, headers)).status_code == 401
    raw, headers = _answer(services, good, shift=301)
    assert (await post(raw, headers)).status_code == 401
    raw, headers = _answer(services, good)
    tampered = raw.replace(b"approved", b"rejected")
    assert (await post(tampered, headers)).status_code == 401
    assert (await post(raw, {"Content-Type": "application/json"})).status_code == 401
    r = await post(raw, {**headers, "X-Dostup-Timestamp": "soon"})
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_signature"
    for body, code in ((b"{nope", 422), (b"[]", 422), (json.dumps({**good, "decision": "maybe"}).encode(), 422),
                       (json.dumps({**good, "reason": "я" * 301}).encode(), 422),
                       (json.dumps({**good, "request_id": "nothing"}).encode(), 404)):
        stamp = unix_time(services.clock.now())
        r = await post(body, {"X-Dostup-Timestamp": str(stamp), "X-Dostup-Signature": sign(SECRET, stamp, body)})
        assert r.status_code == code, (body, r.text)
    assert (await status(api))["level"] == "simplified"
    assert [x.state for x in (await rows(services, made.id))[1]] == ["submitted"]
    # the operators' queue is not this verifier's: it neither lists nor answers the registry's requests
    staff = client_factory()
    headers = await _staff(staff, services, 690, "operator")
    listed = await staff.post("/api/v1/admin/verifications/pending", json={"reason": REASON}, headers=headers)
    assert listed.json()["items"] == []
    r = await staff.post(f"/api/v1/admin/verifications/{request_id}/approve", json={"reason": REASON}, headers=headers)
    assert r.status_code == 404


async def test_a_registry_that_is_down_gets_the_request_again_after_the_back_off(services, surface, registry):
    await _down_then(services, surface, registry, 604)
    message = await _message_once(services, lambda m: m.attempts == 1)
    assert (message.status, message.attempts) == ("pending", 1)
    assert not [c for c in CLEAR if c in message.body], message.body  # it waits with the passport sealed
    registry.reply = Reply(202, {})
    services.clock.advance(seconds=3600)
    services.worker.wake()
    second = await _sent(registry, 2)
    assert second[0].json() == second[1].json() and second[1].headers["idempotency-key"] == message.id
    assert second[1].json()["person"] == _snapshot()


async def test_a_request_queued_before_the_passport_was_sealed_goes_as_it_was_written(services, registry):
    """A message the courier had not delivered yet when the passport came to be sealed: its body, in clear, is
    what the registry gets, byte for byte (and signed as such)."""
    now = services.clock.now()
    body = json.dumps({"request_id": "r" * 32, "level": 2, "callback_url": "http://testserver" + CALLBACK,
                       "person": _snapshot()}, ensure_ascii=False, separators=(",", ":"))
    async with services.db.write() as s:
        s.add(OutboxMessage(id="m" * 32, account_id=None, channel="registry", kind="verification_request",
                            to="registry", subject="", body=body, code=None, locale="ru", status="pending",
                            attempts=0, next_attempt_at=now, created_at=now))
    services.worker.wake()
    [req] = await _sent(registry)
    assert req.body == body.encode() and req.json()["person"] == _snapshot()
    assert verify(SECRET, req.headers["x-dostup-timestamp"], req.headers["x-dostup-signature"], req.body,
                  now=unix_time(services.clock.now()), window=5)


def test_the_registry_verifier_needs_a_url_and_a_long_secret():
    with pytest.raises(SettingsError, match="DOSTUP_LEVELS__REGISTRY_URL"):
        make_settings(DOSTUP_LEVELS__VERIFIER="registry", DOSTUP_LEVELS__REGISTRY_SECRET=SECRET)
    with pytest.raises(SettingsError, match="DOSTUP_LEVELS__REGISTRY_SECRET"):
        make_settings(DOSTUP_LEVELS__VERIFIER="registry", DOSTUP_LEVELS__REGISTRY_URL="https://registry.example/x",
                      DOSTUP_LEVELS__REGISTRY_SECRET="short")
    with pytest.raises(SettingsError, match="DOSTUP_LEVELS__REGISTRY_URL must be an https"):
        make_settings(DOSTUP_ENV="production", DOSTUP_LEVELS__VERIFIER="registry",
                      DOSTUP_LEVELS__REGISTRY_URL="http://registry.example/x", DOSTUP_LEVELS__REGISTRY_SECRET=SECRET)


async def test_a_request_the_courier_gives_up_on_keeps_no_passport_data(services, surface, registry):
    """The message's body is a person's passport: redacted when the courier gives up, as when it is delivered."""
    made = await _down_then(services, surface, registry, 605)
    services.clock.advance(seconds=3600)
    services.worker.wake()
    await _sent(registry, 2)
    message = await _message_once(services, lambda m: m.status == "failed")
    assert (message.status, message.attempts, message.body) == ("failed", 2, "[not delivered]")
    assert [r.state for r in (await rows(services, made.id))[1]] == ["submitted"]
    registry.reply = Reply(202, {})
    assert (await submit(surface, **PERSON)).ok  # the same data within the day: nothing new
    assert len((await rows(services, made.id))[1]) == 1
    services.clock.advance(hours=24)
    await sign_in(surface, made.phone)  # the session has long expired
    assert (await submit(surface, **PERSON)).ok  # a day later the same data goes again
    assert [r.state for r in (await rows(services, made.id))[1]] == ["cancelled", "submitted"]
    assert len(await _sent(registry, 3)) == 3
