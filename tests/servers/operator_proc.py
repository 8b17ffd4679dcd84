"""The operator as deployed, against the real API server (`kube.KubeServer`).

An *install* puts into the server what a person installs — the CRDs, the operator's
ServiceAccount and RBAC, its Deployment (which never runs a pod here: no kubelet) — either
from ``manifests/`` (cluster-wide, `install_manifests`) or from the Helm chart rendered with
Helm's Go SDK (one namespace, `install_chart`). `OperatorProcess` then runs what that
Deployment's container runs — ``python -m dwt_operator`` with the Deployment's arguments and
``DWT_OPERATOR_*`` environment — as a subprocess, logged in with a kubeconfig holding a
TokenRequest token of the Deployment's ServiceAccount: it may do exactly what the installed
RBAC grants. Only the addresses that differ outside a cluster are overridden (the Ray head,
the keys' mount root, the ``dwt`` command, the liveness port) plus, for speed, the poll and
retry intervals.

    install = install_manifests(kube)
    with OperatorProcess(kube, install, tmp_path, ray_address=head) as operator:
        create_job(kube, ns, {...})
        operator.wait_for(lambda: job_phase(kube, ns, "weekly") == "Succeeded", 120, "...")

Helpers for CommunityJobs (`create_job`, `get_job`, `patch_job`, `job_status`,
`delete_jobs`), Events (`events`) and namespaces (`fresh_namespace`) go through the admin's
plain HTTP (`KubeServer.request`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import os
import re
import sys
import textwrap
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml

from vendored import kuberay_crd_file

from .apply import render_chart
from .kube import KubeServer
from .process import Process, free_port, log_tail

T = TypeVar("T")

REPO = Path(__file__).resolve().parents[2]
MANIFESTS = REPO / "manifests"
GROUP, VERSION, PLURAL = "discoverweekly.io", "v1alpha1", "communityjobs"
CONTAINER_LIVENESS = "http://0.0.0.0:8080/healthz"
KOPF_FINALIZER = "kopf.zalando.org/KopfFinalizerMarker"


# --- installing --------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Install:
    """What an install put into the server for the operator: where its ServiceAccount is,
    what its Deployment's container runs (``command``) with which ``env`` (plain values), and
    the namespaces it watches (empty: all). ``objects``: everything applied, for tests."""

    namespace: str
    service_account: str
    command: tuple[str, ...]
    env: Mapping[str, str]
    watched: tuple[str, ...]
    objects: tuple[Mapping[str, Any], ...] = ()

    def object(self, kind: str, component: str | None = None) -> Mapping[str, Any]:
        """The one applied object of ``kind`` (and ``app.kubernetes.io/component``)."""
        found = [
            o
            for o in self.objects
            if o["kind"] == kind
            and (
                component is None
                or (o["metadata"].get("labels") or {}).get("app.kubernetes.io/component")
                == component
            )
        ]
        if len(found) != 1:
            raise AssertionError(f"{len(found)} {kind} objects for {component}")
        return found[0]


def _docs(paths: Iterable[Path]) -> list[dict[str, Any]]:
    return [doc for path in paths for doc in yaml.safe_load_all(path.read_text()) if doc]


def _container(deployment: Mapping[str, Any]) -> tuple[tuple[str, ...], dict[str, str]]:
    """What the container runs after the image's entrypoint (an init, tini, as PID 1: the
    Deployment gives ``args`` and no ``command``) and its plain environment."""
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    if "command" in container:
        raise AssertionError(f"the operator's command replaces the image's init: {container}")
    env = {}
    for item in container.get("env") or []:
        if "value" not in item:
            raise AssertionError(f"operator env {item['name']} is not a plain value: {item}")
        env[item["name"]] = str(item["value"])
    return tuple(container["args"]), env


def apply(
    kube: KubeServer, objects: Iterable[Mapping[str, Any]], kubeconfig: Path | None = None
) -> None:
    """``kubectl apply`` the objects (one YAML stream) as the admin."""
    text = yaml.safe_dump_all([dict(o) for o in objects], sort_keys=False)
    kube.kubectl("apply", "-f", "-", input=text, kubeconfig=kubeconfig)


def install_crds(kube: KubeServer) -> None:
    """``kubectl apply -f manifests/crds/`` and wait until they are served."""
    crds = _docs(sorted((MANIFESTS / "crds").glob("*.yaml")))
    kube.kubectl("apply", "-f", str(MANIFESTS / "crds"))
    kube.install_crds(crds)


def install_manifests(kube: KubeServer) -> Install:
    """``kubectl apply`` manifests/crds/ then manifests/operator/ (namespace, ServiceAccount,
    ClusterRole and binding, ClusterKopfPeering, Deployment): the cluster-wide operator.
    Idempotent (the objects have fixed names; a session applies them once or more)."""
    install_crds(kube)
    kube.kubectl("apply", "-f", str(MANIFESTS / "operator"))
    objects = _docs(sorted((MANIFESTS / "operator").glob("*.yaml")))
    (deployment,) = [o for o in objects if o["kind"] == "Deployment"]
    command, env = _container(deployment)
    return Install(
        namespace=deployment["metadata"]["namespace"],
        service_account=deployment["spec"]["template"]["spec"]["serviceAccountName"],
        command=command,
        env=env,
        watched=tuple(json.loads(env.get("DWT_OPERATOR_NAMESPACES", "[]"))),
        objects=tuple(objects),
    )


def install_chart(
    kube: KubeServer, namespace: str, values: Mapping[str, Any] | None = None, release: str = "dwt"
) -> Install:
    """Apply the chart's CRDs (its crds/ are manifests/crds/, checked by test_chart) and
    EVERY object the chart renders for ``release`` in ``namespace`` (a fresh one): the
    namespaced operator's ServiceAccount, Role, RoleBinding, ClusterRole (CRDs and
    namespaces, read only), KopfPeering, Deployment, and the rest of the release (Ray head
    and workers or a RayCluster, MongoDB, dashboard, Secrets, NetworkPolicies)."""
    install_crds(kube)
    kube.ensure_namespace(namespace)
    # Not its hooks: `helm install` does not create the pre-delete hook's Job and account.
    objects = [
        o
        for o in render_chart(values or {}, namespace, release)
        if "helm.sh/hook" not in (o["metadata"].get("annotations") or {})
    ]
    apply(kube, objects)
    deployment = next(
        o
        for o in objects
        if o["kind"] == "Deployment"
        and (o["metadata"]["labels"].get("app.kubernetes.io/component") == "operator")
    )
    command, env = _container(deployment)
    return Install(
        namespace=namespace,
        service_account=deployment["spec"]["template"]["spec"]["serviceAccountName"],
        command=command,
        env=env,
        watched=tuple(json.loads(env.get("DWT_OPERATOR_NAMESPACES", "[]"))),
        objects=tuple(objects),
    )


@functools.cache
def _kuberay_crds() -> tuple[dict[str, Any], ...]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # 0.9 MB of YAML: parsed once
    text = kuberay_crd_file("rayclusters").read_text()
    return tuple(d for d in yaml.load_all(text, Loader=loader) if d)


def install_kuberay_crd(kube: KubeServer) -> None:
    """KubeRay's published RayCluster CRD (vendored in tests/data/) into the server
    (created unless there, then served)."""
    kube.install_crds(_kuberay_crds(), timeout=60)


# --- the operator process ------------------------------------------------------------------------


class OperatorFailed(AssertionError):
    """The operator process exited; the message ends with its log's tail."""


class OperatorProcess:
    """``python -m dwt_operator`` as ``install``'s Deployment runs it, under its
    ServiceAccount. ``overrides`` replace ``DWT_OPERATOR_*`` values (``ray_address=...`` sets
    ``DWT_OPERATOR_RAY_ADDRESS``; ``None`` removes one). A context manager: starts, waits
    until it watches CommunityJobs, stops (SIGTERM, as the kubelet does) at the end."""

    def __init__(self, kube: KubeServer, install: Install, tmp_dir: Path, **overrides: Any) -> None:
        self.kube = kube
        self.install = install
        self.tmp_dir = Path(tmp_dir)
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        self.log = self.tmp_dir / f"operator-{uuid.uuid4().hex[:6]}.log"
        self.kubeconfig = self.tmp_dir / f"operator-{uuid.uuid4().hex[:6]}.kubeconfig"
        env = dict(install.env)
        for key, value in overrides.items():
            name = f"DWT_OPERATOR_{key.upper()}"
            if value is None:
                env.pop(name, None)
            else:
                env[name] = str(value)
        self.env = env
        self.process: Process | None = None
        self.port = 0

    # -- life cycle ---------------------------------------------------------------------------
    def argv(self) -> list[str]:
        command = list(self.install.command)
        if command[:3] != ["python", "-m", "dwt_operator"]:
            raise AssertionError(f"the Deployment runs {command}, not python -m dwt_operator")
        argv = [sys.executable, *command[1:]]
        if CONTAINER_LIVENESS not in argv:
            raise AssertionError(f"the Deployment's probe address is not in {command}")
        self.port = free_port()
        argv[argv.index(CONTAINER_LIVENESS)] = f"http://127.0.0.1:{self.port}/healthz"
        return argv

    def start(self, timeout: float = 90.0) -> OperatorProcess:
        """Start it (a new token: as a new pod would get) and wait until it watches
        CommunityJobs (the API server's own count of WATCH requests) and its health server
        answers (ready or not: `ready` says which)."""
        token = self.kube.token_for(self.install.namespace, self.install.service_account)
        self.kube.write_kubeconfig(self.kubeconfig, token, namespace=self.install.namespace)
        env = {
            k: v
            for k, v in os.environ.items()
            if k in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "TZ")
        }
        env.update(self.env, KUBECONFIG=str(self.kubeconfig), PYTHONUNBUFFERED="1")
        before = watches(self.kube)
        self.process = Process("dwt-operator", self.argv(), self.log, env=env, cwd=self.tmp_dir)
        try:
            self.wait_for(
                lambda: watches(self.kube) > before, timeout, "the operator to watch CommunityJobs"
            )
            self.wait_for(self.alive, timeout, "the operator's health server")
        except BaseException:
            self.stop()
            raise
        return self

    def health(self) -> tuple[int, str] | None:
        """Its health endpoint's answer (status, body), None when nothing answers. 200
        while its probes pass (the Kubernetes API lets it list CommunityJobs, Ray answers);
        500 otherwise. kopf keeps an answer for 10 s."""
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{self.port}/healthz", timeout=20
            ) as response:
                return response.status, response.read().decode(errors="replace")
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode(errors="replace")
        except OSError:
            return None

    def alive(self) -> bool:
        """Whether its health server answers at all (the Deployment's liveness probe)."""
        return self.health() is not None

    def ready(self) -> bool:
        """Whether its health endpoint answers 200 (the Deployment's readiness probe)."""
        answer = self.health()
        return answer is not None and answer[0] == 200

    def stop(self) -> int | None:
        """SIGTERM (kopf stops gracefully), then SIGKILL after 20 s; the exit status."""
        if self.process is None:
            return None
        process, self.process = self.process, None
        serving = watches(self.kube) if process.running() else 0
        code = process.stop(timeout=20)
        # Until the API server has ended its WATCH, a new operator's start would count it.
        deadline = time.monotonic() + 10
        while serving and watches(self.kube) >= serving and time.monotonic() < deadline:
            time.sleep(0.1)
        return code

    def restart(self) -> OperatorProcess:
        self.stop()
        return self.start()

    def __enter__(self) -> OperatorProcess:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
        self.release()

    def release(self) -> list[str]:
        """Drop kopf's finalizer from every CommunityJob this operator could see (its
        namespaces, or all): once it is gone nothing would release them, and a later test
        deleting one (a cluster-wide operator also finalizes other tests' jobs) would wait
        forever. Returns ``namespace/name`` of those released."""
        paths = (
            [_jobs_path(ns) for ns in self.install.watched]
            if self.install.watched
            else [f"/apis/{GROUP}/{VERSION}/{PLURAL}"]
        )
        released = []
        for path in paths:
            for item in _ok(self.kube.request("GET", path), "list jobs")["items"]:
                meta = item["metadata"]
                finalizers = meta.get("finalizers") or []
                if KOPF_FINALIZER not in finalizers:
                    continue
                kept = [f for f in finalizers if f != KOPF_FINALIZER] or None
                self.kube.request(
                    "PATCH",
                    _jobs_path(meta["namespace"], meta["name"]),
                    {"metadata": {"finalizers": kept, "resourceVersion": meta["resourceVersion"]}},
                    content_type="application/merge-patch+json",
                )
                released.append(f"{meta['namespace']}/{meta['name']}")
        return released

    # -- checks -------------------------------------------------------------------------------
    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def problems(self) -> list[str]:
        """Its log's WARNING, ERROR and CRITICAL lines and tracebacks: kopf survives a 403 on
        an Event or its peering by logging it, so a gap in the RBAC shows here."""
        return [
            line
            for line in self.output().splitlines()
            if re.search(r" (WARNING|ERROR|CRITICAL) |^Traceback", line)
        ]

    def check(self) -> None:
        """Raise `OperatorFailed` (with the log's tail) if a started process has exited."""
        if self.process is not None and not self.process.running():
            raise OperatorFailed(
                f"python -m dwt_operator exited with status "
                f"{self.process.popen.returncode}:\n{log_tail(self.log, 60)}"
            )

    def wait_for(self, predicate: Callable[[], T], timeout: float, message: str) -> T:
        """Poll ``predicate`` (every 0.25 s) until truthy; fail at once if the operator dies,
        or after ``timeout`` s with the operator log's tail."""
        deadline = time.monotonic() + timeout
        while True:
            self.check()
            result = predicate()
            if result:
                return result
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"timed out after {timeout:.0f}s waiting for {message}; "
                    f"operator log:\n{log_tail(self.log, 40)}"
                )
            time.sleep(0.25)


def watches(kube: KubeServer, resource: str = PLURAL, group: str = GROUP) -> int:
    """How many WATCH requests on ``group/resource`` the API server is serving now (its
    ``apiserver_longrunning_requests`` gauge)."""
    status, text = kube.request("GET", "/metrics")
    if status != 200:
        raise AssertionError(f"GET /metrics -> {status}")
    pattern = re.compile(r"^apiserver_longrunning_requests\{(?P<labels>[^}]*)\} (?P<n>\S+)$", re.M)
    total = 0
    for match in pattern.finditer(text):
        labels = dict(re.findall(r'(\w+)="([^"]*)"', match["labels"]))
        if (
            labels.get("verb") == "WATCH"
            and labels.get("group") == group
            and labels.get("resource") == resource
            and not labels.get("subresource")
        ):
            total += int(float(match["n"]))
    return total


# --- objects -----------------------------------------------------------------------------------


def fresh_namespace(kube: KubeServer, prefix: str) -> str:
    """A new namespace ``<prefix><8 hex>``, no ``-`` in it so run ids stay readable
    (``dwt-<namespace>-<name>-g1``); namespaces never finish deleting here."""
    name = f"{prefix}{uuid.uuid4().hex[:8]}"
    kube.ensure_namespace(name)
    return name


def _jobs_path(namespace: str, name: str = "") -> str:
    path = f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{PLURAL}"
    return f"{path}/{name}" if name else path


def _ok(result: tuple[int, Any], what: str) -> Any:
    status, body = result
    if status >= 300:
        raise AssertionError(f"{what} -> {status}: {body}")
    return body


def community_job(namespace: str, name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "CommunityJob",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def create_job(kube: KubeServer, namespace: str, name: str, **spec: Any) -> dict[str, Any]:
    """Create a CommunityJob (as the admin: a person's ``kubectl apply``)."""
    return _ok(
        kube.request("POST", _jobs_path(namespace), community_job(namespace, name, **spec)),
        f"create {name}",
    )


def get_job(kube: KubeServer, namespace: str, name: str) -> dict[str, Any] | None:
    status, body = kube.request("GET", _jobs_path(namespace, name))
    if status == 404:
        return None
    return _ok((status, body), f"get {name}")


def job_status(kube: KubeServer, namespace: str, name: str) -> dict[str, Any]:
    return (get_job(kube, namespace, name) or {}).get("status") or {}


def patch_job(
    kube: KubeServer, namespace: str, name: str, patch: Mapping[str, Any]
) -> dict[str, Any]:
    return _ok(
        kube.request(
            "PATCH",
            _jobs_path(namespace, name),
            dict(patch),
            content_type="application/merge-patch+json",
        ),
        f"patch {name}",
    )


def delete_jobs(kube: KubeServer, namespace: str, timeout: float = 30.0) -> list[str]:
    """Delete every CommunityJob in ``namespace``; wait up to ``timeout`` s for a running
    operator to release its finalizer, then drop what is left's finalizers (an operator that
    is gone never will). Returns the names whose finalizers had to be dropped."""
    items = _ok(kube.request("GET", _jobs_path(namespace)), "list jobs")["items"]
    names = [item["metadata"]["name"] for item in items]
    for name in names:
        kube.request("DELETE", _jobs_path(namespace, name))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(get_job(kube, namespace, n) for n in names):
        time.sleep(0.25)
    forced = [n for n in names if get_job(kube, namespace, n) is not None]
    for name in forced:
        kube.request(
            "PATCH",
            _jobs_path(namespace, name),
            {"metadata": {"finalizers": None}},
            content_type="application/merge-patch+json",
        )
    return forced


def events(kube: KubeServer, namespace: str, name: str | None = None) -> list[dict[str, Any]]:
    """The core/v1 Events in ``namespace`` (about the object ``name``, if given)."""
    items = _ok(kube.request("GET", f"/api/v1/namespaces/{namespace}/events"), "list events")[
        "items"
    ]
    return [e for e in items if name is None or e["involvedObject"].get("name") == name]


def secret(namespace: str, name: str, keys: Iterable[str]) -> dict[str, Any]:
    """An Opaque Secret with one entry per key (``key-0``, ``key-1``, ...)."""
    import base64

    data = {f"key-{i}": base64.b64encode(k.encode()).decode() for i, k in enumerate(keys)}
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {"name": name, "namespace": namespace},
        "data": data,
    }


def put_keys(kube: KubeServer, namespace: str, name: str, keys: Iterable[str]) -> None:
    """API keys into an existing Secret (the chart's, empty), as the dashboard's API keys
    page does: a merge patch of its data."""
    path = f"/api/v1/namespaces/{namespace}/secrets/{name}"
    _ok(
        kube.request(
            "PATCH",
            path,
            {"data": secret(namespace, name, keys)["data"]},
            content_type="application/merge-patch+json",
        ),
        f"PATCH {path}",
    )


def create(kube: KubeServer, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
    """POST ``body`` to ``path`` as the admin; fails on any error."""
    return _ok(kube.request("POST", path, dict(body)), f"POST {path}")


def worker_deployment(namespace: str, name: str = "dwt-ray-worker") -> dict[str, Any]:
    """A plain Ray worker Deployment (as the chart's, reduced): the operator scales it."""
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "ray", "image": "ray"}]},
            },
        },
    }


# --- a stand-in for dwt on the Ray head ---------------------------------------------------------

STAND_IN = """\
#!{python}
# Stand-in for `dwt`: behaves by community name; counts its runs in a file per run id.
import json, sys, time
from pathlib import Path
args = sys.argv[1:]
spec = json.loads(args[args.index("--spec-json") + 1])
run = args[args.index("--run-id") + 1]
calls = Path("{state}") / run
calls.write_text(str(int(calls.read_text()) + 1 if calls.exists() else 1))
community = spec["community"]
def progress(event):
    print("DWT_PROGRESS " + json.dumps(event), flush=True)
progress({{"event": "step", "step": "bonds", "state": "running"}})
if community == "fail-once" and calls.read_text() == "1":
    print("Traceback: boom on the first attempt", flush=True)
    sys.exit(1)
if community.startswith("busy") and calls.read_text() == "1":
    # What `dwt run` does when another run holds the community's store lease.
    progress({{"event": "busy", "community": community, "holder": "dwt-elsewhere-g1",
               "message": f"community {{community}} is being run by dwt-elsewhere-g1"}})
    sys.exit(75)
if community.startswith("lost") and calls.read_text() == "1":
    time.sleep(300)  # until its Ray head is replaced
if community.startswith("slow"):
    time.sleep(300)
if community.startswith("nap"):
    time.sleep(5)
time.sleep(1)
progress({{"event": "summary", "status": "succeeded", "counts": {{"bonds": 7}}}})
"""


def write_stand_in(directory: Path) -> tuple[Path, Path]:
    """A ``dwt`` stand-in script (see `STAND_IN`: ``fail-once`` fails its first attempt,
    ``busy*`` finds its community busy on its first call (the driver's ``busy`` event, exit
    75), ``lost*`` sleeps 300 s on its first call, ``slow*`` sleeps 300 s, ``nap*`` 5 s,
    anything else succeeds in a second with counts {"bonds": 7})
    and the directory where it counts its runs; returns (script, calls directory)."""
    state = directory / "calls"
    state.mkdir(parents=True, exist_ok=True)
    script = directory / "dwt"
    script.write_text(textwrap.dedent(STAND_IN.format(python=sys.executable, state=state)))
    script.chmod(0o755)
    return script, state


@contextlib.contextmanager
def cleaned_up(kube: KubeServer, namespace: str, timeout: float = 30.0):
    """Delete the namespace's CommunityJobs afterwards (see `delete_jobs`): a cluster-wide
    operator of a later test must not find them (namespaces never finish deleting here)."""
    try:
        yield namespace
    finally:
        delete_jobs(kube, namespace, timeout)
