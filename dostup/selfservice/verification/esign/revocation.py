"""Is a certificate of the signature's chain revoked?  The built-in check's answer from certificate revocation
lists (RFC 5280 §5, §6.3), for the signer's certificate and every intermediate (the root is the trust anchor).

For each certificate: where it names an ``http://`` OCSP responder and the injected :class:`Responder` is on,
the responder's answer (:mod:`.ocsp`: fresher than a list); where that gives none, the CRL at one of its
``http://`` distribution points (a point limited to some reasons or
naming another CRL issuer is skipped: its list alone does not cover the certificate), fetched by the injected
:class:`CrlSource` (the HTTP adapter, :mod:`.status_http`, bounds its time and size), and used only when it
is a complete list of this issuer for this kind of certificate: issued under the CA's name, signed with its key
(``cRLSign`` where its key usage says), current (``thisUpdate`` reached, ``nextUpdate`` ahead), neither a
delta nor indirect, partitioned to another point or other certificates, nor carrying a critical extension we do
not know (§6.3.3).  A usable list is kept per distribution point and issuer until its ``nextUpdate``, at most
``cache_seconds``, in the process: each web process keeps its own (a list is public and signed, so sharing
buys nothing but fewer downloads).  A list is downloaded once for all the checks that need it at the moment,
and a distribution point whose list could not be had or used is not asked again for ``failure_seconds``
(:mod:`.flights`).  The checks run only after the chain to a trusted root held, so the URLs fetched are those a
trusted CA wrote.

A certificate on its issuer's list is ``revoked`` (422, counted like every refusal; a hold counts too: the
certificate is not valid now).  When the status cannot be found out — ``revocation_unknown`` (422: the
certificate names no usable point nor responder; only another certificate helps) or ``revocation_unavailable``
(503: neither list nor answer could be had or used; the CA's side, so it spends no try) — ``strict`` refuses and ``soft_fail``
accepts, saying ``unknown``.  A revoked certificate is refused even where another's status is unknown.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Protocol, TypeVar

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes

from dostup.core.errors import DostupError, ServiceUnavailable
from dostup.selfservice.verification.esign.check import refused
from dostup.selfservice.verification.esign.flights import Failures, Flights

log = logging.getLogger(__name__)

GOOD, UNKNOWN = "good", "unknown"  # what a confirmation's event records as ``revocation``
SKEW = dt.timedelta(minutes=5)  # a list stamped a little ahead of our clock is still the current one

_E = TypeVar("_E", bound=x509.ExtensionType)
Link = tuple[x509.Certificate, x509.Certificate]  # a certificate and the CA that issued it
_Key = tuple[str, bytes, bool]  # a kept list's distribution point, issuer's fingerprint, and "for a CA"


class StatusUnavailable(Exception):
    """No usable status could be had from a distribution point or responder; the text says why (for the log)."""


class CrlSource(Protocol):
    async def fetch(self, url: str) -> bytes:
        """The body served at ``url``, or :class:`StatusUnavailable`."""
        ...


class Responder(Protocol):
    async def revoked(self, cert: x509.Certificate, issuer: x509.Certificate, now: dt.datetime) -> bool | None:
        """What the certificate's OCSP responder says (:mod:`.ocsp`); None: it names none; or
        :class:`StatusUnavailable`."""
        ...


@dataclass(frozen=True, slots=True)
class _Kept:
    crl: x509.CertificateRevocationList
    until: dt.datetime


class _Undetermined(Exception):
    def __init__(self, error: DostupError) -> None:
        super().__init__(error.message_id)
        self.error = error


class RevocationCheck:
    def __init__(self, *, source: CrlSource, soft_fail: bool, cache_seconds: int, failure_seconds: int = 0,
                 ocsp: Responder | None = None) -> None:
        self._source = source
        self._ocsp = ocsp
        self.soft_fail = soft_fail
        self._keep = dt.timedelta(seconds=cache_seconds)
        self._kept: dict[_Key, _Kept] = {}
        self._flights: Flights[_Key, x509.CertificateRevocationList] = Flights()
        self._failures: Failures[_Key] = Failures(failure_seconds)

    async def status(self, links: Sequence[Link], now: dt.datetime) -> str:
        """:data:`GOOD` when no certificate is revoked; :data:`UNKNOWN` (``soft_fail`` only) when some status
        could not be found out; ``revoked`` refused, or the first undetermined one's error (module)."""
        undetermined: list[DostupError] = []
        for cert, issuer in links:
            try:
                revoked = await self._revoked(cert, issuer, now)
            except _Undetermined as exc:
                undetermined.append(exc.error)
                continue
            if revoked:
                raise refused("revoked")
        if undetermined and not self.soft_fail:
            raise undetermined[0]
        return UNKNOWN if undetermined else GOOD

    async def _revoked(self, cert: x509.Certificate, issuer: x509.Certificate, now: dt.datetime) -> bool:
        """The responder's answer where the certificate names one and it answers, else the CRL's."""
        asked = False
        if self._ocsp is not None:
            try:
                answer = await self._ocsp.revoked(cert, issuer, now)
            except StatusUnavailable as exc:
                log.warning("OCSP for the certificate %x of %s unusable: %s", cert.serial_number,
                            cert.issuer.rfc4514_string(), exc)
                asked = True
            else:
                if answer is not None:
                    return answer
        crl = await self._current(cert, issuer, now, asked_ocsp=asked)
        return crl.get_revoked_certificate_by_serial_number(cert.serial_number) is not None

    async def _current(self, cert: x509.Certificate, issuer: x509.Certificate, now: dt.datetime, *,
                       asked_ocsp: bool) -> x509.CertificateRevocationList:
        urls = distribution_points(cert)
        if not urls and asked_ocsp:  # a responder was named but did not answer: the CA's side
            raise _Undetermined(_unavailable())
        if not urls:
            log.warning("no http CRL distribution point in the certificate %x of %s",  # not its subject: a SNILS
                        cert.serial_number, cert.issuer.rfc4514_string())
            raise _Undetermined(refused("revocation_unknown"))
        for_ca = _is_ca(cert)
        for url in urls:
            key = (url, issuer.fingerprint(hashes.SHA256()), for_ca)
            kept = self._kept.get(key)
            if kept is not None and now < kept.until:
                return kept.crl
            try:
                if (failed := self._failures.recent(key, now)) is not None:
                    raise StatusUnavailable(failed)
                return await self._flights.run(key, partial(self._download, key, issuer, now))
            except StatusUnavailable as exc:
                log.warning("CRL %s unusable: %s", url, exc)
        raise _Undetermined(_unavailable())

    async def _download(self, key: _Key, issuer: x509.Certificate,
                        now: dt.datetime) -> x509.CertificateRevocationList:
        """The list at the point, checked and kept — or its failure remembered — for whoever still waits."""
        url, _, for_ca = key
        try:
            crl = usable_crl(await self._source.fetch(url), url=url, issuer=issuer, for_ca=for_ca, now=now)
        except StatusUnavailable as exc:
            self._failures.remember(key, str(exc), now)
            raise
        self._remember(key, crl, now)
        return crl

    def _remember(self, key: _Key, crl: x509.CertificateRevocationList, now: dt.datetime) -> None:
        for stale in [k for k, v in self._kept.items() if v.until <= now]:
            del self._kept[stale]
        next_update = crl.next_update_utc
        assert next_update is not None  # usable_crl refuses a list without one
        self._kept[key] = _Kept(crl, min(next_update, now + self._keep))


def distribution_points(cert: x509.Certificate) -> list[str]:
    """The ``http://`` URLs of the certificate's complete CRLs (RFC 5280 §4.2.1.13)."""
    points = extension(cert.extensions, x509.CRLDistributionPoints) or ()
    return [name.value for point in points if point.reasons is None and point.crl_issuer is None
            for name in point.full_name or () if isinstance(name, x509.UniformResourceIdentifier)
            and name.value.lower().startswith("http://")]


def usable_crl(raw: bytes, *, url: str, issuer: x509.Certificate, for_ca: bool,
               now: dt.datetime) -> x509.CertificateRevocationList:
    """``raw`` as a complete, current CRL of ``issuer`` that covers a certificate of this kind, fetched from
    ``url``, or :class:`StatusUnavailable` (RFC 5280 §6.3.3)."""
    crl = _parse(raw)
    if crl.issuer != issuer.subject:
        raise StatusUnavailable("issued under another name")
    _signed_by(crl, issuer)
    next_update = crl.next_update_utc
    if crl.last_update_utc > now + SKEW:
        raise StatusUnavailable(f"thisUpdate {crl.last_update_utc:%Y-%m-%d %H:%M} is ahead")
    if next_update is None or next_update <= now:
        raise StatusUnavailable(f"stale: nextUpdate {next_update or 'absent'}")
    _covers(crl, url=url, for_ca=for_ca)
    return crl


def _parse(raw: bytes) -> x509.CertificateRevocationList:
    try:
        if raw.lstrip().startswith(b"-----BEGIN"):
            return x509.load_pem_x509_crl(raw)
        return x509.load_der_x509_crl(raw)
    except ValueError:
        raise StatusUnavailable("not a CRL") from None


def _signed_by(crl: x509.CertificateRevocationList, issuer: x509.Certificate) -> None:
    usage = extension(issuer.extensions, x509.KeyUsage)
    if usage is not None and not usage.crl_sign:
        raise StatusUnavailable("the issuer's key usage has no cRLSign")
    try:
        valid = crl.is_signature_valid(issuer.public_key())  # type: ignore[arg-type]
    except (TypeError, ValueError, UnsupportedAlgorithm):
        valid = False
    if not valid:
        raise StatusUnavailable("not signed by the issuing CA's key")


def _covers(crl: x509.CertificateRevocationList, *, url: str, for_ca: bool) -> None:
    """Neither a delta, indirect, nor limited to other reasons, certificates or points (§5.2.4, §5.2.5)."""
    for ext in crl.extensions:
        if ext.critical and isinstance(ext.value, x509.UnrecognizedExtension):
            raise StatusUnavailable(f"an unknown critical extension {ext.oid.dotted_string}")
    if extension(crl.extensions, x509.DeltaCRLIndicator) is not None:
        raise StatusUnavailable("a delta CRL")
    idp = extension(crl.extensions, x509.IssuingDistributionPoint)
    if idp is None:
        return
    if idp.indirect_crl or idp.only_some_reasons or idp.only_contains_attribute_certs:
        raise StatusUnavailable("indirect or partial")
    if (idp.only_contains_user_certs and for_ca) or (idp.only_contains_ca_certs and not for_ca):
        raise StatusUnavailable("for another kind of certificate")
    names = [n.value for n in idp.full_name or () if isinstance(n, x509.UniformResourceIdentifier)]
    if names and url not in names:
        raise StatusUnavailable("the list of another distribution point")


def _unavailable() -> ServiceUnavailable:
    return ServiceUnavailable("esign.revocation_unavailable", code="revocation_unavailable")


def _is_ca(cert: x509.Certificate) -> bool:
    constraints = extension(cert.extensions, x509.BasicConstraints)
    return constraints is not None and constraints.ca


def extension(extensions: x509.Extensions, kind: type[_E]) -> _E | None:
    try:
        return extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None
