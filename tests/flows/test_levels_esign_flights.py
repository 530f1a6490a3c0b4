"""The built-in e-signature check during a CA's outage and under concurrency
(:mod:`dostup.selfservice.verification.esign.flights`): the test CA's lists and responders on a real HTTP server on
127.0.0.1 that, for the outage, takes longer than the timeout to answer; the requests it received are counted.
A distribution point or responder that failed is not asked again within ``…__FAILURE_CACHE_SECONDS``, so the
503 comes at once and spends no try; after the window it is asked again and a mended CA is seen.  Checks that need
the same list at once wait for one download, and one that is cancelled takes nobody's download with it."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from dostup.accounts.levels import account_level
from dostup.core.errors import ServiceUnavailable
from dostup.selfservice.verification.esign.check import SignatureCheck
from dostup.selfservice.verification.esign.setup import configured_check
from tests.courier.conftest import Reply, Request
from tests.flows.esign_support import Ca, CrlPoints, Issued, ca_fixture  # noqa: F401 - the fixture ca
from tests.flows.levels_support import GOSUSLUGI, SNILS
from tests.flows.test_levels_esign import customer, flow_row, message, sign, start
from tests.flows.test_levels_esign_revocation import UNAVAILABLE
from tests.support import ApiSurface, make_settings

TIMEOUT = 1.0  # seconds a download may take
WAITED = 2 * TIMEOUT * 0.95  # two downloads' timeouts: the signer's list (or answer), then the intermediate's
AT_ONCE = 0.5  # seconds: an answer that waited for no download (the whole request, database included)
WINDOW = 30  # seconds a failure is remembered
HANGS = 3.0  # seconds the CA's server takes during an outage: longer than the timeout


@pytest.fixture
def crls(request: pytest.FixtureRequest) -> Iterator[CrlPoints]:
    with CrlPoints(ocsp=getattr(request, "param", False)) as points:
        yield points


@pytest.fixture
def settings_overrides(tmp_path: Path, ca: Ca) -> dict[str, str]:
    return GOSUSLUGI | {"DOSTUP_LEVELS__ESIGN_TRUSTED_ROOTS": json.dumps([ca.write_root(tmp_path)]),
                        "DOSTUP_LEVELS__ESIGN_REVOCATION__TIMEOUT_SECONDS": str(TIMEOUT),
                        "DOSTUP_LEVELS__ESIGN_REVOCATION__FAILURE_CACHE_SECONDS": str(WINDOW)}


def _sub(ca: Ca) -> Issued:
    assert ca.intermediate is not None
    return ca.intermediate


def _hang(crls: CrlPoints, *, method: str) -> Callable[[Request], Reply]:
    """Requests of ``method`` are answered only after :data:`HANGS` seconds (the CA's host is overloaded); returns
    the server's way of answering before, to mend it."""
    answer = crls.gateway.responder
    assert answer is not None

    def slow(req: Request) -> Reply:
        if req.method == method:
            time.sleep(HANGS)
        return answer(req)

    crls.gateway.responder = slow
    return answer


async def _timed(coro: Any) -> tuple[Any, float]:
    started = time.monotonic()
    result = await coro
    return result, time.monotonic() - started


async def test_during_an_outage_the_503_comes_at_once_until_the_window_passes_and_a_mended_ca_is_seen_after_it(
        services, surface, clock, crls, ca):
    account_id = await customer(services, surface, 931)
    started = await start(surface)
    signature = ca.sign_b64(ca.person(snils=SNILS), started.data["text"].encode())
    mended = _hang(crls, method="GET")

    first, waited = await _timed(sign(surface, started.data["flow_id"], signature))
    assert first.status == 503 and UNAVAILABLE in message(first, surface), (first.status, message(first, surface))
    assert waited >= WAITED  # the signer's list, then the intermediate's: each waited for
    assert (crls.fetches(_sub(ca)), crls.fetches(ca.root)) == (1, 1)

    again, waited = await _timed(sign(surface, started.data["flow_id"], signature))
    assert again.status == 503 and UNAVAILABLE in message(again, surface)
    assert waited < AT_ONCE, waited
    assert (crls.fetches(_sub(ca)), crls.fetches(ca.root)) == (1, 1)  # the server was not asked again

    clock.advance(seconds=WINDOW)  # the window passed: asked again, still down
    later, waited = await _timed(sign(surface, started.data["flow_id"], signature))
    assert later.status == 503 and waited >= WAITED
    assert (crls.fetches(_sub(ca)), crls.fetches(ca.root)) == (2, 2)
    assert (await flow_row(services, started.data["flow_id"])).data["tries"] == 0  # the CA's side: no try spent

    crls.gateway.responder = mended  # the CA is mended: within the window the failure still answers
    assert (await sign(surface, started.data["flow_id"], signature)).status == 503
    assert (crls.fetches(_sub(ca)), crls.fetches(ca.root)) == (2, 2)
    clock.advance(seconds=WINDOW)
    done = await sign(surface, started.data["flow_id"], signature)
    assert done.ok, (done.status, message(done, surface))
    assert (crls.fetches(_sub(ca)), crls.fetches(ca.root)) == (3, 3)
    assert await account_level(services.db, account_id) == 3


@pytest.mark.parametrize("crls", [True], indirect=True, ids=["ocsp"])
async def test_a_responder_that_hangs_is_not_asked_again_about_another_certificate_within_the_window(
        services, client, clock, crls, ca):
    api = ApiSurface(client)
    account_id = await customer(services, api, 932)
    _hang(crls, method="POST")  # the responders hang, the lists answer
    started = await start(api)
    text = started.data["text"].encode()
    other, waited = await _timed(sign(api, started.data["flow_id"],  # refused after the check, for its person
                                      ca.sign_b64(ca.person(snils=SNILS, surname="Иванова"), text)))
    assert other.code == "other_person" and waited >= WAITED, (other.status, other.message, waited)
    assert (crls.asked(_sub(ca)), crls.asked(ca.root), crls.fetches(_sub(ca)), crls.fetches(ca.root)) == (1, 1, 1, 1)

    own, waited = await _timed(sign(api, started.data["flow_id"],  # another certificate: its own question
                                    ca.sign_b64(ca.person(snils=SNILS), text)))
    assert own.ok and waited < AT_ONCE, (own.status, own.message, waited)
    assert (crls.asked(_sub(ca)), crls.asked(ca.root)) == (1, 1)  # the responders were remembered as down
    assert await account_level(services.db, account_id) == 3


def _check(overrides: dict[str, str]) -> SignatureCheck:
    check = configured_check(make_settings(**overrides).levels)
    assert check is not None
    return check


def _signed(ca: Ca) -> tuple[bytes, bytes]:
    content = f"Заявление {time.monotonic_ns()}".encode()
    return content, ca.sign(ca.person(snils=SNILS), content)


async def test_ten_checks_at_once_with_nothing_kept_download_each_list_once(settings_overrides, crls, ca):
    check = _check(settings_overrides)
    crls.gateway.delay = 0.3  # every download takes a while: the checks overlap
    signed = [_signed(ca) for _ in range(10)]
    now = dt.datetime.now(dt.UTC)
    signers = await asyncio.gather(*(check.check(content, signature, now) for content, signature in signed))
    assert [s.revocation for s in signers] == ["good"] * 10
    assert (crls.fetches(_sub(ca)), crls.fetches(ca.root)) == (1, 1)


async def test_ten_checks_at_once_during_an_outage_share_one_failure(settings_overrides, crls, ca):
    check = _check(settings_overrides)
    _hang(crls, method="GET")
    now = dt.datetime.now(dt.UTC)
    outcomes = await asyncio.gather(*(check.check(*_signed(ca), now) for _ in range(10)), return_exceptions=True)
    assert all(isinstance(o, ServiceUnavailable) and o.code == "revocation_unavailable" for o in outcomes), outcomes
    assert (crls.fetches(_sub(ca)), crls.fetches(ca.root)) == (1, 1)


async def test_a_cancelled_first_check_takes_nobodys_download_with_it(settings_overrides, crls, ca):
    check = _check(settings_overrides)
    crls.gateway.delay = 0.5
    now = dt.datetime.now(dt.UTC)
    signed = [_signed(ca) for _ in range(5)]
    first = asyncio.create_task(check.check(*signed[0], now))
    await asyncio.to_thread(crls.gateway.wait_for, 1)  # its download of the signer's list is under way
    others = [asyncio.create_task(check.check(*one, now)) for one in signed[1:4]]
    await asyncio.sleep(0.1)  # they wait for the same download
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    signers = await asyncio.gather(*others)
    assert [s.revocation for s in signers] == ["good"] * 3
    assert (crls.fetches(_sub(ca)), crls.fetches(ca.root)) == (1, 1)
    assert (await check.check(*signed[4], now)).revocation == "good"  # what the download brought is kept
    assert (crls.fetches(_sub(ca)), crls.fetches(ca.root)) == (1, 1)


async def test_a_check_cancelled_during_an_outage_leaves_the_failure_remembered_for_the_next(settings_overrides,
                                                                                             crls, ca):
    check = _check(settings_overrides)
    _hang(crls, method="GET")
    now = dt.datetime.now(dt.UTC)
    first = asyncio.create_task(check.check(*_signed(ca), now))
    await asyncio.to_thread(crls.gateway.wait_for, 1)
    first.cancel()  # its caller went away; the download goes on and fails at the timeout
    with pytest.raises(asyncio.CancelledError):
        await first
    with pytest.raises(ServiceUnavailable):
        await check.check(*_signed(ca), now)  # waited for the same download of the signer's list, then the root's
    started = time.monotonic()
    with pytest.raises(ServiceUnavailable):
        await check.check(*_signed(ca), now)
    assert time.monotonic() - started < AT_ONCE
    assert (crls.fetches(_sub(ca)), crls.fetches(ca.root)) == (1, 1)


async def test_with_the_window_zero_a_failed_list_is_asked_for_again(settings_overrides, crls, ca):
    check = _check(settings_overrides | {"DOSTUP_LEVELS__ESIGN_REVOCATION__FAILURE_CACHE_SECONDS": "0"})
    crls.replies[ca.point(_sub(ca))] = Reply(503, b"", "text/plain")
    now = dt.datetime.now(dt.UTC)
    for _ in range(2):
        with pytest.raises(ServiceUnavailable):
            await check.check(*_signed(ca), now)
    assert crls.fetches(_sub(ca)) == 2
