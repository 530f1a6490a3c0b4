"""Built in: a detached CMS/PKCS#7 ``SignedData`` checked in Python (RFC 5652 §5.4, §5.6; RFC 5280 §6).

For one signer it checks, in order: the structure (:mod:`asn1crypto` parses it), the ``messageDigest``
signed attribute against the statement (a signature of other text is refused before any key is used), the
signature over the DER ``SET OF`` signed attributes with the signer certificate's key (RSA PKCS#1 v1.5 or
PSS, ECDSA; SHA-2 only), the certificate's validity at verification time and at the claimed ``signingTime``
(the statement is at most the flow's lifetime old, so the two are minutes apart), its key usage
(``digitalSignature`` or ``nonRepudiation``), a chain to one of the operator's trusted roots (each link's
signature, validity and ``cA`` basic constraint; intermediates from the message itself), and then — the URLs
coming from certificates a trusted CA signed — that neither the signer's certificate nor an intermediate is
revoked, by its CA's OCSP responder or CRL (:mod:`.revocation`).

Not here: GOST R 34.10-2012 / 34.11-2012 — the algorithms of Russian qualified certificates — which
Python's ``cryptography`` does not implement (such a signature is ``unsupported_algorithm``; use the
verification-service adapter, :mod:`.remote`).
"""

from __future__ import annotations

import datetime as dt
import hmac
from collections.abc import Sequence
from typing import Protocol

from asn1crypto import cms  # type: ignore[import-untyped]
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

from dostup.selfservice.verification.esign.check import Signer, refused
from dostup.selfservice.verification.esign.revocation import Link

SNILS_OID = x509.ObjectIdentifier("1.2.643.100.3")
_HASHES: dict[str, type[hashes.HashAlgorithm]] = {"sha224": hashes.SHA224, "sha256": hashes.SHA256,
                                                  "sha384": hashes.SHA384, "sha512": hashes.SHA512}
MAX_CHAIN = 6  # links from the signer to a root: qualified certificates have two or three


def load_roots(paths: Sequence[str]) -> tuple[x509.Certificate, ...]:
    """Every certificate in the PEM files (the operator's trusted roots); a file without one is an error."""
    roots: list[x509.Certificate] = []
    for path in paths:
        with open(path, "rb") as f:
            found = x509.load_pem_x509_certificates(f.read())
        roots.extend(found)
    return tuple(roots)


class Revocation(Protocol):
    async def status(self, links: Sequence[Link], now: dt.datetime) -> str:
        """What the confirmation records (``good``, ``unknown``), or a refusal (:mod:`.revocation`)."""
        ...


class CmsCheck:
    name = "builtin"

    def __init__(self, roots: Sequence[x509.Certificate], *, revocation: Revocation) -> None:
        self._roots = tuple(roots)
        self._revocation = revocation

    async def check(self, content: bytes, signature: bytes, now: dt.datetime) -> Signer:
        now = now if now.tzinfo is not None else now.replace(tzinfo=dt.UTC)  # the clock's naive UTC
        try:
            info = cms.ContentInfo.load(signature, strict=True)
            if info["content_type"].native != "signed_data":
                raise refused("not_cms")
            sd = info["content"]
            [si] = list(sd["signer_infos"])  # one signer: the customer
            attached = sd["encap_content_info"]["content"].native
            certs = [x509.load_der_x509_certificate(c.chosen.dump()) for c in sd["certificates"]
                     if c.name == "certificate"]
            sid = si["sid"]
            digest_name = si["digest_algorithm"]["algorithm"].native
            attrs = si["signed_attrs"]
            sig_algo = si["signature_algorithm"]
            sig_value = si["signature"].native
        except (ValueError, TypeError, KeyError):
            raise refused("not_cms") from None
        if attached is not None and attached != content:
            raise refused("wrong_statement")
        hash_cls = _HASHES.get(str(digest_name))
        if hash_cls is None:
            raise refused("unsupported_algorithm")
        signer = _signer_cert(sid, certs)
        signed = _signed_bytes(attrs, content, hash_cls())
        _verify(signer, sig_algo, sig_value, signed, hash_cls())
        signing_time = _signing_time(attrs)
        for at in (now, signing_time) if signing_time is not None else (now,):
            _valid_at(signer, at)
        _key_usage(signer)
        links = self._chain(signer, certs, now)
        return _person(signer, revocation=await self._revocation.status(links, now))

    def _chain(self, leaf: x509.Certificate, pool: Sequence[x509.Certificate], now: dt.datetime) -> list[Link]:
        """Each certificate from the signer's up and the CA that issued it, the last one's a trusted root."""
        links: list[Link] = []
        current = leaf
        for _ in range(MAX_CHAIN):
            root = next((r for r in self._roots if _issued_by(current, r)), None)
            if root is not None:
                _valid_at(root, now)
                return [*links, (current, root)]
            issuer = next((c for c in pool if c != current and _issued_by(current, c)), None)
            if issuer is None:
                raise refused("untrusted")
            _valid_at(issuer, now)
            links.append((current, issuer))
            current = issuer
        raise refused("untrusted")


def _signer_cert(sid: cms.SignerIdentifier, certs: Sequence[x509.Certificate]) -> x509.Certificate:
    for cert in certs:
        if sid.name == "issuer_and_serial_number":
            ias = sid.chosen
            if cert.serial_number == ias["serial_number"].native and cert.issuer.public_bytes() == ias["issuer"].dump():
                return cert
        else:
            try:
                ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
            except x509.ExtensionNotFound:
                continue
            if ski == sid.chosen.native:
                return cert
    raise refused("not_cms")  # the signer's certificate is not in the message


def _signed_bytes(attrs: cms.CMSAttributes, content: bytes, algo: hashes.HashAlgorithm) -> bytes:
    """What the signature covers: the content itself, or (as CryptoPro and every CAdES signer make it) the
    signed attributes re-tagged as a ``SET OF`` (RFC 5652 §5.4) once their ``messageDigest`` matches the
    statement — as served, or with its line ends made CRLF, as a signer that treats it as text
    (S/MIME canonical form, a Windows program) signs it: the same words either way."""
    if not attrs:
        return content
    found = {a["type"].native: a["values"] for a in attrs}
    if "message_digest" not in found or "content_type" not in found:
        raise refused("not_cms")
    if found["content_type"][0].native != "data":
        raise refused("not_cms")
    signed_digest = bytes(found["message_digest"][0].native)
    if not any(hmac.compare_digest(signed_digest, _digest(algo, text))
               for text in (content, content.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))):
        raise refused("wrong_statement")
    return b"\x31" + bytes(attrs.dump())[1:]


def _digest(algo: hashes.HashAlgorithm, data: bytes) -> bytes:
    h = hashes.Hash(algo)
    h.update(data)
    return h.finalize()


def _signing_time(attrs: cms.CMSAttributes) -> dt.datetime | None:
    for a in attrs or ():
        if a["type"].native == "signing_time":
            value = a["values"][0].native
            return value if isinstance(value, dt.datetime) else None
    return None


def _verify(cert: x509.Certificate, algo: cms.SignedDigestAlgorithm, value: bytes, data: bytes,
            hash_: hashes.HashAlgorithm) -> None:
    try:
        kind = algo.signature_algo
    except ValueError:  # an OID asn1crypto does not know: GOST and the like
        raise refused("unsupported_algorithm") from None
    key = cert.public_key()
    try:
        if kind == "rsassa_pkcs1v15" and isinstance(key, rsa.RSAPublicKey):
            key.verify(value, data, padding.PKCS1v15(), hash_)
        elif kind == "rsassa_pss" and isinstance(key, rsa.RSAPublicKey):
            params = algo["parameters"]
            pss_hash = _HASHES.get(str(params["hash_algorithm"]["algorithm"].native))
            if pss_hash is None:
                raise refused("unsupported_algorithm")
            key.verify(value, data, padding.PSS(padding.MGF1(pss_hash()), int(params["salt_length"].native)),
                       pss_hash())
        elif kind == "ecdsa" and isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(value, data, ec.ECDSA(hash_))
        else:
            raise refused("unsupported_algorithm")
    except (InvalidSignature, ValueError):
        raise refused("bad_signature") from None
    except UnsupportedAlgorithm:
        raise refused("unsupported_algorithm") from None


def _valid_at(cert: x509.Certificate, at: dt.datetime) -> None:
    if at < cert.not_valid_before_utc:
        raise refused("cert_not_yet_valid")
    if at > cert.not_valid_after_utc:
        raise refused("cert_expired")


def _key_usage(cert: x509.Certificate) -> None:
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        raise refused("key_usage") from None
    if not (usage.digital_signature or usage.content_commitment):
        raise refused("key_usage")


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """``issuer`` is a CA that signed ``cert`` (name, signature, ``cA``, ``keyCertSign`` when stated)."""
    if cert.issuer != issuer.subject:
        return False
    try:
        if not issuer.extensions.get_extension_for_class(x509.BasicConstraints).value.ca:
            return False
    except x509.ExtensionNotFound:
        return False
    try:
        if not issuer.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign:
            return False
    except x509.ExtensionNotFound:
        pass
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def _text(cert: x509.Certificate, oid: x509.ObjectIdentifier) -> str:
    found = cert.subject.get_attributes_for_oid(oid)
    value = found[0].value if found else ""
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _person(cert: x509.Certificate, *, revocation: str) -> Signer:
    issuer = cert.issuer.get_attributes_for_oid(NameOID.COMMON_NAME)
    return Signer(snils=_text(cert, SNILS_OID), surname=_text(cert, NameOID.SURNAME),
                  given_name=_text(cert, NameOID.GIVEN_NAME), common_name=_text(cert, NameOID.COMMON_NAME),
                  serial=format(cert.serial_number, "x"),
                  issuer=str(issuer[0].value) if issuer else cert.issuer.rfc4514_string(), revocation=revocation)
