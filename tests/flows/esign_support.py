"""Real certificates and real CMS signatures for the e-signature tests: a CA made with ``cryptography``'s x509
builder, personal certificates carrying the SNILS (1.2.643.100.3, NumericString), surname and «Имя Отчество»
as Russian qualified certificates do, and detached DER signatures from ``PKCS7SignatureBuilder``.  With
:class:`CrlPoints` the certificates name CRL distribution points that a real local HTTP server answers with
the issuer's signed list (``cryptography``'s CRL builder) of the serials the test revoked."""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509 import ocsp
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

from tests.courier.conftest import Gateway, Reply, Request

SNILS_OID = x509.ObjectIdentifier("1.2.643.100.3")
NOW = dt.datetime.now(dt.UTC)
YEAR = dt.timedelta(days=365)
DAY = dt.timedelta(days=1)


@dataclass
class Issued:
    cert: x509.Certificate
    key: Any

    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)


@dataclass
class Ca:
    """A root CA, optionally with an intermediate that issues the personal certificates."""

    name: str = "Тестовый УЦ"
    crl_url: str | None = None  # where the distribution points are (None: the certificates name none)
    ocsp_url: str | None = None  # where the OCSP responders are (None: the certificates name none)
    revoked: set[int] = field(default_factory=set)  # serial numbers on their issuer's list
    root: Issued = field(init=False)
    issuer: Issued = field(init=False)
    intermediate: Issued | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, self.name)])
        cert = (_base(subject, subject, key.public_key(), NOW - YEAR, NOW + 5 * YEAR)
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .add_extension(_usage(key_cert_sign=True, crl_sign=True), critical=True)
                .sign(key, hashes.SHA256()))
        self.root = self.issuer = Issued(cert, key)

    def with_intermediate(self) -> Ca:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, self.name + " (подчинённый)")])
        cert = (self._pointed(_base(subject, self.root.cert.subject, key.public_key(), NOW - YEAR, NOW + 4 * YEAR),
                              self.root)
                .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                .add_extension(_usage(key_cert_sign=True, crl_sign=True), critical=True)
                .sign(self.root.key, hashes.SHA256()))
        self.intermediate = self.issuer = Issued(cert, key)
        return self

    def write_root(self, directory: Path) -> str:
        path = directory / f"root-{self.root.cert.serial_number:x}.pem"
        path.write_bytes(self.root.pem())
        return str(path)

    def person(self, *, snils: str | None, surname: str | None = "Петрова", given: str | None = "Анна Сергеевна",
               key_type: str = "rsa", not_before: dt.datetime | None = None, not_after: dt.datetime | None = None,
               usage: dict[str, bool] | None = None, issuer: Issued | None = None,
               points: Sequence[str] | None = None) -> Issued:
        """A personal certificate; ``points``: its CRL distribution points instead of its issuer's."""
        key: Any = rsa.generate_private_key(public_exponent=65537, key_size=2048) if key_type == "rsa" \
            else ec.generate_private_key(ec.SECP256R1())
        attrs = [x509.NameAttribute(NameOID.COMMON_NAME, f"{surname or ''} {given or ''}".strip() or "—")]
        if surname is not None:
            attrs.append(x509.NameAttribute(NameOID.SURNAME, surname))
        if given is not None:
            attrs.append(x509.NameAttribute(NameOID.GIVEN_NAME, given))
        if snils is not None:
            attrs.append(x509.NameAttribute(SNILS_OID, snils, _type=_ASN1Type.NumericString))
        by = issuer or self.issuer
        builder = self._pointed(_base(x509.Name(attrs), by.cert.subject, key.public_key(), not_before or NOW - YEAR / 2,
                                      not_after or NOW + YEAR), by, points)
        if usage != {}:
            builder = builder.add_extension(_usage(**(usage or {"digital_signature": True, "content_commitment": True})),
                                            critical=True)
        return Issued(builder.sign(by.key, hashes.SHA256()), key)

    def point(self, issuer: Issued) -> str:
        """The distribution point of the list ``issuer`` signs."""
        return f"{self.crl_url}/{issuer.cert.serial_number:x}.crl"

    def _pointed(self, builder: x509.CertificateBuilder, issuer: Issued,
                 points: Sequence[str] | None = None) -> x509.CertificateBuilder:
        urls = list(points) if points is not None else [self.point(issuer)] if self.crl_url else []
        if self.ocsp_url:
            builder = builder.add_extension(x509.AuthorityInformationAccess([x509.AccessDescription(
                AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(self.responder(issuer)))]),
                critical=False)
        if not urls:
            return builder
        named = [x509.DistributionPoint([x509.UniformResourceIdentifier(u)], None, None, None) for u in urls]
        return builder.add_extension(x509.CRLDistributionPoints(named), critical=False)

    def responder(self, issuer: Issued) -> str:
        """The OCSP responder for the certificates ``issuer`` signs."""
        return f"{self.ocsp_url}/{issuer.cert.serial_number:x}"

    def ocsp_answer(self, issuer: Issued, request: bytes, *, signer: Issued | None = None,
                    status: ocsp.OCSPCertStatus | None = None, next_update: dt.datetime | None = None) -> bytes:
        """``issuer``'s responder's answer (DER) to ``request``: revoked where its serial is, signed by the CA or
        by ``signer`` (a delegated responder, sent along)."""
        asked = ocsp.load_der_ocsp_request(request)
        revoked = asked.serial_number in self.revoked
        status = status or (ocsp.OCSPCertStatus.REVOKED if revoked else ocsp.OCSPCertStatus.GOOD)
        by = signer or issuer
        builder = ocsp.OCSPResponseBuilder().add_response_by_hash(
            asked.issuer_name_hash, asked.issuer_key_hash, asked.serial_number, asked.hash_algorithm, status,
            NOW - DAY / 24, next_update or NOW + DAY, NOW - DAY if status == ocsp.OCSPCertStatus.REVOKED else None,
            None).responder_id(ocsp.OCSPResponderEncoding.HASH, by.cert)
        if signer is not None:
            builder = builder.certificates([signer.cert])
        return builder.sign(by.key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)

    def delegate(self, issuer: Issued, *, ocsp_signing: bool = True) -> Issued:
        """A responder certificate ``issuer`` signs (with the ``OCSPSigning`` extended key usage, or without)."""
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, self.name + " (OCSP)")])
        usage = [ExtendedKeyUsageOID.OCSP_SIGNING if ocsp_signing else ExtendedKeyUsageOID.CLIENT_AUTH]
        cert = (_base(subject, issuer.cert.subject, key.public_key(), NOW - YEAR / 12, NOW + YEAR / 12)
                .add_extension(x509.ExtendedKeyUsage(usage), critical=False)
                .sign(issuer.key, hashes.SHA256()))
        return Issued(cert, key)

    def crl(self, issuer: Issued, *, this_update: dt.datetime | None = None, next_update: dt.datetime | None = None,
            key: Any = None) -> bytes:
        """``issuer``'s list (DER) of the revoked serials, signed with its key (or ``key``)."""
        builder = (x509.CertificateRevocationListBuilder().issuer_name(issuer.cert.subject)
                   .last_update(this_update or NOW - DAY).next_update(next_update or NOW + 7 * DAY))
        for serial in sorted(self.revoked):
            builder = builder.add_revoked_certificate(x509.RevokedCertificateBuilder().serial_number(serial)
                                                      .revocation_date(NOW - DAY).build())
        return builder.sign(key or issuer.key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)

    def sign(self, signer: Issued, content: bytes, *, chain: bool = True, hash_: Any = None) -> bytes:
        """A detached CMS SignedData (DER) over ``content``, with the signer's certificate (and the
        intermediate's, as a signer's tool sends it)."""
        builder = pkcs7.PKCS7SignatureBuilder().set_data(content).add_signer(signer.cert, signer.key,
                                                                            hash_ or hashes.SHA256())
        if chain and self.intermediate is not None:
            builder = builder.add_certificate(self.intermediate.cert)
        return builder.sign(serialization.Encoding.DER, [pkcs7.PKCS7Options.DetachedSignature])

    def sign_b64(self, signer: Issued, content: bytes, **kw: Any) -> str:
        return base64.b64encode(self.sign(signer, content, **kw)).decode()


def _base(subject: x509.Name, issuer: x509.Name, public_key: Any, not_before: dt.datetime,
          not_after: dt.datetime) -> x509.CertificateBuilder:
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(public_key)
            .serial_number(x509.random_serial_number()).not_valid_before(not_before).not_valid_after(not_after)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False))


def _usage(**on: bool) -> x509.KeyUsage:
    names = ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment", "key_agreement",
             "key_cert_sign", "crl_sign")
    return x509.KeyUsage(**{n: on.get(n, False) for n in names}, encipher_only=False, decipher_only=False)


class CrlPoints:
    """A CA with an intermediate whose certificates name distribution points on a real local HTTP server (the
    courier tests' :class:`Gateway`): each GET gets the issuer's current list, or ``replies[url]`` where a test
    set one."""

    def __init__(self, name: str = "Тестовый УЦ", *, ocsp: bool = False) -> None:
        self.gateway = Gateway().up()
        self.ca = Ca(name, crl_url=self.gateway.url, ocsp_url=self.gateway.url + "/ocsp" if ocsp else None)
        self.ca.with_intermediate()
        self.replies: dict[str, Reply] = {}
        self.answer: Callable[[Issued, bytes], bytes] | None = None  # the responders' answer instead of the CA's
        self.gateway.responder = self._answer
        self._closed = False

    def _answer(self, req: Request) -> Reply:
        url = self.gateway.url + req.path
        if url in self.replies:
            return self.replies[url]
        issuers = [i for i in (self.ca.root, self.ca.intermediate) if i is not None]
        if req.method == "POST" and self.ca.ocsp_url:
            by = next((i for i in issuers if self.ca.responder(i) == url), None)
            if by is not None:
                return Reply(200, (self.answer or self.ca.ocsp_answer)(by, req.body), "application/ocsp-response")
        issuer = next((i for i in issuers if self.ca.point(i) == url), None)
        if issuer is None or req.method != "GET":
            return Reply(404, b"", "text/plain")
        return Reply(200, self.ca.crl(issuer), "application/pkix-crl")

    def fetches(self, issuer: Issued) -> int:
        """The CRL downloads of ``issuer``'s list."""
        path = urlsplit(self.ca.point(issuer)).path
        return sum(1 for r in self.gateway.requests if r.path == path)

    def asked(self, issuer: Issued) -> int:
        """The questions to ``issuer``'s OCSP responder."""
        path = urlsplit(self.ca.responder(issuer)).path
        return sum(1 for r in self.gateway.requests if r.path == path and r.method == "POST")

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.gateway.close()

    def __enter__(self) -> CrlPoints:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@pytest.fixture(name="crls")
def crls_fixture() -> Iterator[CrlPoints]:
    """The test CA of a flow test, its distribution points served (import it with :func:`ca_fixture`)."""
    with CrlPoints() as points:
        yield points


@pytest.fixture(name="ca")
def ca_fixture(crls: CrlPoints) -> Ca:
    return crls.ca


class Unrevoked:
    """A revocation check that finds every certificate good: for tests of everything else (the CMS shapes, the
    stand-in verification service, whose real counterpart checks revocation its own way)."""

    async def status(self, links: Sequence[Any], now: dt.datetime) -> str:
        return "good"
