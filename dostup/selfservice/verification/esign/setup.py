"""The configured signature check (``DOSTUP_LEVELS__ESIGN``), or None where none is configured (the way is off)."""

from __future__ import annotations

from dostup.selfservice.verification.esign.check import SignatureCheck
from dostup.selfservice.verification.esign.crl_http import HttpCrlSource
from dostup.selfservice.verification.esign.remote import ServiceCheck
from dostup.selfservice.verification.esign.revocation import CrlRevocation
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


def _revocation(settings: EsignRevocationSettings) -> CrlRevocation:
    """The CRLs, downloaded over HTTP and kept in this process (one instance per process: its cache)."""
    source = HttpCrlSource(timeout=settings.timeout_seconds, max_bytes=settings.max_bytes)
    return CrlRevocation(source=source, soft_fail=settings.mode == "soft_fail", cache_seconds=settings.cache_seconds)
