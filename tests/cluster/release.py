"""The product on the cluster: `helm install` of charts/discover-weekly (Helm's Go SDK, the
helm-python-sdk wheel, against the API server through the host's relay), beside the two
stand-ins this machine needs, each a pod of its own:

- FerretDB (the official ``mongo`` image cannot be pulled here; FerretDB speaks MongoDB's wire
  protocol) as a Deployment + Service, given to the chart through ``mongodb.external`` — what
  a person does with a managed MongoDB. The chart's own MongoDB StatefulSet is rendered and
  admitted separately (`admit_chart_mongodb`).
- The X API v2 emulator (``dwt emulator`` from the product image, serving a ``dwt generate``
  dataset made by an init container) as a Deployment + Service: the real X API is unreachable.
  It accepts the bearer tokens the chart's API-key Secret holds.

The namespace enforces the restricted Pod Security Standard: every pod (the chart's, the
stand-ins', the members Job's) is admitted under it.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime
import secrets
import threading
import time
from typing import Any

import yaml

from servers.paths import REPO, server

from .node import Cluster, ClusterFailed, wait_for

CHART = REPO / "charts" / "discover-weekly"
RELEASE = "dwt"
FULLNAME = f"{RELEASE}-discover-weekly"
KEYS_SECRET = "x-api-keys"
STORE_SECRET = "store-url"
COMMUNITY = "e2e"
# The generated community: small enough for two cores, large enough for several clusters.
DATASET = {"members": 60, "communities": 3, "days": 3, "seed": 5, "now": "2026-01-05T00:00:00Z"}
RESTRICTED = {
    "pod-security.kubernetes.io/enforce": "restricted",
    "pod-security.kubernetes.io/enforce-version": "latest",
    "pod-security.kubernetes.io/warn": "restricted",
}
NONROOT = {
    "runAsNonRoot": True,
    "runAsUser": 65532,
    "runAsGroup": 65532,
    "seccompProfile": {"type": "RuntimeDefault"},
}
CONTAINER = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "capabilities": {"drop": ["ALL"]},
}


@dataclasses.dataclass
class Release:
    """The installed product: namespace, image, the keys, the dashboard's login."""

    cluster: Cluster
    namespace: str
    image: str
    keys: list[str]
    user: str
    password: str
    values: dict[str, Any]

    @property
    def store_url(self) -> str:
        return f"mongodb://ferretdb.{self.namespace}.svc:27017/dwt"

    def helm(self) -> Any:
        import helm_python as helm

        return helm.Config(kubeconfig_path=str(self.cluster.kubeconfig), namespace=self.namespace)

    def helm_do(self, action: str, *args: Any, **kwargs: Any) -> Any:
        """A Helm SDK action (install, upgrade, uninstall) on a thread of its own, so a
        process of the cluster dying or Ctrl-C ends the wait (the SDK blocks in Go, where
        Python's signals cannot reach); install and upgrade are then cancelled."""
        return helm_do(self.cluster, self.helm, action, *args, **kwargs)

    def pods(self) -> list[dict[str, Any]]:
        status, body = self.cluster.request("GET", f"/api/v1/namespaces/{self.namespace}/pods")
        if status != 200:
            raise ClusterFailed(f"listing pods: {status} {body}")
        return body["items"]

    def service_ip(self, name: str) -> str:
        status, svc = self.cluster.request(
            "GET", f"/api/v1/namespaces/{self.namespace}/services/{name}"
        )
        if status != 200:
            raise ClusterFailed(f"service {name}: {status} {svc}")
        return svc["spec"]["clusterIP"]


def helm_do(cluster: Cluster, config: Any, action: str, *args: Any, **kwargs: Any) -> Any:
    import helm_python as helm

    context = helm.HelmContext() if action in ("install", "upgrade") else None
    if context is not None:
        kwargs["context"] = context
    outcome: list[Any] = []

    def run() -> None:
        try:
            with config() as cfg:
                outcome.append(("ok", getattr(cfg, action)(*args, **kwargs)))
        except Exception as e:  # noqa: BLE001 - raised again in the caller's thread
            outcome.append(("error", e))

    thread = threading.Thread(target=run, name=f"helm-{action}", daemon=True)
    thread.start()
    try:
        while thread.is_alive():
            thread.join(1.0)
            cluster.check()
    except BaseException:
        if context is not None:
            context.cancel()
        thread.join(30)
        raise
    kind, value = outcome[0]
    if kind == "error":
        raise value
    return value


def pod_ready(pod: dict[str, Any]) -> bool:
    return any(
        c["type"] == "Ready" and c["status"] == "True"
        for c in pod.get("status", {}).get("conditions", [])
    )


def serving_pods(pods: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Pods that should be Ready: not finished (a Job's), not being deleted."""
    return [
        p
        for p in pods
        if p["status"].get("phase") not in ("Succeeded", "Failed")
        and not p["metadata"].get("deletionTimestamp")
    ]


def namespace(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": dict(RESTRICTED)},
    }


def _secret(ns: str, name: str, data: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {"name": name, "namespace": ns},
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
    }


def _deployment(ns: str, name: str, pod: dict[str, Any]) -> dict[str, Any]:
    labels = {"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": "dwt-cluster-test"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns, "labels": labels},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": pod},
        },
    }


def _service(ns: str, name: str, port: int, target: int) -> dict[str, Any]:
    labels = {"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": "dwt-cluster-test"}
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"selector": labels, "ports": [{"port": port, "targetPort": target}]},
    }


def ferretdb_objects(ns: str) -> list[dict[str, Any]]:
    """FerretDB (SQLite backend, data in an emptyDir) as a pod behind ``ferretdb:27017``."""
    pod = {
        "automountServiceAccountToken": False,
        "securityContext": {**NONROOT, "fsGroup": 65532},
        "containers": [
            {
                "name": "ferretdb",
                "image": f"localhost/ferretdb:{server('ferretdb').version}",
                "imagePullPolicy": "IfNotPresent",
                "args": [
                    "--handler=sqlite",
                    "--sqlite-url=file:/data/",
                    "--listen-addr=:27017",
                    "--state-dir=/state",
                    "--debug-addr=-",
                    "--telemetry=disable",
                    "--log-level=WARN",
                ],
                "env": [{"name": "DO_NOT_TRACK", "value": "1"}],
                "ports": [{"name": "mongodb", "containerPort": 27017}],
                "readinessProbe": {"tcpSocket": {"port": 27017}, "periodSeconds": 2},
                "resources": {
                    "requests": {"cpu": "50m", "memory": "64Mi"},
                    "limits": {"memory": "1Gi"},
                },
                "securityContext": CONTAINER,
                "volumeMounts": [
                    {"name": "data", "mountPath": "/data"},
                    {"name": "state", "mountPath": "/state"},
                ],
            }
        ],
        "volumes": [{"name": "data", "emptyDir": {}}, {"name": "state", "emptyDir": {}}],
    }
    return [_deployment(ns, "ferretdb", pod), _service(ns, "ferretdb", 27017, 27017)]


def _dataset_args(out: str) -> list[str]:
    d = DATASET
    return [
        "dwt",
        "generate",
        "--members",
        str(d["members"]),
        "--communities",
        str(d["communities"]),
        "--days",
        str(d["days"]),
        "--seed",
        str(d["seed"]),
        "--now",
        d["now"],
        "--out",
        out,
    ]


def emulator_objects(ns: str, image: str, keys: list[str]) -> list[dict[str, Any]]:
    """The X API emulator serving a generated community at ``x-api:80``; its tokens (the API
    keys) from a Secret file, never in its argv."""
    product = {
        "runAsNonRoot": True,
        "runAsUser": 10001,
        "runAsGroup": 10001,
        "fsGroup": 10001,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    mounts = [{"name": "data", "mountPath": "/data"}, {"name": "tmp", "mountPath": "/tmp"}]
    pod = {
        "automountServiceAccountToken": False,
        "securityContext": product,
        "initContainers": [
            {
                "name": "generate",
                "image": image,
                "imagePullPolicy": "IfNotPresent",
                "args": _dataset_args("/data/dataset"),
                "securityContext": CONTAINER,
                "volumeMounts": mounts,
                "resources": {
                    "requests": {"cpu": "100m", "memory": "128Mi"},
                    "limits": {"memory": "1Gi"},
                },
            }
        ],
        "containers": [
            {
                "name": "emulator",
                "image": image,
                "imagePullPolicy": "IfNotPresent",
                "args": [
                    "dwt",
                    "emulator",
                    "--dataset",
                    "/data/dataset",
                    "--host",
                    "0.0.0.0",
                    "--port",
                    "8080",
                    "--tokens-file",
                    "/etc/x-api/tokens",
                    "--latency-ms",
                    "50",
                    "--rate-limit",
                    "5000",
                ],
                "ports": [{"name": "http", "containerPort": 8080}],
                "readinessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 2},
                "resources": {
                    "requests": {"cpu": "50m", "memory": "128Mi"},
                    "limits": {"memory": "1Gi"},
                },
                "securityContext": CONTAINER,
                "volumeMounts": [
                    *mounts,
                    {"name": "tokens", "mountPath": "/etc/x-api", "readOnly": True},
                ],
            }
        ],
        "volumes": [
            {"name": "data", "emptyDir": {}},
            {"name": "tmp", "emptyDir": {}},
            {"name": "tokens", "secret": {"secretName": "x-api-tokens", "defaultMode": 0o440}},
        ],
    }
    return [
        _secret(ns, "x-api-tokens", {"tokens": "\n".join(keys) + "\n"}),
        _deployment(ns, "x-api", pod),
        _service(ns, "x-api", 80, 8080),
    ]


DOCS = REPO / "docs" / "helm.md"
DOCS_MARKER = "<!-- cluster-values"


def documented_values() -> dict[str, Any]:
    """The values block of docs/helm.md that a person copies (after its marker comment)."""
    text = DOCS.read_text()
    after = text[text.index(DOCS_MARKER) :]
    block = after.split("```yaml\n", 1)[1].split("```", 1)[0]
    return yaml.safe_load(block)


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        out[key] = (
            _merge(out[key], value)
            if isinstance(value, dict) and isinstance(out.get(key), dict)
            else value
        )
    return out


def chart_values(ns: str, image: str, user_line: str) -> dict[str, Any]:
    """docs/helm.md's values with its placeholders filled in (the image built here, the users
    line, the emulator as the X API), plus what this node needs: requests sized for two cores
    and a quicker operator poll."""
    repository, tag = image.rsplit(":", 1)
    values = documented_values()
    if values["image"]["repository"] != repository or values["image"]["tag"] != "TAG":
        raise ClusterFailed(f"docs/helm.md's values name {values['image']}, not {image}")
    values["image"]["tag"] = tag
    values["dashboard"]["users"]["lines"] = [user_line]
    values["xApi"]["baseUrl"] = f"http://x-api.{ns}.svc"
    if values["mongodb"]["external"] != {
        "existingSecret": STORE_SECRET,
        "existingSecretKey": "url",
    }:
        raise ClusterFailed(f"docs/helm.md's values name another store Secret: {values}")
    small = {"requests": {"cpu": "50m", "memory": "128Mi"}}
    return _merge(
        values,
        {
            "operator": {
                "pollInterval": 2,
                "resources": {**small, "limits": {"cpu": "1", "memory": "512Mi"}},
            },
            "dashboard": {"resources": {**small, "limits": {"cpu": "1", "memory": "1Gi"}}},
            "ray": {
                "head": {
                    "numCpus": 0,
                    "shmSize": "256Mi",
                    "resources": {
                        "requests": {"cpu": "500m", "memory": "768Mi"},
                        "limits": {"cpu": "2", "memory": "3Gi"},
                    },
                },
                "workers": {
                    "replicas": 1,
                    "numCpus": 2,  # one for a driver, one for tasks
                    "shmSize": "256Mi",
                    "resources": {
                        # A worker holds a job's driver beside its collectors and tasks: as
                        # much room as the head had when drivers ran there.
                        "requests": {"cpu": "100m", "memory": "384Mi"},
                        "limits": {"cpu": "2", "memory": "3Gi"},
                    },
                },
            },
        },
    )


def apply(cluster: Cluster, objects: list[dict[str, Any]]) -> None:
    cluster.kubectl(
        "apply", "--server-side", "--validate=strict", "-f", "-", input=yaml.safe_dump_all(objects)
    )


def wait_pods_ready(
    release: Release, timeout: float = 600.0, what: str = "every pod Ready"
) -> list[dict[str, Any]]:
    def ready() -> list[dict[str, Any]] | None:
        pods = serving_pods(release.pods())
        return pods if pods and all(pod_ready(p) for p in pods) else None

    try:
        return wait_for(ready, timeout, what, check=release.cluster.check, interval=2)
    except ClusterFailed as e:
        raise ClusterFailed(f"{e}\n{describe_pods(release)}") from None


def describe_pods(release: Release) -> str:
    """One line per pod: phase, readiness, each container's state (and why it waits)."""
    lines = []
    for p in release.pods():
        st = p["status"]
        states = []
        for c in st.get("initContainerStatuses", []) + st.get("containerStatuses", []):
            state = c.get("state", {})
            kind = next(iter(state), "?")
            why = state.get("waiting", {}).get("reason") or state.get("terminated", {}).get(
                "reason"
            )
            states.append(
                f"{c['name']}:{kind}{f'({why})' if why else ''} restarts={c.get('restartCount', 0)}"
            )
        lines.append(
            f"  {p['metadata']['name']}: {st.get('phase')} ready={pod_ready(p)} " + " ".join(states)
        )
    return "pods:\n" + "\n".join(lines)


def install(cluster: Cluster, image: str, ns: str = "dwt", timeout: int = 900) -> Release:
    """Namespace (restricted), FerretDB and the emulator, then ``helm install`` of the chart
    with the SDK (waiting for its resources), the API keys into the chart's key Secret (as
    the dashboard's API keys page does); returns once every pod of the namespace is Ready."""
    from dwt_dashboard.auth import user_line

    keys = [f"cluster-key-{secrets.token_hex(8)}" for _ in range(2)]
    password = secrets.token_urlsafe(12)
    line = user_line("e2e", password, [COMMUNITY], role="admin")
    cluster.request("POST", "/api/v1/namespaces", namespace(ns))
    apply(
        cluster,
        [
            _secret(ns, STORE_SECRET, {"url": f"mongodb://ferretdb.{ns}.svc:27017/dwt"}),
            *ferretdb_objects(ns),
            *emulator_objects(ns, image, keys),
        ],
    )
    values = chart_values(ns, image, line)
    release = Release(cluster, ns, image, keys, "e2e", password, values)
    release.helm_do(
        "install", str(CHART), RELEASE, values, namespace=ns, wait="watcher", timeout=timeout
    )
    # Right before the first run: its driver waits for the kubelet to refresh the mounted
    # Secret (dwt.collect.keys.KeySource.wait_for_fingerprints), as a person's would.
    put_keys(cluster, ns, keys)
    wait_pods_ready(release)
    return release


def put_keys(cluster: Cluster, ns: str, keys: list[str]) -> None:
    data = {f"key-{i}": base64.b64encode(k.encode()).decode() for i, k in enumerate(keys)}
    status, body = cluster.request(
        "PATCH",
        f"/api/v1/namespaces/{ns}/secrets/{KEYS_SECRET}",
        {"data": data},
        content_type="application/merge-patch+json",
    )
    if status != 200:
        raise ClusterFailed(f"putting the API keys: {status} {body}")


def run_job(release: Release, name: str, args: list[str], timeout: float = 300.0) -> str:
    """A Kubernetes Job from the product image with the chart's store URL and X API settings
    (what a person's ``kubectl create job`` would run); returns its log once it succeeded."""
    ns = release.namespace
    env = [
        {
            "name": "DWT_STORE_URL",
            "valueFrom": {"secretKeyRef": {"name": STORE_SECRET, "key": "url"}},
        },
        {"name": "DWT_X_API_BASE_URL", "value": f"http://x-api.{ns}.svc"},
        {"name": "DWT_API_KEYS_DIR", "value": "/var/run/dwt/keys"},
        {"name": "HOME", "value": "/tmp"},
    ]
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "backoffLimit": 0,
            "ttlSecondsAfterFinished": 600,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "automountServiceAccountToken": False,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": 10001,
                        "runAsGroup": 10001,
                        "fsGroup": 10001,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [
                        {
                            "name": "dwt",
                            "image": release.image,
                            "imagePullPolicy": "IfNotPresent",
                            "args": args,
                            "env": env,
                            "securityContext": CONTAINER,
                            "resources": {
                                "requests": {"cpu": "50m", "memory": "128Mi"},
                                "limits": {"memory": "1Gi"},
                            },
                            "volumeMounts": [
                                {"name": "tmp", "mountPath": "/tmp"},
                                {
                                    "name": "keys",
                                    "mountPath": "/var/run/dwt/keys",
                                    "readOnly": True,
                                },
                            ],
                        }
                    ],
                    "volumes": [
                        {"name": "tmp", "emptyDir": {}},
                        {
                            "name": "keys",
                            "secret": {"secretName": KEYS_SECRET, "defaultMode": 0o440},
                        },
                    ],
                }
            },
        },
    }
    apply(release.cluster, [job])

    def done() -> str | None:
        status, body = release.cluster.request("GET", f"/apis/batch/v1/namespaces/{ns}/jobs/{name}")
        st = body.get("status", {}) if status == 200 else {}
        if st.get("failed"):
            raise ClusterFailed(f"job {name} failed:\n{job_log(release, name)}")
        return "done" if st.get("succeeded") else None

    wait_for(done, timeout, f"job {name}", check=release.cluster.check, interval=1)
    return job_log(release, name)


def job_log(release: Release, name: str) -> str:
    return release.cluster.kubectl(
        "-n", release.namespace, "logs", f"job/{name}", check=False
    ).stdout


def admit_chart_mongodb(cluster: Cluster, ns: str, image: str) -> list[str]:
    """The chart's own MongoDB (StatefulSet, headless Service, credentials) rendered with
    ``mongodb.enabled`` and sent to the API server as a server-side dry run: validated and
    admitted (restricted Pod Security included) without running the mongo image, which
    cannot be pulled here. Returns the kinds admitted."""
    import helm_python as helm

    repository, tag = image.rsplit(":", 1)
    with helm.Chart.load(CHART) as chart:
        files = chart.render(
            {"image": {"repository": repository, "tag": tag}}, name="admit", namespace=ns
        )
    docs = [
        d
        for path, text in sorted(files.items())
        if path.endswith(".yaml")
        for d in yaml.safe_load_all(text)
        if d
    ]
    mongo = [
        d
        for d in docs
        if (d["metadata"].get("labels") or {}).get("app.kubernetes.io/component") == "mongodb"
    ]
    result = cluster.kubectl(
        "apply",
        "--server-side",
        "--dry-run=server",
        "--validate=strict",
        "-f",
        "-",
        input=yaml.safe_dump_all(mongo),
        check=False,
    )
    if result.returncode != 0 or "Warning" in result.stderr:
        raise ClusterFailed(
            f"the chart's MongoDB was not admitted:\n{result.stderr}{result.stdout}"
        )
    return sorted(d["kind"] for d in mongo)


def generated_dataset():
    """The same community the emulator pod serves (same arguments: deterministic)."""
    from dwt.generate import generate_community

    d = DATASET
    now = datetime.datetime.fromisoformat(d["now"].replace("Z", "+00:00"))
    return generate_community(
        members=d["members"], communities=d["communities"], days=d["days"], seed=d["seed"], now=now
    )


def elapsed(since: float) -> float:
    return round(time.monotonic() - since, 1)
