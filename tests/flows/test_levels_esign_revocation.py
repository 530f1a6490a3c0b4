"""Revocation in the built-in e-signature check (SPEC §4.8; RFC 5280 §6.3): the signer's certificate and the
intermediate name CRL distribution points that a real HTTP server on 127.0.0.1 answers with lists signed by the
test CA (``cryptography``'s CRL builder); the check downloads them over HTTP, nothing mocked.  On both backends
and, where the customer sees the answer, both surfaces: a revoked certificate is its own 422 and event; a list
that cannot be had or used is 503 and spends no try (strict), or is accepted and recorded (soft-fail); a huge
list is cut off; a list is downloaded once until its ``nextUpdate``."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select

from dostup.accounts.levels import account_level
from dostup.persistence.models import SecurityEvent
from dostup.selfservice.verification.esign.revocation import StatusUnavailable
from dostup.selfservice.verification.esign.status_http import HttpStatusSource
from dostup.settings import SettingsError
from tests.courier.conftest import Gateway, Reply
from tests.flows.esign_support import DAY, NOW, Ca, CrlPoints, ca_fixture, crls_fixture  # noqa: F401 - the fixtures
from tests.flows.levels_support import GOSUSLUGI, SNILS
from tests.flows.test_levels_esign import customer, flow_row, message, sign, start
from tests.support import ApiSurface, make_settings

MAX_BYTES = 4096  # the lists here are under 1 KB
FAILED_KEPT = 30  # seconds a failed list or responder is not asked again
REVOKED = "Сертификат подписи отозван"
UNAVAILABLE = "Не удалось проверить, не отозван ли сертификат подписи"


@pytest.fixture
def mode() -> str:
    return "strict"


@pytest.fixture
def ocsp_on() -> str:
    return "true"


@pytest.fixture
def settings_overrides(tmp_path: Path, ca: Ca, mode: str, ocsp_on: str) -> dict[str, str]:
    return GOSUSLUGI | {"DOSTUP_LEVELS__ESIGN_TRUSTED_ROOTS": json.dumps([ca.write_root(tmp_path)]),
                        "DOSTUP_LEVELS__ESIGN_REVOCATION__MODE": mode,
                        "DOSTUP_LEVELS__ESIGN_REVOCATION__OCSP": ocsp_on,
                        "DOSTUP_LEVELS__ESIGN_REVOCATION__MAX_BYTES": str(MAX_BYTES),
                        "DOSTUP_LEVELS__ESIGN_REVOCATION__CACHE_SECONDS": "3600",
                        "DOSTUP_LEVELS__ESIGN_REVOCATION__FAILURE_CACHE_SECONDS": str(FAILED_KEPT),
                        "DOSTUP_LEVELS__ESIGN_REVOCATION__TIMEOUT_SECONDS": "2"}


async def details(services: Any, account_id: str, kind: str) -> list[dict[str, Any]]:
    async with services.db.read() as s:
        found = await s.execute(select(SecurityEvent.detail).where(SecurityEvent.account_id == account_id,
                                                                    SecurityEvent.kind == kind))
        return [dict(d) for d in found.scalars()]


async def signed_by(surface: Any, ca: Ca, **person: Any) -> Any:
    """A new statement, signed with a new certificate of the profile's person."""
    started = await start(surface)
    signer = ca.person(snils=SNILS, **person)
    return started, await sign(surface, started.data["flow_id"], ca.sign_b64(signer, started.data["text"].encode()))


async def test_a_certificate_on_no_current_list_is_confirmed_after_both_lists_were_read(services, surface, crls, ca):
    account_id = await customer(services, surface, 901)
    _, done = await signed_by(surface, ca)
    assert done.ok, (done.status, message(done, surface))
    assert await account_level(services.db, account_id) == 3
    assert ca.intermediate is not None
    assert (crls.fetches(ca.intermediate), crls.fetches(ca.root)) == (1, 1)  # the signer's list, the intermediate's
    [event] = await details(services, account_id, "esign_confirmed")
    assert event["revocation"] == "good"


@pytest.mark.parametrize("whose", ["signer", "intermediate"])
async def test_a_revoked_certificate_is_refused_with_its_message_and_event(services, surface, ca, whose):
    account_id = await customer(services, surface, 902)
    started = await start(surface)
    signer = ca.person(snils=SNILS)
    assert ca.intermediate is not None
    ca.revoked.add((signer if whose == "signer" else ca.intermediate).cert.serial_number)
    r = await sign(surface, started.data["flow_id"], ca.sign_b64(signer, started.data["text"].encode()))
    assert r.status == 422 and REVOKED in message(r, surface), (r.status, message(r, surface))
    if isinstance(surface, ApiSurface):
        assert (r.code, r.field) == ("signature_revoked", "signature")
    assert await account_level(services.db, account_id) == 2
    assert (await flow_row(services, started.data["flow_id"])).data["tries"] == 1
    [event] = await details(services, account_id, "esign_refused")
    assert event["reason"] == "signature_revoked" and event["verifier"] == "builtin"


def _stale(crls: CrlPoints) -> Reply:
    assert crls.ca.intermediate is not None
    return Reply(200, crls.ca.crl(crls.ca.intermediate, this_update=NOW - 8 * DAY, next_update=NOW - DAY / 24),
                 "application/pkix-crl")


def _wrong_key(crls: CrlPoints) -> Reply:
    assert crls.ca.intermediate is not None
    return Reply(200, crls.ca.crl(crls.ca.intermediate, key=ec.generate_private_key(ec.SECP256R1())),
                 "application/pkix-crl")


def _ahead(crls: CrlPoints) -> Reply:
    assert crls.ca.intermediate is not None
    return Reply(200, crls.ca.crl(crls.ca.intermediate, this_update=NOW + DAY, next_update=NOW + 8 * DAY),
                 "application/pkix-crl")


def _roots_list(crls: CrlPoints) -> Reply:  # a list, validly signed, but by another CA (the root)
    return Reply(200, crls.ca.crl(crls.ca.root), "application/pkix-crl")


# what is wrong with the list, and what the operator's log says
BROKEN: dict[str, tuple[Callable[[CrlPoints], Reply], str]] = {
    "stale": (_stale, "stale: nextUpdate"),
    "wrong_key": (_wrong_key, "not signed by the issuing CA's key"),
    "this_update_ahead": (_ahead, "is ahead"),
    "another_issuers": (_roots_list, "issued under another name"),
    "huge": (lambda crls: Reply(200, b"\x30" * (MAX_BYTES * 256), "application/pkix-crl"),
             f"{MAX_BYTES * 256} bytes, more than the {MAX_BYTES} allowed"),
    "not_a_crl": (lambda crls: Reply(200, "<html>Сайт на обслуживании</html>", "text/html"), "not a CRL"),
    "404": (lambda crls: Reply(404, b"", "text/plain"), "answered 404"),
    "500": (lambda crls: Reply(500, b"", "text/plain"), "answered 500"),
}


@pytest.mark.parametrize("broken", list(BROKEN))
async def test_a_list_that_cannot_be_used_is_503_spends_no_try_and_the_statement_stays_usable(
        services, surface, clock, crls, ca, broken, caplog):
    account_id = await customer(services, surface, 903)
    started = await start(surface)
    signature = ca.sign_b64(ca.person(snils=SNILS), started.data["text"].encode())
    assert ca.intermediate is not None
    reply, logged = BROKEN[broken]
    crls.replies[ca.point(ca.intermediate)] = reply(crls)
    with caplog.at_level(logging.WARNING, "dostup.selfservice.verification.esign.revocation"):
        r = await sign(surface, started.data["flow_id"], signature)
    assert r.status == 503 and UNAVAILABLE in message(r, surface), (r.status, message(r, surface))
    assert f"CRL {ca.point(ca.intermediate)} unusable: " in caplog.text and logged in caplog.text, caplog.text
    if isinstance(surface, ApiSurface):
        assert r.code == "revocation_unavailable" and "retry-after" in r.headers
    flow = await flow_row(services, started.data["flow_id"])
    assert (flow.state, flow.data["tries"]) == ("started", 0)  # the CA's side, not the customer's: no try counted
    assert await account_level(services.db, account_id) == 2
    del crls.replies[ca.point(ca.intermediate)]  # the CA mends its list: the same signature passes once the
    clock.advance(seconds=FAILED_KEPT)  # failure is no longer remembered
    assert (await sign(surface, started.data["flow_id"], signature)).ok
    assert await account_level(services.db, account_id) == 3


@pytest.mark.parametrize("mode", ["strict", "soft_fail"])
async def test_an_unreachable_list_is_refused_when_strict_and_accepted_and_recorded_when_soft(
        services, surface, crls, ca, mode):
    account_id = await customer(services, surface, 904)
    crls.close()  # nothing listens at the distribution points any more
    _, r = await signed_by(surface, ca)
    if mode == "strict":
        assert r.status == 503 and UNAVAILABLE in message(r, surface)
        assert await account_level(services.db, account_id) == 2
    else:
        assert r.ok, (r.status, message(r, surface))
        assert await account_level(services.db, account_id) == 3
        [event] = await details(services, account_id, "esign_confirmed")
        assert event["revocation"] == "unknown"


@pytest.mark.parametrize("mode", ["strict", "soft_fail"])
@pytest.mark.parametrize("points", [[], ["ldap://ldap.example/cn=CA?certificateRevocationList"]], ids=["none", "ldap"])
async def test_a_certificate_naming_no_http_list_is_refused_when_strict(services, surface, ca, mode, points):
    account_id = await customer(services, surface, 905)
    started, r = await signed_by(surface, ca, points=points)
    if mode == "strict":
        assert r.status == 422 and "не указано, где проверить, не отозван ли он" in message(r, surface)
        if isinstance(surface, ApiSurface):
            assert r.code == "signature_revocation_unknown"
        assert (await flow_row(services, started.data["flow_id"])).data["tries"] == 1
        [event] = await details(services, account_id, "esign_refused")
        assert event["reason"] == "signature_revocation_unknown"
    else:
        assert r.ok and await account_level(services.db, account_id) == 3


async def test_when_one_distribution_point_is_down_the_next_one_is_read(services, client, ca):
    api = ApiSurface(client)
    await customer(services, api, 906)
    dead = Gateway()  # bound, not listening: connections refused
    try:
        started = await start(api)
        signer = ca.person(snils=SNILS, points=[dead.url + "/gone.crl", ca.point(ca.issuer)])
        ca.revoked.add(signer.cert.serial_number)
        r = await sign(api, started.data["flow_id"], ca.sign_b64(signer, started.data["text"].encode()))
    finally:
        dead.close()
    assert r.status == 422 and r.code == "signature_revoked"  # the second point answered


@pytest.mark.parametrize("mode", ["soft_fail"])
async def test_soft_fail_still_refuses_a_revoked_intermediate_when_the_signers_list_is_down(
        services, client, crls, ca, mode):
    api = ApiSurface(client)
    account_id = await customer(services, api, 907)
    assert ca.intermediate is not None
    crls.replies[ca.point(ca.intermediate)] = Reply(503, b"", "text/plain")
    ca.revoked.add(ca.intermediate.cert.serial_number)
    _, r = await signed_by(api, ca)
    assert r.status == 422 and r.code == "signature_revoked"
    assert await account_level(services.db, account_id) == 2


async def test_a_list_is_read_once_until_its_next_update_and_a_later_revocation_is_seen(services, client, clock, crls,
                                                                                        ca):
    api = ApiSurface(client)
    account_id = await customer(services, api, 908)
    assert ca.intermediate is not None
    soon = clock.now().replace(tzinfo=dt.UTC) + dt.timedelta(minutes=10)
    crls.replies[ca.point(ca.intermediate)] = Reply(200, ca.crl(ca.intermediate, next_update=soon),
                                                     "application/pkix-crl")
    first = await start(api)
    signer = ca.person(snils=SNILS, surname="Иванова")  # another person: refused after the check, try after try
    for _ in range(3):
        r = await sign(api, first.data["flow_id"], ca.sign_b64(signer, first.data["text"].encode()))
        assert r.code == "other_person"
    assert (crls.fetches(ca.intermediate), crls.fetches(ca.root)) == (1, 1)  # the second and third: none
    own = ca.person(snils=SNILS)
    ca.revoked.add(own.cert.serial_number)
    del crls.replies[ca.point(ca.intermediate)]  # the CA's next list names it
    clock.advance(minutes=11)  # past the kept list's nextUpdate (the root's is kept for an hour)
    r = await sign(api, first.data["flow_id"], ca.sign_b64(own, first.data["text"].encode()))
    assert r.code == "signature_revoked"
    assert (crls.fetches(ca.intermediate), crls.fetches(ca.root)) == (2, 1)
    assert await account_level(services.db, account_id) == 2


async def test_a_list_served_as_pem_is_read_too(services, client, crls, ca):
    api = ApiSurface(client)
    account_id = await customer(services, api, 909)
    assert ca.intermediate is not None
    pem = x509.load_der_x509_crl(ca.crl(ca.intermediate)).public_bytes(serialization.Encoding.PEM)
    crls.replies[ca.point(ca.intermediate)] = Reply(200, pem, "application/x-pem-file")
    _, r = await signed_by(api, ca)
    assert r.ok and await account_level(services.db, account_id) == 3


class _Trickle(BaseHTTPRequestHandler):
    """Answers with no ``Content-Length`` (the body ends when the connection does): ``path`` ``/big`` sends
    1 MB at once, ``/slow`` a byte every 50 ms for ever."""

    protocol_version = "HTTP/1.0"

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.send_response(200)
        self.send_header("Content-Type", "application/pkix-crl")
        self.end_headers()
        try:
            if self.path == "/big":
                self.wfile.write(b"\x30" * 1024 * 1024)
            else:
                while True:
                    self.wfile.write(b"\x30")
                    self.wfile.flush()
                    time.sleep(0.05)
        except OSError:
            pass  # the client hung up: what the test wants

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's signature
        pass


@pytest.fixture
def trickle() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Trickle)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_body_without_a_length_is_cut_off_at_the_limit_and_a_trickle_at_the_deadline(trickle):
    source = HttpStatusSource(timeout=0.5, max_bytes=MAX_BYTES)
    with pytest.raises(StatusUnavailable, match=f"more than the {MAX_BYTES} bytes allowed"):
        asyncio.run(source.fetch(trickle + "/big"))
    started = time.monotonic()
    with pytest.raises(StatusUnavailable, match="no answer within 0.5 s"):
        asyncio.run(source.fetch(trickle + "/slow"))  # each byte is in time; the whole is not
    assert time.monotonic() - started < 2
    with pytest.raises(StatusUnavailable, match="not an http:// URL"):
        asyncio.run(source.fetch("ftp://127.0.0.1/x.crl"))


@pytest.mark.parametrize(("name", "value", "says"), [
    ("MODE", "lenient", "DOSTUP_LEVELS__ESIGN_REVOCATION__MODE"),
    ("TIMEOUT_SECONDS", "0", "DOSTUP_LEVELS__ESIGN_REVOCATION__TIMEOUT_SECONDS"),
    ("TIMEOUT_SECONDS", "61", "DOSTUP_LEVELS__ESIGN_REVOCATION__TIMEOUT_SECONDS"),
    ("MAX_BYTES", "100", "DOSTUP_LEVELS__ESIGN_REVOCATION__MAX_BYTES"),
    ("MAX_BYTES", "much", "DOSTUP_LEVELS__ESIGN_REVOCATION__MAX_BYTES"),
    ("CACHE_SECONDS", "-1", "DOSTUP_LEVELS__ESIGN_REVOCATION__CACHE_SECONDS"),
    ("CACHE_SECONDS", str(8 * 86400), "DOSTUP_LEVELS__ESIGN_REVOCATION__CACHE_SECONDS"),
    ("FAILURE_CACHE_SECONDS", "-1", "DOSTUP_LEVELS__ESIGN_REVOCATION__FAILURE_CACHE_SECONDS"),
    ("FAILURE_CACHE_SECONDS", "601", "DOSTUP_LEVELS__ESIGN_REVOCATION__FAILURE_CACHE_SECONDS"),
])
def test_revocation_settings_out_of_bounds_stop_the_start_naming_the_variable(name, value, says):
    with pytest.raises(SettingsError, match=says):
        make_settings(**{f"DOSTUP_LEVELS__ESIGN_REVOCATION__{name}": value})


def test_strict_is_the_default_in_every_mode():
    assert make_settings().levels.esign_revocation.mode == "strict"
    assert make_settings(DOSTUP_LEVELS__ESIGN_REVOCATION__MODE="soft_fail").levels.esign_revocation.mode == "soft_fail"
