"""Which CRLs and OCSP answers the built-in e-signature check uses (``dostup.selfservice.verification.esign``'s
``revocation`` and ``ocsp``; RFC 5280 §5, §6.3.3, RFC 6960), with real lists and answers made by ``cryptography``'s
builders and no network: only a complete, current list of the issuing CA, meant for this kind of certificate and
this distribution point; only a current answer about this very certificate; and which distribution points and
responders count.  Downloading, caching and the customer's answers: ``tests/flows/test_levels_esign_revocation.py``
and ``test_levels_esign_ocsp.py``."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID

from dostup.selfservice.verification.esign.ocsp import answered, responders
from dostup.selfservice.verification.esign.revocation import StatusUnavailable, distribution_points, usable_crl
from tests.flows.esign_support import DAY, NOW, Ca

URL = "http://crl.example/sub.crl"


@pytest.fixture(scope="module")
def ca() -> Ca:
    return Ca().with_intermediate()


def _crl(ca: Ca, *extensions: tuple[Any, bool]) -> bytes:
    assert ca.intermediate is not None
    builder = (x509.CertificateRevocationListBuilder().issuer_name(ca.intermediate.cert.subject)
               .last_update(NOW - DAY).next_update(NOW + DAY))
    for value, critical in extensions:
        builder = builder.add_extension(value, critical=critical)
    return builder.sign(ca.intermediate.key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def _use(ca: Ca, raw: bytes, *, for_ca: bool = False, url: str = URL) -> x509.CertificateRevocationList:
    assert ca.intermediate is not None
    return usable_crl(raw, url=url, issuer=ca.intermediate.cert, for_ca=for_ca, now=NOW)


def _idp(**kw: Any) -> x509.IssuingDistributionPoint:
    fields = {"full_name": None, "relative_name": None, "only_contains_user_certs": False,
              "only_contains_ca_certs": False, "only_some_reasons": None, "indirect_crl": False,
              "only_contains_attribute_certs": False}
    return x509.IssuingDistributionPoint(**(fields | kw))


def test_a_complete_current_list_of_the_issuer_is_used(ca):
    assert _use(ca, _crl(ca)).issuer == ca.intermediate.cert.subject  # type: ignore[union-attr]
    own_point = _idp(full_name=[x509.UniformResourceIdentifier(URL)], only_contains_user_certs=True)
    assert _use(ca, _crl(ca, (own_point, True))) is not None
    assert _use(ca, _crl(ca, (x509.CRLNumber(7), False))) is not None


@pytest.mark.parametrize(("extension", "for_ca", "why"), [
    (x509.DeltaCRLIndicator(6), False, "a delta CRL"),
    (_idp(indirect_crl=True), False, "indirect or partial"),
    (_idp(only_some_reasons=frozenset({x509.ReasonFlags.key_compromise})), False, "indirect or partial"),
    (_idp(only_contains_user_certs=True), True, "another kind of certificate"),
    (_idp(only_contains_ca_certs=True), False, "another kind of certificate"),
    (_idp(full_name=[x509.UniformResourceIdentifier("http://crl.example/part2.crl")]), False,
     "another distribution point"),
    (x509.UnrecognizedExtension(x509.ObjectIdentifier("1.2.3.4.5"), b"\x05\x00"), False,
     "unknown critical extension 1.2.3.4.5"),
], ids=["delta", "indirect", "some_reasons", "users_only", "cas_only", "partition", "unknown_critical"])
def test_a_list_that_is_not_the_whole_list_for_this_certificate_is_not_used(ca, extension, for_ca, why):
    with pytest.raises(StatusUnavailable, match=why):
        _use(ca, _crl(ca, (extension, True)), for_ca=for_ca)


def test_an_issuer_whose_key_usage_lacks_crl_sign_cannot_sign_a_list(ca):
    no_crl_sign = ca.person(snils=None, usage={"key_cert_sign": True})  # a stand-in issuer: the names and key
    builder = (x509.CertificateRevocationListBuilder().issuer_name(no_crl_sign.cert.subject)
               .last_update(NOW - DAY).next_update(NOW + DAY))
    raw = builder.sign(no_crl_sign.key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)
    with pytest.raises(StatusUnavailable, match="no cRLSign"):
        usable_crl(raw, url=URL, issuer=no_crl_sign.cert, for_ca=False, now=NOW)


def test_only_complete_lists_at_http_points_count():
    def cert_with(*points: x509.DistributionPoint) -> x509.Certificate:
        ca = Ca()
        person = ca.person(snils=None, points=[])
        key = person.key
        builder = (x509.CertificateBuilder().subject_name(person.cert.subject).issuer_name(ca.root.cert.subject)
                   .public_key(key.public_key()).serial_number(1).not_valid_before(NOW - DAY)
                   .not_valid_after(NOW + DAY).add_extension(x509.CRLDistributionPoints(list(points)), critical=False))
        return builder.sign(ca.root.key, hashes.SHA256())

    def point(url: str, **kw: Any) -> x509.DistributionPoint:
        return x509.DistributionPoint([x509.UniformResourceIdentifier(url)], None, kw.get("reasons"),
                                      kw.get("crl_issuer"))

    mixed = cert_with(point("ldap://ldap.example/cn=CA"), point("https://crl.example/a.crl"),
                      point("http://crl.example/some.crl", reasons=frozenset({x509.ReasonFlags.key_compromise})),
                      point("http://crl.example/other.crl", crl_issuer=[x509.DNSName("other.example")]),
                      point("HTTP://crl.example/whole.crl"), point("http://mirror.example/whole.crl"))
    assert distribution_points(mixed) == ["HTTP://crl.example/whole.crl", "http://mirror.example/whole.crl"]


def test_a_list_stamped_a_little_ahead_of_our_clock_is_current_but_not_a_day_ahead(ca):
    assert ca.intermediate is not None
    for ahead, ok in ((dt.timedelta(minutes=3), True), (dt.timedelta(minutes=10), False)):
        raw = ca.crl(ca.intermediate, this_update=NOW + ahead, next_update=NOW + DAY)
        if ok:
            assert _use(ca, raw) is not None
        else:
            with pytest.raises(StatusUnavailable, match="is ahead"):
                _use(ca, raw)


CERT_ID = hashes.SHA1()  # noqa: S303 - an OCSP CertID's hash names the certificate; it signs nothing


def _question(ca: Ca, about: Any) -> ocsp.OCSPRequest:
    assert ca.intermediate is not None
    return ocsp.OCSPRequestBuilder().add_certificate(about.cert, ca.intermediate.cert, CERT_ID).build()


def _answer(ca: Ca, about: Any, *, this_update: dt.datetime, next_update: dt.datetime | None) -> bytes:
    assert ca.intermediate is not None
    return (ocsp.OCSPResponseBuilder()
            .add_response(about.cert, ca.intermediate.cert, CERT_ID, ocsp.OCSPCertStatus.GOOD, this_update,
                          next_update, None, None)
            .responder_id(ocsp.OCSPResponderEncoding.HASH, ca.intermediate.cert)
            .sign(ca.intermediate.key, hashes.SHA256()).public_bytes(serialization.Encoding.DER))


def test_an_ocsp_answer_about_another_certificate_or_too_old_is_none(ca):
    assert ca.intermediate is not None
    mine, other = ca.person(snils=None), ca.person(snils=None)
    issuer = ca.intermediate.cert
    ok = answered(_answer(ca, mine, this_update=NOW - DAY / 24, next_update=NOW + DAY),
                  request=_question(ca, mine), issuer=issuer, now=NOW)
    assert ok.certificate_status == ocsp.OCSPCertStatus.GOOD
    with pytest.raises(StatusUnavailable, match="no answer about this certificate"):
        answered(_answer(ca, other, this_update=NOW - DAY / 24, next_update=NOW + DAY),
                 request=_question(ca, mine), issuer=issuer, now=NOW)
    fresh = _answer(ca, mine, this_update=NOW - dt.timedelta(minutes=10), next_update=None)  # "always newer"
    assert answered(fresh, request=_question(ca, mine), issuer=issuer, now=NOW) is not None
    with pytest.raises(StatusUnavailable, match="stale"):
        answered(_answer(ca, mine, this_update=NOW - dt.timedelta(hours=2), next_update=None),
                 request=_question(ca, mine), issuer=issuer, now=NOW)


def test_only_http_ocsp_responders_count():
    ca = Ca()
    key = ca.person(snils=None).key

    def access(method: x509.ObjectIdentifier, url: str) -> x509.AccessDescription:
        return x509.AccessDescription(method, x509.UniformResourceIdentifier(url))

    cert = (x509.CertificateBuilder().subject_name(ca.root.cert.subject).issuer_name(ca.root.cert.subject)
            .public_key(key.public_key()).serial_number(2).not_valid_before(NOW - DAY).not_valid_after(NOW + DAY)
            .add_extension(x509.AuthorityInformationAccess([
                access(AuthorityInformationAccessOID.CA_ISSUERS, "http://ca.example/ca.crt"),
                access(AuthorityInformationAccessOID.OCSP, "https://ocsp.example/"),
                access(AuthorityInformationAccessOID.OCSP, "http://ocsp.example/ocsp")]), critical=False)
            .sign(ca.root.key, hashes.SHA256()))
    assert responders(cert) == ["http://ocsp.example/ocsp"]
