"""Keys and certificates of the single-node cluster (python ``cryptography``), all in one folder.

One CA signs: the API server's serving certificate (its addresses inside the namespace, the
``kubernetes`` Service's, and 127.0.0.1 where the host's relay reaches it), the kubelet's
serving certificate (the API server checks it when it calls the kubelet for logs, exec and
port-forward), and the API server's client certificate for those calls (the kubelet checks it
against the CA, then asks the API server whether that user may). The ServiceAccount token
signing pair is an RSA key. Private keys are 0600.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

SERVICE_NAMES = (
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
    "localhost",
)


def write_pki(root: Path, api_ips: list[str], node_name: str, node_ip: str) -> None:
    from cryptography import x509
    from cryptography.x509.oid import ExtendedKeyUsageOID

    from servers.pki import Authority, name, service_account_pair, write_files

    def ips(values: list[str]) -> list[x509.GeneralName]:
        return [x509.IPAddress(ipaddress.ip_address(v)) for v in values]

    ca = Authority("dwt-cluster-ca")
    server = ca.leaf(
        name("kube-apiserver"),
        ExtendedKeyUsageOID.SERVER_AUTH,
        [x509.DNSName(n) for n in SERVICE_NAMES] + ips(api_ips),
    )
    kubelet = ca.leaf(
        name(node_name), ExtendedKeyUsageOID.SERVER_AUTH, [x509.DNSName(node_name), *ips([node_ip])]
    )
    client = ca.leaf(
        name("kube-apiserver-kubelet-client", "system:masters"), ExtendedKeyUsageOID.CLIENT_AUTH
    )
    files = {
        "ca.crt": ca.cert_pem(),
        "server.crt": server[0],
        "server.key": server[1],
        "kubelet.crt": kubelet[0],
        "kubelet.key": kubelet[1],
        "kubelet-client.crt": client[0],
        "kubelet-client.key": client[1],
    }
    write_files(root, files | service_account_pair())
