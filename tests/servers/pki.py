"""A throwaway certificate authority (python ``cryptography``) for the servers the tests run:
the test API server (`servers.kube`) and the single-node cluster (`cluster.pki`) sign their
certificates the same way.

EC P-256 keys, SHA-256 signatures, valid from five minutes ago for 30 days (a clock a little
behind the machine's still accepts them); private keys in PEM PKCS#8, written 0600.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID


def pem_key(key: Any) -> bytes:
    """A private key as unencrypted PEM (PKCS#8)."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def name(common: str, org: str | None = None) -> x509.Name:
    """A subject of this common name (and organisation: Kubernetes reads it as a group)."""
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, common)]
    if org:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    return x509.Name(attrs)


def _usage(ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        key_cert_sign=ca,
        crl_sign=ca,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        encipher_only=False,
        decipher_only=False,
    )


class Authority:
    """A self-signed CA named ``common``; :meth:`leaf` issues certificates under it."""

    def __init__(self, common: str) -> None:
        self.not_before = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=5)
        self.not_after = self.not_before + datetime.timedelta(days=30)
        self._key = ec.generate_private_key(ec.SECP256R1())
        self._name = name(common)
        self._ski = x509.SubjectKeyIdentifier.from_public_key(self._key.public_key())
        self.cert = (
            self._builder(self._name, self._key.public_key())
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_usage(True), critical=True)
            .add_extension(self._ski, critical=False)
            .sign(self._key, hashes.SHA256())
        )

    def _builder(self, subject: x509.Name, public_key: Any) -> x509.CertificateBuilder:
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self._name)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(self.not_before)
            .not_valid_after(self.not_after)
        )

    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def leaf(
        self, subject: x509.Name, purpose: Any, sans: Sequence[x509.GeneralName] = ()
    ) -> tuple[bytes, bytes]:
        """A certificate for ``purpose`` (an ``ExtendedKeyUsageOID``) with these subject
        alternative names, and its key: both PEM."""
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            self._builder(subject, key.public_key())
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_usage(False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([purpose]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(self._ski),
                critical=False,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
            )
        )
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        cert = builder.sign(self._key, hashes.SHA256())
        return cert.public_bytes(serialization.Encoding.PEM), pem_key(key)


def service_account_pair() -> dict[str, bytes]:
    """``sa.key`` / ``sa.pub``: the RSA pair the API server signs ServiceAccount tokens with."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return {"sa.key": pem_key(key), "sa.pub": public}


def write_files(root: Path, files: Mapping[str, bytes]) -> None:
    """Each file under ``root`` (made if missing); the ``.key`` files 0600."""
    root.mkdir(parents=True, exist_ok=True)
    for filename, data in files.items():
        path = root / filename
        path.write_bytes(data)
        if filename.endswith(".key"):
            path.chmod(0o600)
