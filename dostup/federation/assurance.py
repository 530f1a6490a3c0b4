"""What a bank says about the person, for «Подтверждённая учётная запись» (SPEC §4.8: «a trusted identity
provider (a bank over OpenID Connect whose verified claims must match)»).

The request asks, by the OpenID Connect ``claims`` parameter (Core §5.5), for the person's
``verified_claims`` (OpenID Connect for Identity Assurance 1.0 §5: ``verification`` with its
``trust_framework``, and the ``claims`` verified under it) — names, birth date and, where the bank has
them, the SNILS and the passport — and for the same claims plainly, which a bank that does not speak
Identity Assurance returns in its ID token or userinfo.  The operator marks such a bank as a confirmer
(``confirms_identity``), and so vouches for its plain claims too; a verified claim, where one is given,
stands over the plain one of the same name.

Russia's documents have no registered claim: ``snils`` and ``passport`` (series and number, any spacing)
are asked by those names; a passport is also read from Identity Assurance's ``evidence`` (a ``document``
of type ``passport`` or ``idcard``: ``document_details.document_number``, or the draft's ``document.number``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

NAMES = ("family_name", "given_name", "middle_name")
CLAIMS = (*NAMES, "birthdate", "snils", "passport")
ESSENTIAL = ("family_name", "given_name", "birthdate")
_DOCUMENTS = ("passport", "idcard")


def claims_request() -> dict[str, Any]:
    """The ``claims`` parameter: the verified claims in the ID token and userinfo, the plain ones in userinfo."""
    asked = {name: ({"essential": True} if name in ESSENTIAL else None) for name in CLAIMS}
    verified = {"verification": {"trust_framework": None}, "claims": {name: None for name in CLAIMS}}
    return {"id_token": {"verified_claims": verified}, "userinfo": {"verified_claims": verified, **asked}}


@dataclass(frozen=True, slots=True)
class Asserted:
    """The person as the bank states them (``None``: not given); ``verified``: some came as ``verified_claims``."""

    family_name: str | None = None
    given_name: str | None = None
    middle_name: str | None = None
    birthdate: str | None = None
    snils: str | None = None
    passport: str | None = None
    verified: bool = False


def listed(value: object) -> list[dict[str, Any]]:
    """``verified_claims`` is one object or an array of them (Identity Assurance §5); anything else is nothing."""
    if isinstance(value, dict):
        return [value]
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _value(value: object) -> str | None:
    return value.strip()[:200] or None if isinstance(value, str) else None


def _passport_of(verification: dict[str, Any]) -> str | None:
    evidence = verification.get("evidence")
    for item in listed(evidence):
        doc = item.get("document_details") or item.get("document")
        if isinstance(doc, dict) and doc.get("type") in _DOCUMENTS:
            number = _value(doc.get("document_number") or doc.get("number"))
            if number:
                return number
    return None


def asserted(claims: dict[str, Any]) -> Asserted:
    """Read the bank's answer (:meth:`~dostup.federation.client.FederationClient.claims`): the plain claims,
    then each ``verified_claims`` element with a ``trust_framework`` over them (one without says nothing)."""
    found = {name: _value(claims.get(name)) for name in CLAIMS}
    verified = False
    for element in listed(claims.get("verified_claims")):
        verification, inner = element.get("verification"), element.get("claims")
        if not isinstance(verification, dict) or not _value(verification.get("trust_framework")):
            continue
        if not isinstance(inner, dict):
            continue
        verified = True
        for name in CLAIMS:
            value = _value(inner.get(name))
            if value:
                found[name] = value
        found["passport"] = _passport_of(verification) or found["passport"]
    return Asserted(**found, verified=verified)
