"""Keys and certificates of the single-node cluster (python ``cryptography``), all in one folder.

One CA signs: the API server's serving certificate (its addresses inside the namespace, the
``kubernetes`` Service's, and 127.0.0.1 where the host's relay reaches it), the kubelet's
serving certificate (the API server checks it when it calls the kubelet for logs, exec and
port-forward), and the API server's client certificate for those calls (the kubelet checks it
against the CA, then asks the API server whether that user may). The ServiceAccount token
signing pair is an RSA key. Private keys are 0600.
"""

from __future__ import annotations

import datetime
import ipaddress
from pathlib import Path
from typing import Any

SERVICE_NAMES = (
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
    "localhost",
)


def write_pki(root: Path, api_ips: list[str], node_name: str, node_ip: str) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=5)
    later = now + datetime.timedelta(days=30)

    def pem_key(key: Any) -> bytes:
        return key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def usage(ca: bool) -> x509.KeyUsage:
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

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dwt-cluster-ca")])
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(later)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(usage(True), critical=True)
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    def leaf(
        name: x509.Name, purpose: Any, sans: list[x509.GeneralName] | None = None
    ) -> tuple[bytes, bytes]:
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(later)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(usage(False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([purpose]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
                critical=False,
            )
        )
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        cert = builder.sign(ca_key, hashes.SHA256())
        return cert.public_bytes(serialization.Encoding.PEM), pem_key(key)

    def cn(common: str, org: str | None = None) -> x509.Name:
        attrs = [x509.NameAttribute(NameOID.COMMON_NAME, common)]
        if org:
            attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
        return x509.Name(attrs)

    def ips(values: list[str]) -> list[x509.GeneralName]:
        return [x509.IPAddress(ipaddress.ip_address(v)) for v in values]

    server = leaf(
        cn("kube-apiserver"),
        ExtendedKeyUsageOID.SERVER_AUTH,
        [x509.DNSName(n) for n in SERVICE_NAMES] + ips(api_ips),
    )
    kubelet = leaf(
        cn(node_name), ExtendedKeyUsageOID.SERVER_AUTH, [x509.DNSName(node_name), *ips([node_ip])]
    )
    client = leaf(
        cn("kube-apiserver-kubelet-client", "system:masters"), ExtendedKeyUsageOID.CLIENT_AUTH
    )
    sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    files = {
        "ca.crt": ca.public_bytes(serialization.Encoding.PEM),
        "server.crt": server[0],
        "server.key": server[1],
        "kubelet.crt": kubelet[0],
        "kubelet.key": kubelet[1],
        "kubelet-client.crt": client[0],
        "kubelet-client.key": client[1],
        "sa.key": pem_key(sa_key),
        "sa.pub": sa_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
    }
    root.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        path = root / name
        path.write_bytes(data)
        if name.endswith(".key"):
            path.chmod(0o600)
