"""Real certificates and real CMS signatures for the e-signature tests: a CA made with ``cryptography``'s x509
builder, personal certificates carrying the SNILS (1.2.643.100.3, NumericString), surname and «Имя Отчество»
as Russian qualified certificates do, and detached DER signatures from ``PKCS7SignatureBuilder``."""

from __future__ import annotations

import base64
import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import NameOID

SNILS_OID = x509.ObjectIdentifier("1.2.643.100.3")
NOW = dt.datetime.now(dt.UTC)
YEAR = dt.timedelta(days=365)


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
    root: Issued = field(init=False)
    issuer: Issued = field(init=False)
    intermediate: Issued | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, self.name)])
        cert = (_base(subject, subject, key.public_key(), NOW - YEAR, NOW + 5 * YEAR)
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .add_extension(_usage(key_cert_sign=True), critical=True)
                .sign(key, hashes.SHA256()))
        self.root = self.issuer = Issued(cert, key)

    def with_intermediate(self) -> Ca:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, self.name + " (подчинённый)")])
        cert = (_base(subject, self.root.cert.subject, key.public_key(), NOW - YEAR, NOW + 4 * YEAR)
                .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                .add_extension(_usage(key_cert_sign=True), critical=True)
                .sign(self.root.key, hashes.SHA256()))
        self.intermediate = self.issuer = Issued(cert, key)
        return self

    def write_root(self, directory: Path) -> str:
        path = directory / f"root-{self.root.cert.serial_number:x}.pem"
        path.write_bytes(self.root.pem())
        return str(path)

    def person(self, *, snils: str | None, surname: str | None = "Петрова", given: str | None = "Анна Сергеевна",
               key_type: str = "rsa", not_before: dt.datetime | None = None, not_after: dt.datetime | None = None,
               usage: dict[str, bool] | None = None, issuer: Issued | None = None) -> Issued:
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
        builder = _base(x509.Name(attrs), by.cert.subject, key.public_key(), not_before or NOW - YEAR / 2,
                        not_after or NOW + YEAR)
        if usage != {}:
            builder = builder.add_extension(_usage(**(usage or {"digital_signature": True, "content_commitment": True})),
                                            critical=True)
        return Issued(builder.sign(by.key, hashes.SHA256()), key)

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
