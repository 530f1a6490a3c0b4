"""The built-in CMS check (``dostup.selfservice.verification.esign.cms``) on the shapes a signer's tool may send,
with real keys and signatures: RSA-PSS, no signed attributes, attached content, CRLF line ends; and what it refuses —
an unknown (GOST) algorithm, a digest below SHA-2, a damaged signature, a certificate that is not a CA posing as
the issuer, a signer certificate missing from the message.  And the verification service's verdict parser."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest
from asn1crypto import cms  # type: ignore[import-untyped]
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.serialization import pkcs7

from dostup.core.errors import ServiceUnavailable, ValidationFailed
from dostup.selfservice.verification.esign.cms import CmsCheck
from dostup.selfservice.verification.esign.remote import _verdict
from tests.flows.esign_support import NOW, Ca, Issued, Unrevoked

SNILS = "11223344595"
TEXT = "ЗАЯВЛЕНИЕ\n\nЯ, Петрова Анна Сергеевна\n".encode()


@pytest.fixture(scope="module")
def ca() -> Ca:
    return Ca().with_intermediate()


@pytest.fixture(scope="module")
def person(ca: Ca) -> Issued:
    return ca.person(snils=SNILS)


def check(ca: Ca, der: bytes, content: bytes = TEXT) -> Any:
    return asyncio.run(CmsCheck([ca.root.cert], revocation=Unrevoked()).check(content, der, NOW.replace(tzinfo=None)))


def refused(ca: Ca, der: bytes, content: bytes = TEXT) -> str:
    with pytest.raises(ValidationFailed) as err:
        check(ca, der, content)
    return str(err.value.message_id)


def _build(ca: Ca, person: Issued, *options: pkcs7.PKCS7Options, content: bytes = TEXT, **kw: Any) -> bytes:
    assert ca.intermediate is not None
    builder = (pkcs7.PKCS7SignatureBuilder().set_data(content).add_signer(person.cert, person.key, hashes.SHA256(), **kw)
               .add_certificate(ca.intermediate.cert))
    return builder.sign(serialization.Encoding.DER, list(options))


def test_rsa_pss_without_signed_attributes_and_attached_content_are_read(ca, person):
    pss = padding.PSS(padding.MGF1(hashes.SHA256()), padding.PSS.DIGEST_LENGTH)
    assert check(ca, _build(ca, person, pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.Binary,
                            rsa_padding=pss)).snils == SNILS
    assert check(ca, _build(ca, person, pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.Binary,
                            pkcs7.PKCS7Options.NoAttributes)).surname == "Петрова"
    attached = _build(ca, person, pkcs7.PKCS7Options.Binary)
    assert check(ca, attached).given_name == "Анна Сергеевна"
    assert refused(ca, attached, TEXT + b"!") == "esign.wrong_statement"


def test_a_signature_of_the_text_with_crlf_line_ends_is_the_same_statement(ca, person):
    crlf = TEXT.replace(b"\n", b"\r\n")
    assert check(ca, _build(ca, person, pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.Binary,
                            content=crlf)).snils == SNILS


def _edit(der: bytes, change: Any) -> bytes:
    info = cms.ContentInfo.load(der)
    change(info["content"]["signer_infos"][0])
    return bytes(info.dump(force=True))


def test_an_unknown_algorithm_a_weak_digest_and_a_damaged_signature_are_refused(ca, person):
    der = ca.sign(person, TEXT)

    def gost(si: Any) -> None:  # GOST R 34.10-2012 (256): not in Python's cryptography
        si["signature_algorithm"] = cms.SignedDigestAlgorithm({"algorithm": "1.2.643.7.1.1.1.1"})

    def sha1(si: Any) -> None:
        si["digest_algorithm"] = cms.DigestAlgorithm({"algorithm": "sha1"})

    def damaged(si: Any) -> None:
        value = bytearray(si["signature"].native)
        value[-1] ^= 1
        si["signature"] = bytes(value)

    assert refused(ca, _edit(der, gost)) == "esign.unsupported_algorithm"
    assert refused(ca, _edit(der, sha1)) == "esign.unsupported_algorithm"
    assert refused(ca, _edit(der, damaged)) == "esign.bad_signature"
    assert refused(ca, der[:40]) == "esign.not_cms"
    assert refused(ca, b"\x30\x00") == "esign.not_cms"


def test_a_certificate_that_is_not_a_ca_cannot_issue_and_the_signers_must_be_in_the_message(ca, person):
    fake_issuer = ca.person(snils=SNILS, usage={"key_cert_sign": True, "digital_signature": True})
    victim = ca.person(snils=SNILS, issuer=fake_issuer)  # signed by a leaf: no basicConstraints cA
    builder = (pkcs7.PKCS7SignatureBuilder().set_data(TEXT).add_signer(victim.cert, victim.key, hashes.SHA256())
               .add_certificate(fake_issuer.cert).add_certificate(ca.intermediate.cert))  # type: ignore[union-attr]
    der = builder.sign(serialization.Encoding.DER, [pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.Binary])
    assert refused(ca, der) == "esign.untrusted"

    info = cms.ContentInfo.load(ca.sign(person, TEXT))
    info["content"]["certificates"] = cms.CertificateSet([])
    assert refused(ca, bytes(info.dump(force=True))) == "esign.not_cms"


def test_a_certificate_valid_when_checked_but_not_when_it_signed_is_refused(ca):
    """The ``signingTime`` signed attribute counts too: a certificate that began after the signature was made."""
    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=5)
    young = ca.person(snils=SNILS, not_before=later)
    der = ca.sign(young, TEXT)  # signingTime: now, before the certificate's start
    hour_later = (later + dt.timedelta(hours=1)).replace(tzinfo=None)
    with pytest.raises(ValidationFailed) as err:
        asyncio.run(CmsCheck([ca.root.cert], revocation=Unrevoked()).check(TEXT, der, hour_later))
    assert err.value.message_id == "esign.cert_not_yet_valid"


@pytest.mark.parametrize("answer", [None, [], {"valid": "yes"}, {"valid": True}, {"valid": True, "signer": "x"}])
def test_a_verdict_that_is_not_the_contract_means_the_service_could_not_say(answer):
    with pytest.raises(ServiceUnavailable):
        _verdict(answer)


def test_the_services_signer_fields_are_read_and_its_reasons_named():
    signer = _verdict({"valid": True, "signer": {"snils": "112-233-445 95", "surname": "Петрова", "given_name": 5}})
    assert (signer.snils, signer.surname, signer.given_name) == (SNILS, "Петрова", "")
    for reason, message in (("revoked", "esign.revoked"), ("untrusted", "esign.untrusted"), (None, "esign.invalid"),
                            ("../../etc", "esign.invalid")):
        with pytest.raises(ValidationFailed) as err:
            _verdict({"valid": False, "reason": reason})
        assert err.value.message_id == message
