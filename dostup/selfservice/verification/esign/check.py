"""What a signature check answers, and the protocol every check implements (the flow imports none of them:
:mod:`dostup.services` passes the configured one in, as the profile's verifiers).

A check takes the statement's exact bytes and a detached CMS/PKCS#7 ``SignedData`` (DER) and either returns
the :class:`Signer` — the fields of the signer's certificate the flow compares with the profile — or raises
:class:`~dostup.core.errors.ValidationFailed` naming what is wrong (``esign.<reason>``, field
``signature``), or :class:`~dostup.core.errors.ServiceUnavailable` when an external verifier cannot answer.
It never sees the database: the flow runs it outside any unit of work (it may be a network call).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Protocol

from dostup.core.errors import ValidationFailed

# Why a signature is refused: each is a message id ``esign.<reason>`` in the catalog.
REASONS = ("not_cms", "wrong_statement", "bad_signature", "unsupported_algorithm", "untrusted", "cert_expired",
           "cert_not_yet_valid", "key_usage", "no_person", "revoked", "revocation_unknown", "invalid")


@dataclass(frozen=True, slots=True)
class Signer:
    """The signer's certificate as far as the confirmation needs it (Russian qualified certificates:
    SNILS 1.2.643.100.3, surname SN 2.5.4.4, given name G 2.5.4.42 holding «Имя Отчество»)."""

    snils: str  # 11 digits
    surname: str
    given_name: str
    common_name: str = ""
    serial: str = ""  # the certificate's serial number, hex
    issuer: str = ""  # the issuing CA's common name (or its whole name)
    revocation: str = ""  # the built-in check's "good" or (soft-fail) "unknown"; a service does not say


class SignatureCheck(Protocol):
    name: str  # stored with the security event: "builtin", "service"

    async def check(self, content: bytes, signature: bytes, now: dt.datetime) -> Signer:
        """The signer of ``signature`` over ``content`` if it holds, else a refusal (see the module)."""
        ...


def refused(reason: str) -> ValidationFailed:
    return ValidationFailed("esign." + (reason if reason in REASONS else "invalid"), field="signature",
                            code="signature_" + (reason if reason in REASONS else "invalid"))
