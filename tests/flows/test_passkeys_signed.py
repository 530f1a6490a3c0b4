"""A passkey sign-in's options write nothing: the flow id is signed (HMAC, its expiry inside) and
names the challenge; its id is stored, spent, only by its answer (``login/ceremony.py``:
``SignedFlows``; ``spent_challenges``).  Forged, moved or expired ids are refused; one id signs in once."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
from typing import Any

from sqlalchemy import func, select

from dostup.core.crypto import Keyring
from dostup.persistence.models import Flow, Session, SpentChallenge
from dostup.selfservice.login.ceremony import SIGNED_PREFIX, SignedFlows
from tests.flows.test_passkeys import Passkeys, _with_passkey
from tests.support import ApiSurface


async def _count(services: Any, model: Any) -> int:
    async with services.db.read() as s:
        return int((await s.execute(select(func.count()).select_from(model))).scalar_one())


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


async def test_the_options_write_nothing_and_the_answer_stores_the_spent_id(surface, services):
    me, auth, _ = await _with_passkey(surface, services, 561)
    flows = await _count(services, Flow)
    started = [await me.options() for _ in range(3)]
    assert await _count(services, Flow) == flows
    ids = [s.data["flow_id"] for s in started]
    assert len(set(ids)) == 3 and all(i.startswith(SIGNED_PREFIX) and len(i) <= 64 for i in ids)
    assert len({s.data["options"]["challenge"] for s in started}) == 3
    assert (await me.answer(ids[0], auth.get(started[0].data["options"]))).ok
    assert await _count(services, Flow) == flows  # the spent id is a spent_challenges row, not a flow
    async with services.db.read() as s:
        row = (await s.execute(select(SpentChallenge).where(SpentChallenge.id == ids[0]))).scalar_one()
    expires_at = dt.datetime.fromisoformat(started[0].data["expires_at"])
    assert expires_at.replace(tzinfo=None) == row.expires_at.replace(tzinfo=None)


async def test_a_forged_or_moved_flow_id_is_404(surface, services):
    me, auth, _ = await _with_passkey(surface, services, 562)
    started = await me.options()
    flow_id, answer = started.data["flow_id"], auth.get(started.data["options"])
    body = flow_id[len(SIGNED_PREFIX):]
    payload, mac = base64.urlsafe_b64decode(body[:28]), body[28:]
    i = len(flow_id) - 5  # inside the MAC; its last character carries only 2 bits
    tampered_mac = flow_id[:i] + ("A" if flow_id[i] != "A" else "B") + flow_id[i + 1:]
    later = payload[:16] + (int.from_bytes(payload[16:], "big") + 3600).to_bytes(5, "big")
    moved = SIGNED_PREFIX + _b64(later) + mac  # a later expiry under the old MAC
    other = SignedFlows(Keyring("another instance's secret key, 32+ chars long"), "passkey")
    foreign = other.issue(dt.datetime.now(dt.UTC).replace(tzinfo=None)).flow_id  # another key
    for forged in (tampered_mac, moved, foreign, flow_id[:-2], SIGNED_PREFIX + "x" * 50):
        r = await me.answer(forged, answer)
        assert r.status == 404, (forged, r)
    assert (await me.answer(flow_id, answer)).ok  # the refusals spent nothing


async def test_a_flow_id_past_its_expiry_is_410(surface, services, clock):
    me, auth, _ = await _with_passkey(surface, services, 563)
    signed = SignedFlows(services.keyring, "passkey").issue(clock.now() - dt.timedelta(minutes=5, seconds=1))
    options = {**(await me.options()).data["options"], "challenge": _b64(signed.challenge)}
    r = await me.answer(signed.flow_id, auth.get(options))
    assert r.status == 410
    fresh = SignedFlows(services.keyring, "passkey").issue(clock.now() - dt.timedelta(minutes=4))
    options = {**options, "challenge": _b64(fresh.challenge)}
    assert (await me.answer(fresh.flow_id, auth.get(options))).ok  # still live: the same key signs in


async def test_a_refused_answer_spends_the_flow_id_and_a_replay_is_409(surface, services):
    me, auth, _ = await _with_passkey(surface, services, 564)
    started = await me.options()
    bad = await me.answer(started.data["flow_id"], auth.get(started.data["options"], origin="https://evil.example"))
    assert bad.status == 422
    again = await me.answer(started.data["flow_id"], auth.get(started.data["options"]))
    assert again.status == 409 and "уже использован" in (again.message or "")
    assert (await surface.whoami()).status == 401


async def test_one_flow_id_from_two_concurrent_answers_opens_one_session(services, client_factory):
    me, auth, _ = await _with_passkey(ApiSurface(client_factory()), services, 565)
    started = await me.options()
    answer = auth.get(started.data["options"])
    before = await _count(services, Session)
    callers = [Passkeys(ApiSurface(client_factory(f"198.51.100.{i + 1}"))) for i in range(2)]
    results = await asyncio.gather(*(c.answer(started.data["flow_id"], answer) for c in callers))
    assert sorted(r.status for r in results) == [200, 409]
    assert await _count(services, Session) == before + 1


async def test_the_per_ip_bound_is_counted_at_the_answer_not_the_options(services, client_factory):
    me, auth, _ = await _with_passkey(ApiSurface(client_factory()), services, 566)
    limit = services.login.ceremonies_per_ip.limit
    caller = Passkeys(ApiSurface(client_factory("203.0.113.9")))
    started = [await caller.options() for _ in range(limit + 1)]
    assert all(s.ok for s in started)  # options are not counted: they write nothing
    for s in started[:limit]:
        assert (await caller.answer(s.data["flow_id"], {"id": "x"})).status == 422
    over = await caller.answer(started[limit].data["flow_id"], auth.get(started[limit].data["options"]))
    assert over.status == 429 and over.headers.get("retry-after")
    assert (await me.answer(started[limit].data["flow_id"], auth.get(started[limit].data["options"]))).ok
