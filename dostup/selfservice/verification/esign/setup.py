"""The configured signature check (``DOSTUP_LEVELS__ESIGN``), or None where none is configured (the way is off)."""

from __future__ import annotations

from dostup.selfservice.verification.esign.check import SignatureCheck
from dostup.selfservice.verification.esign.ocsp import OcspCheck
from dostup.selfservice.verification.esign.remote import ServiceCheck
from dostup.selfservice.verification.esign.revocation import RevocationCheck
from dostup.selfservice.verification.esign.status_http import HttpStatusSource
from dostup.settings import EsignRevocationSettings, LevelSettings


def configured_check(levels: LevelSettings) -> SignatureCheck | None:
    """Built in (the trusted roots read once, at start: an unreadable file stops the start) or the service."""
    if not levels.esign_configured:
        return None
    if levels.esign == "service":
        return ServiceCheck(url=levels.esign_service_url, secret=levels.esign_service_secret,
                            timeout=levels.esign_service_timeout_seconds)
    from dostup.selfservice.verification.esign.cms import CmsCheck, load_roots  # asn1crypto only where it is used

    return CmsCheck(load_roots(levels.esign_trusted_roots), revocation=_revocation(levels.esign_revocation))


def _revocation(settings: EsignRevocationSettings) -> RevocationCheck:
    """OCSP (where on) before the CRLs, both over HTTP and kept in this process (one instance per process)."""
    source = HttpStatusSource(timeout=settings.timeout_seconds, max_bytes=settings.max_bytes)
    keep, failed = settings.cache_seconds, settings.failure_cache_seconds
    ocsp = OcspCheck(source=source, cache_seconds=keep, failure_seconds=failed) if settings.ocsp else None
    return RevocationCheck(source=source, soft_fail=settings.mode == "soft_fail", cache_seconds=keep,
                           failure_seconds=failed, ocsp=ocsp)
