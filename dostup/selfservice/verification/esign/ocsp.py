"""A certificate's status from its CA's OCSP responder (RFC 6960), asked before the CRL where the certificate
names one (Authority Information Access, ``http://``): the answer is minutes old where a list may be days old.

The request names the certificate by SHA-1 hashes of its issuer's name and key and its serial (the CertID every
responder understands: RFC 5019 §2.1.1; the hash identifies, it signs nothing).  The answer is used only if it
is successful, about exactly that certificate, current (``thisUpdate`` reached; ``nextUpdate`` ahead, or without
one at most :data:`MAX_AGE` old) and signed by the issuing CA or by a responder that CA authorised — a
certificate it issued with the ``OCSPSigning`` extended key usage, valid now (§4.2.2.2).  ``good`` and
``revoked`` are answers; ``unknown`` and anything unusable are none (:class:`~.revocation.StatusUnavailable`), and
:mod:`.revocation` turns to the CRL.  An answer with a ``nextUpdate`` is kept until then, at most the CRLs'
``cache_seconds``, in the process.  One question per certificate and responder is in flight at a time, its
answer shared by the checks that need it meanwhile; a responder that could not be reached or answered no 200 is
not asked again, about any certificate, for ``failure_seconds`` (:mod:`.flights`) — an answer that is there but
unusable concerns its certificate alone, and comes quickly, so it is not remembered.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID

from dostup.selfservice.verification.esign.flights import Failures, Flights
from dostup.selfservice.verification.esign.revocation import SKEW, StatusUnavailable, extension

MAX_AGE = dt.timedelta(hours=1)  # an answer without nextUpdate: "newer information is always available"
_Key = tuple[str, bytes, int]  # a kept answer's responder, issuer's fingerprint and serial number


class OcspSource(Protocol):
    async def ask(self, url: str, request: bytes) -> bytes:
        """The responder's answer (DER) to ``request``, or :class:`~.revocation.StatusUnavailable`."""
        ...


@dataclass(frozen=True, slots=True)
class _Kept:
    revoked: bool
    until: dt.datetime


class OcspCheck:
    def __init__(self, *, source: OcspSource, cache_seconds: int, failure_seconds: int = 0) -> None:
        self._source = source
        self._keep = dt.timedelta(seconds=cache_seconds)
        self._kept: dict[_Key, _Kept] = {}
        self._flights: Flights[_Key, bool] = Flights()
        self._failures: Failures[str] = Failures(failure_seconds)  # by the responder's URL

    async def revoked(self, cert: x509.Certificate, issuer: x509.Certificate, now: dt.datetime) -> bool | None:
        """Whether ``cert`` is revoked, as a responder it names says; None where it names none;
        :class:`StatusUnavailable` where none of those it names said."""
        urls = responders(cert)
        if not urls:
            return None
        request = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, hashes.SHA1()).build()  # noqa: S303 - CertID
        problems = []
        for url in urls:
            key = (url, issuer.fingerprint(hashes.SHA256()), cert.serial_number)
            kept = self._kept.get(key)
            if kept is not None and now < kept.until:
                return kept.revoked
            try:
                if (failed := self._failures.recent(url, now)) is not None:
                    raise StatusUnavailable(failed)
                return await self._flights.run(key, partial(self._ask, key, request, issuer, now))
            except StatusUnavailable as exc:
                problems.append(f"{url}: {exc}")
        raise StatusUnavailable("; ".join(problems))

    async def _ask(self, key: _Key, request: ocsp.OCSPRequest, issuer: x509.Certificate, now: dt.datetime) -> bool:
        """The responder's answer, checked and kept, for whoever still waits; a responder that gave none
        remembered as failed for every certificate."""
        url = key[0]
        try:
            answer = await self._source.ask(url, request.public_bytes(serialization.Encoding.DER))
        except StatusUnavailable as exc:
            self._failures.remember(url, str(exc), now)
            raise
        single = answered(answer, request=request, issuer=issuer, now=now)
        revoked = single.certificate_status == ocsp.OCSPCertStatus.REVOKED
        self._remember(key, revoked, single.next_update_utc, now)
        return revoked

    def _remember(self, key: _Key, revoked: bool, next_update: dt.datetime | None, now: dt.datetime) -> None:
        for stale in [k for k, v in self._kept.items() if v.until <= now]:
            del self._kept[stale]
        if next_update is not None:
            self._kept[key] = _Kept(revoked, min(next_update, now + self._keep))


def responders(cert: x509.Certificate) -> list[str]:
    """The ``http://`` OCSP responders in the certificate's Authority Information Access (RFC 5280 §4.2.2.1)."""
    access = extension(cert.extensions, x509.AuthorityInformationAccess) or ()
    return [d.access_location.value for d in access if d.access_method == AuthorityInformationAccessOID.OCSP
            and isinstance(d.access_location, x509.UniformResourceIdentifier)
            and d.access_location.value.lower().startswith("http://")]


def answered(raw: bytes, *, request: ocsp.OCSPRequest, issuer: x509.Certificate,
             now: dt.datetime) -> ocsp.OCSPSingleResponse:
    """The usable answer in ``raw`` to ``request`` (``good`` or ``revoked``), or :class:`StatusUnavailable`."""
    try:
        resp = ocsp.load_der_ocsp_response(raw)
    except ValueError:
        raise StatusUnavailable("not an OCSP response") from None
    if resp.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
        raise StatusUnavailable(f"status {resp.response_status.name}")
    _signed_for(resp, issuer, now)
    single = next((s for s in resp.responses if _about(s, request)), None)
    if single is None:
        raise StatusUnavailable("no answer about this certificate")
    if single.this_update_utc > now + SKEW:
        raise StatusUnavailable("thisUpdate is ahead")
    next_update = single.next_update_utc
    if (next_update is not None and next_update <= now) or (next_update is None and single.this_update_utc < now - MAX_AGE):
        raise StatusUnavailable("stale")
    if single.certificate_status == ocsp.OCSPCertStatus.UNKNOWN:
        raise StatusUnavailable("the responder does not know the certificate")
    return single


def _about(single: ocsp.OCSPSingleResponse, request: ocsp.OCSPRequest) -> bool:
    return (single.serial_number == request.serial_number and single.issuer_key_hash == request.issuer_key_hash
            and single.issuer_name_hash == request.issuer_name_hash
            and single.hash_algorithm.name == request.hash_algorithm.name)


def _signed_for(resp: ocsp.OCSPResponse, issuer: x509.Certificate, now: dt.datetime) -> None:
    """Signed by the issuing CA itself, or by a responder certificate it issued for OCSP signing (§4.2.2.2)."""
    signers = [issuer, *(c for c in resp.certificates if _delegate(c, issuer, now))]
    if not any(_verifies(c.public_key(), resp) for c in signers):
        raise StatusUnavailable("not signed by the issuing CA or a responder it authorised")


def _delegate(cert: x509.Certificate, issuer: x509.Certificate, now: dt.datetime) -> bool:
    usage = extension(cert.extensions, x509.ExtendedKeyUsage)
    if usage is None or ExtendedKeyUsageOID.OCSP_SIGNING not in usage or cert.issuer != issuer.subject:
        return False
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        return False
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def _verifies(key: Any, resp: ocsp.OCSPResponse) -> bool:
    algo = resp.signature_hash_algorithm
    try:
        if isinstance(key, rsa.RSAPublicKey) and algo is not None:
            key.verify(resp.signature, resp.tbs_response_bytes, padding.PKCS1v15(), algo)
        elif isinstance(key, ec.EllipticCurvePublicKey) and algo is not None:
            key.verify(resp.signature, resp.tbs_response_bytes, ec.ECDSA(algo))
        elif isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
            key.verify(resp.signature, resp.tbs_response_bytes)
        else:
            return False
    except (InvalidSignature, ValueError, UnsupportedAlgorithm):
        return False
    return True
