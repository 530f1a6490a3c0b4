"""OCSP before the CRL in the built-in e-signature check (RFC 6960; :mod:`dostup.selfservice.verification.esign.ocsp`):
the test CA's certificates name an OCSP responder as well as a distribution point, both on a real HTTP server on
127.0.0.1, the responder's answers built and signed with ``cryptography``'s OCSP builder.  A usable answer is
enough (no list is read); an answer that cannot be used — not signed by the CA or a responder it authorised,
stale, «unknown», not an answer at all — sends the check to the CRL; with neither it is 503."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterator

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.x509 import ocsp

from dostup.accounts.levels import account_level
from tests.courier.conftest import Reply
from tests.flows.esign_support import DAY, NOW, Ca, CrlPoints, Issued, ca_fixture  # noqa: F401 - the fixture ca
from tests.flows.levels_support import SNILS
from tests.flows.test_levels_esign import customer, message, sign, start
from tests.flows.test_levels_esign_revocation import (  # noqa: F401 - the fixtures mode, ocsp_on, settings_overrides
    REVOKED,
    UNAVAILABLE,
    details,
    mode,
    ocsp_on,
    settings_overrides,
    signed_by,
)
from tests.support import ApiSurface


@pytest.fixture
def crls() -> Iterator[CrlPoints]:
    with CrlPoints(ocsp=True) as points:
        yield points


def _sub(ca: Ca) -> Issued:
    assert ca.intermediate is not None
    return ca.intermediate


async def test_the_responders_answers_are_enough_and_no_list_is_read(services, surface, crls, ca):
    account_id = await customer(services, surface, 921)
    _, done = await signed_by(surface, ca)
    assert done.ok, (done.status, message(done, surface))
    assert await account_level(services.db, account_id) == 3
    assert (crls.asked(_sub(ca)), crls.asked(ca.root)) == (1, 1)  # the signer's and the intermediate's status
    assert (crls.fetches(_sub(ca)), crls.fetches(ca.root)) == (0, 0)
    [event] = await details(services, account_id, "esign_confirmed")
    assert event["revocation"] == "good"


@pytest.mark.parametrize("whose", ["signer", "intermediate"])
async def test_a_certificate_its_responder_calls_revoked_is_refused(services, surface, crls, ca, whose):
    account_id = await customer(services, surface, 922)
    for issuer in (ca.root, _sub(ca)):  # the lists are down: the answer is the responder's alone
        crls.replies[ca.point(issuer)] = Reply(404, b"", "text/plain")
    started = await start(surface)
    signer = ca.person(snils=SNILS)
    ca.revoked.add((signer if whose == "signer" else _sub(ca)).cert.serial_number)
    r = await sign(surface, started.data["flow_id"], ca.sign_b64(signer, started.data["text"].encode()))
    assert r.status == 422 and REVOKED in message(r, surface), (r.status, message(r, surface))
    if isinstance(surface, ApiSurface):
        assert r.code == "signature_revoked"
    assert await account_level(services.db, account_id) == 2


def _by_stranger(ca: Ca) -> Callable[[Issued, bytes], bytes]:
    stranger = Ca("Чужой УЦ").root
    return lambda issuer, body: ca.ocsp_answer(issuer, body, signer=stranger)


def _by_unauthorised(ca: Ca) -> Callable[[Issued, bytes], bytes]:  # issued by the CA, but not for OCSP signing
    return lambda issuer, body: ca.ocsp_answer(issuer, body, signer=ca.delegate(issuer, ocsp_signing=False))


def _stale(ca: Ca) -> Callable[[Issued, bytes], bytes]:
    return lambda issuer, body: ca.ocsp_answer(issuer, body, next_update=NOW - DAY / 48)


def _unknown(ca: Ca) -> Callable[[Issued, bytes], bytes]:
    return lambda issuer, body: ca.ocsp_answer(issuer, body, status=ocsp.OCSPCertStatus.UNKNOWN)


def _unsuccessful(ca: Ca) -> Callable[[Issued, bytes], bytes]:
    return lambda issuer, body: ocsp.OCSPResponseBuilder.build_unsuccessful(
        ocsp.OCSPResponseStatus.TRY_LATER).public_bytes(serialization.Encoding.DER)


def _garbage(ca: Ca) -> Callable[[Issued, bytes], bytes]:
    return lambda issuer, body: b"<html>maintenance</html>"


# a useless answer, and what the operator's log says
USELESS: dict[str, tuple[Callable[[Ca], Callable[[Issued, bytes], bytes]], str]] = {
    "another_key": (_by_stranger, "not signed by the issuing CA or a responder it authorised"),
    "unauthorised_responder": (_by_unauthorised, "not signed by the issuing CA or a responder it authorised"),
    "stale": (_stale, "stale"),
    "unknown": (_unknown, "does not know the certificate"),
    "try_later": (_unsuccessful, "status TRY_LATER"),
    "not_ocsp": (_garbage, "not an OCSP response"),
}


@pytest.mark.parametrize("useless", list(USELESS))
async def test_a_useless_answer_sends_the_check_to_the_list(services, client, crls, ca, useless, caplog):
    api = ApiSurface(client)
    account_id = await customer(services, api, 923)
    make, logged = USELESS[useless]
    crls.answer = make(ca)
    with caplog.at_level(logging.WARNING, "dostup.selfservice.verification.esign.revocation"):
        _, done = await signed_by(api, ca)
    assert done.ok, (done.status, done.message)
    assert await account_level(services.db, account_id) == 3
    assert (crls.fetches(_sub(ca)), crls.fetches(ca.root)) == (1, 1)
    assert "OCSP for the certificate" in caplog.text and logged in caplog.text, caplog.text


async def test_a_responder_the_ca_authorised_may_answer_for_it(services, client, crls, ca):
    api = ApiSurface(client)
    await customer(services, api, 924)
    delegates = {ca.root.cert.serial_number: ca.delegate(ca.root), _sub(ca).cert.serial_number: ca.delegate(_sub(ca))}
    crls.answer = lambda issuer, body: ca.ocsp_answer(issuer, body, signer=delegates[issuer.cert.serial_number])
    _, done = await signed_by(api, ca)
    assert done.ok, done.message
    assert (crls.asked(_sub(ca)), crls.fetches(_sub(ca))) == (1, 0)


async def test_with_the_responder_and_the_list_down_it_is_503(services, client, crls, ca):
    api = ApiSurface(client)
    await customer(services, api, 925)
    crls.replies[ca.responder(_sub(ca))] = Reply(503, b"", "text/plain")
    crls.replies[ca.point(_sub(ca))] = Reply(404, b"", "text/plain")
    _, r = await signed_by(api, ca)
    assert r.status == 503 and UNAVAILABLE in r.message and r.code == "revocation_unavailable"


async def test_an_answer_is_kept_until_its_next_update(services, client, clock, crls, ca):
    api = ApiSurface(client)
    await customer(services, api, 926)
    soon = clock.now().replace(tzinfo=dt.UTC) + dt.timedelta(minutes=10)
    crls.answer = lambda issuer, body: ca.ocsp_answer(issuer, body, next_update=soon if issuer is ca.intermediate
                                                      else None)
    started = await start(api)
    signer = ca.person(snils=SNILS, surname="Иванова")  # another person: refused after the check
    for _ in range(2):
        r = await sign(api, started.data["flow_id"], ca.sign_b64(signer, started.data["text"].encode()))
        assert r.code == "other_person"
    assert (crls.asked(_sub(ca)), crls.asked(ca.root)) == (1, 1)
    clock.advance(minutes=11)  # past the signer's answer's nextUpdate; the intermediate's is kept an hour
    r = await sign(api, started.data["flow_id"], ca.sign_b64(signer, started.data["text"].encode()))
    assert r.code == "other_person"
    assert (crls.asked(_sub(ca)), crls.asked(ca.root)) == (2, 1)


@pytest.mark.parametrize("ocsp_on", ["false"])
async def test_with_ocsp_off_only_the_lists_are_read(services, client, crls, ca):
    api = ApiSurface(client)
    await customer(services, api, 927)
    _, done = await signed_by(api, ca)
    assert done.ok, done.message
    assert (crls.asked(_sub(ca)), crls.asked(ca.root), crls.fetches(_sub(ca)), crls.fetches(ca.root)) == (0, 0, 1, 1)
