"""The Helm chart (charts/discover-weekly): lint-clean, renders valid Kubernetes objects for
every option, refuses bad values through its schema, and is secure by default — locked-down
pods, no secret outside a Secret, least-privilege RBAC, and NetworkPolicies that let through
exactly the traffic the system needs.

There is no Helm CLI: Helm's own Go SDK (helm-python-sdk) lints and renders the chart
offline, and kubernetes-validate checks each object against the real Kubernetes schemas.
`lookup` answers nothing offline, so every render here is a fresh install. The same chart on
a real kube-apiserver (server-side dry run and apply, KubeRay's CRD, Pod Security, SDK
install/upgrade with `lookup`, the accounts' RBAC) is test_cluster_chart.py.
"""

from __future__ import annotations

import base64
import copy
import functools
import json
import re
from collections.abc import Iterator
from importlib.metadata import version as installed_version
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import helm_python as helm
import jsonschema
import kubernetes_validate
import pytest
import yaml

from dwt.config import Settings
from dwt_operator.settings import OperatorSettings

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "discover-weekly"
RELEASE = "dwt"
NAMESPACE = "discover-weekly"
FULLNAME = f"{RELEASE}-discover-weekly"  # <release>-<chart>: the prefix of every name
KUBE_VERSION = "1.37"  # the newest schemas kubernetes-validate 1.37 ships
OLDEST_KUBE = "1.27"  # Chart.yaml's kubeVersion floor: objects must be valid there too
PASSWORD = "S3cr3t-Pa55w0rd-x9"
EXTERNAL_URL = f"mongodb://dwt:{PASSWORD}@mongo.example.org:27017/dwt?authSource=admin"
USER_LINE = "alice:pbkdf2_sha256$1000$00ff$abcdef:ai-ethics,open-source"

#: Every option the chart offers, each rendered, linted and checked.
OPTIONS: dict[str, dict[str, Any]] = {
    "default": {},
    "kuberay": {"ray": {"kuberay": {"enabled": True}}},
    "kuberay-autoscaling": {"ray": {"kuberay": {"enabled": True, "autoscaling": True}}},
    "ray-auth-off": {"ray": {"auth": {"enabled": False}}},
    "external-mongo-url": {"mongodb": {"enabled": False, "external": {"url": EXTERNAL_URL}}},
    "external-mongo-secret": {
        "mongodb": {
            "enabled": False,
            "external": {"existingSecret": "my-mongo", "existingSecretKey": "uri"},
        }
    },
    "ingress": {
        "dashboard": {
            "ingress": {
                "enabled": True,
                "className": "nginx",
                "host": "dwt.example.org",
                "tls": {"enabled": True, "secretName": "dwt-tls"},
            },
            "trustedProxies": ["10.244.0.0/16"],
        }
    },
    "no-network-policy": {"networkPolicy": {"enabled": False}},
    "existing-secrets": {
        "apiKeys": {"existingSecret": "team-keys"},
        "dashboard": {"users": {"existingSecret": "team-users"}},
    },
    "users-and-oidc": {
        "dashboard": {"users": {"lines": [USER_LINE]}, "trustedUserHeader": "X-Auth-Request-User"},
        "networkPolicy": {
            "dashboardFrom": [{"podSelector": {"matchLabels": {"app": "oauth2-proxy"}}}]
        },
    },
    "private-registry": {
        "image": {"repository": "registry.example.org/dwt", "tag": "0.1.0-rc1"},
        "imagePullSecrets": ["regcred"],
    },
}
CUSTOM_KINDS = {"RayCluster", "KopfPeering"}


@functools.cache
def _chart() -> helm.Chart:
    return helm.Chart.load(CHART)


def render(values: dict[str, Any]) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """Render as `helm template` would: the files, and the objects in them."""
    files = _chart().render(values, name=RELEASE, namespace=NAMESPACE)
    docs = [
        doc
        for path, text in sorted(files.items())
        if path.endswith(".yaml")
        for doc in yaml.safe_load_all(text)
        if doc
    ]
    return files, docs


@functools.cache
def _render(option: str) -> tuple[dict[str, str], tuple[dict[str, Any], ...]]:
    """Cached per option: each renders once per session."""
    files, docs = render(OPTIONS[option])
    return files, tuple(docs)


def objects(option: str = "default") -> list[dict[str, Any]]:
    """A fresh copy of the option's objects (tests may change them)."""
    return copy.deepcopy(list(_render(option)[1]))


def notes(option: str = "default") -> str:
    return next(text for path, text in _render(option)[0].items() if path.endswith("NOTES.txt"))


def one(objs: list[dict], kind: str, component: str | None = None) -> dict[str, Any]:
    found = [
        o
        for o in objs
        if o["kind"] == kind
        and (component is None or _labels(o).get("app.kubernetes.io/component") == component)
    ]
    assert len(found) == 1, f"{len(found)} {kind} objects for {component}"
    return found[0]


def by_name(objs: list[dict], kind: str, name: str) -> dict[str, Any]:
    (found,) = [o for o in objs if o["kind"] == kind and o["metadata"]["name"] == name]
    return found


def _labels(obj: dict) -> dict[str, str]:
    return obj.get("metadata", {}).get("labels", {})


def pod_templates(objs: list[dict]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(component, pod template) of every workload, KubeRay's groups included."""
    for obj in objs:
        if obj["kind"] in ("Deployment", "StatefulSet", "Job"):
            yield (
                _labels(obj["spec"]["template"])["app.kubernetes.io/component"],
                obj["spec"]["template"],
            )
        elif obj["kind"] == "RayCluster":
            yield "ray-head", obj["spec"]["headGroupSpec"]["template"]
            for group in obj["spec"]["workerGroupSpecs"]:
                yield "ray-worker", group["template"]


def container(objs: list[dict], component: str) -> dict[str, Any]:
    (template,) = [t for c, t in pod_templates(objs) if c == component]
    (only,) = template["spec"]["containers"]
    return only


def secret_data(objs: list[dict], name: str) -> dict[str, str]:
    """A rendered Secret's data, decoded."""
    secret = by_name(objs, "Secret", name)
    data = {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}
    return {**data, **(secret.get("stringData") or {})}


def env_values(ctr: dict, objs: list[dict]) -> dict[str, str]:
    """A container's environment with secretKeyRefs resolved from the rendered Secrets."""
    env = {}
    for item in ctr.get("env", []):
        if "value" in item:
            env[item["name"]] = item["value"]
        else:
            ref = item["valueFrom"]["secretKeyRef"]
            env[item["name"]] = secret_data(objs, ref["name"])[ref["key"]]
    return env


def mount_of_secret(template: dict, secret: str) -> dict[str, Any]:
    """The (only) volume mount of a Secret in a pod template's single container."""
    (volume,) = [
        v for v in template["spec"]["volumes"] if v.get("secret", {}).get("secretName") == secret
    ]
    (ctr,) = template["spec"]["containers"]
    (mount,) = [m for m in ctr["volumeMounts"] if m["name"] == volume["name"]]
    return mount


# --- Helm: lint, render, schema ------------------------------------------------------------


@pytest.mark.parametrize("option", OPTIONS)
def test_lint_is_clean(option: str):
    report = helm.lint(
        CHART, OPTIONS[option], strict=True, namespace=NAMESPACE, kube_version=f"v{KUBE_VERSION}.0"
    )
    assert report["errors"] == []
    assert [m for m in report["messages"] if m["severity"] >= 2] == []  # info ("icon") only


@pytest.mark.parametrize("version", [OLDEST_KUBE, KUBE_VERSION])
@pytest.mark.parametrize("option", OPTIONS)
def test_every_rendered_object_is_a_valid_kubernetes_object(option: str, version: str):
    rendered = objects(option)
    assert len(rendered) > 15
    for obj in rendered:
        assert obj["metadata"].get("namespace", NAMESPACE) == NAMESPACE
        if obj["kind"] not in CUSTOM_KINDS:
            kubernetes_validate.validate(obj, version, strict=True)


def test_chart_declares_the_oldest_kubernetes_it_is_checked_against():
    assert _chart().metadata["kubeVersion"] == f">={OLDEST_KUBE}.0-0"


@pytest.mark.parametrize("option", ["kuberay", "kuberay-autoscaling"])
def test_raycluster_is_well_formed(option: str):
    """KubeRay's CRD is not here: check its shape, and the pod templates inside it against
    the real PodTemplate schema."""
    objs = objects(option)
    values = _chart().merge_values(OPTIONS[option])
    cluster = one(objs, "RayCluster")
    assert cluster["apiVersion"] == "ray.io/v1"
    spec = cluster["spec"]
    assert spec["rayVersion"] == installed_version("ray")  # the image's Ray: the tested one
    assert spec["enableInTreeAutoscaling"] is values["ray"]["kuberay"]["autoscaling"]
    head = spec["headGroupSpec"]
    (group,) = spec["workerGroupSpecs"]
    assert group["groupName"] == OperatorSettings.model_fields["workers_group"].default
    workers = values["ray"]["workers"]
    assert (group["replicas"], group["minReplicas"], group["maxReplicas"]) == (
        workers["replicas"],
        workers["minReplicas"],
        workers["maxReplicas"],
    )
    assert group["minReplicas"] <= group["replicas"] <= group["maxReplicas"]
    for params in (head["rayStartParams"], group["rayStartParams"]):
        assert all(isinstance(v, str) for v in params.values()), params  # map[string]string
    assert head["rayStartParams"]["dashboard-host"] == "0.0.0.0"
    assert head["rayStartParams"]["num-cpus"] == str(values["ray"]["head"]["numCpus"])
    ports = {
        p["name"]: p["containerPort"] for p in head["template"]["spec"]["containers"][0]["ports"]
    }
    assert ports == {"gcs-server": 6379, "dashboard": 8265, "client": 10001}
    assert set(spec) <= {
        "rayVersion",
        "enableInTreeAutoscaling",
        "authOptions",
        "headGroupSpec",
        "workerGroupSpecs",
    }
    assert set(head) == {"serviceType", "rayStartParams", "template"}
    assert set(group) == {
        "groupName",
        "replicas",
        "minReplicas",
        "maxReplicas",
        "rayStartParams",
        "template",
    }
    for template in (head["template"], group["template"]):
        kubernetes_validate.validate(
            {
                "apiVersion": "v1",
                "kind": "PodTemplate",
                "metadata": {"name": "check"},
                "template": template,
            },
            KUBE_VERSION,
            strict=True,
        )


def test_kopf_peering_matches_its_crd():
    peering = one(objects(), "KopfPeering")
    crds = {c["spec"]["names"]["kind"]: c for c in _chart_crds()}
    crd = crds["KopfPeering"]
    assert peering["apiVersion"] == f"{crd['spec']['group']}/{crd['spec']['versions'][0]['name']}"
    assert crd["spec"]["scope"] == "Namespaced" and peering["metadata"]["namespace"] == NAMESPACE
    jsonschema.Draft4Validator(crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]).validate(
        peering
    )
    # kopf's default peering name for an operator watching namespaces (not cluster-wide).
    assert peering["metadata"]["name"] == "default"


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"ray": {"workers": {"replicas": -1}}}, "/ray/workers/replicas"),
        ({"mongodb": {"enabled": "yes"}}, "/mongodb/enabled"),
        ({"surprise": True}, "surprise"),
        ({"dashboard": {"ingres": {"enabled": True}}}, "ingres"),
        ({"mongodb": {"enabled": False}}, "/mongodb/external"),
        ({"image": {"pullPolicy": "Sometimes"}}, "/image/pullPolicy"),
        ({"dashboard": {"service": {"port": 70000}}}, "/dashboard/service/port"),
        ({"ray": {"head": {"resources": {"limits": {"cpu": "lots"}}}}}, "/ray/head/resources"),
        ({"apiKeys": {"secretName": "Bad_Name"}}, "/apiKeys/secretName"),
        ({"mongodb": {"image": {"tag": "4.4"}}}, "/mongodb/image/tag"),
        ({"dashboard": {"users": {"lines": ["alice:hunter2:ai-ethics"]}}}, "/dashboard/users"),
        ({"networkPolicy": {"enabled": "no"}}, "/networkPolicy/enabled"),
        ({"ray": {"kuberay": {"enabled": 1}}}, "/ray/kuberay/enabled"),
    ],
)
def test_schema_refuses_wrong_values(values: dict, field: str):
    with pytest.raises(helm.HelmValuesError) as refused:
        _chart().validate_schema(_chart().merge_values(values))
    assert field in str(refused.value)
    with pytest.raises(helm.HelmValuesError, match=re.escape(field)):
        _chart().render(values, name=RELEASE, namespace=NAMESPACE)
    report = helm.lint(CHART, values, namespace=NAMESPACE)
    assert any(field in error for error in report["errors"]), report


def test_oidc_header_without_a_network_policy_is_refused():
    """Trusting a user header is only safe when nothing but the proxy reaches the pods."""
    with pytest.raises(helm.HelmRenderError, match="trustedUserHeader"):
        _chart().render(
            {"dashboard": {"trustedUserHeader": "X-Auth-Request-User"}},
            name=RELEASE,
            namespace=NAMESPACE,
        )


def test_kuberay_worker_bounds_must_hold_together():
    values = {"ray": {"kuberay": {"enabled": True}, "workers": {"replicas": 5, "maxReplicas": 3}}}
    with pytest.raises(helm.HelmRenderError, match="minReplicas <= replicas <= maxReplicas"):
        render(values)


def test_defaults_pass_the_schema_and_every_value_is_documented():
    """values.yaml is the reference: each key has a comment and a schema entry."""
    _chart().validate_schema(_chart().values)
    lines = (CHART / "values.yaml").read_text().splitlines()
    key = re.compile(r"^\s*[A-Za-z][\w-]*:")
    for number, line in enumerate(lines):
        if key.match(line):
            # A comment above, or inside a commented run of keys (cpu/memory under requests).
            above = lines[number - 1].strip() if number else ""
            assert above.startswith("#") or key.match(above), f"values.yaml:{number + 1} {line!r}"
    schema = _chart().schema

    def walk(values: dict, node: dict, path: str) -> None:
        assert node.get("additionalProperties") is False, path
        for key, value in values.items():
            assert key in node["properties"], f"{path}.{key} has no schema"
            assert node["properties"][key].get("description"), f"{path}.{key}"
            if isinstance(value, dict) and node["properties"][key].get("properties"):
                walk(value, node["properties"][key], f"{path}.{key}")

    walk(_chart().values, schema, "")


def test_values_table_in_the_docs_names_real_values():
    table = re.findall(r"^\| `([a-zA-Z.]+)` \|", (REPO / "docs" / "helm.md").read_text(), re.M)
    assert len(table) > 15
    for dotted in table:
        node: Any = _chart().values
        for part in dotted.split("."):
            assert isinstance(node, dict) and part in node, dotted
            node = node[part]


# --- CRDs and examples ---------------------------------------------------------------------


def _chart_crds() -> list[dict[str, Any]]:
    return [
        doc for crd in _chart().crds for doc in yaml.safe_load_all(crd["data"]) if doc is not None
    ]


@pytest.mark.parametrize("name", ["communityjobs.yaml", "kopf-peering.yaml"])
def test_chart_crds_are_the_manifests_crds(name: str):
    assert (CHART / "crds" / name).read_bytes() == (REPO / "manifests" / "crds" / name).read_bytes()


def test_chart_ships_the_crds_helm_installs_first():
    kinds = sorted(c["spec"]["names"]["kind"] for c in _chart_crds())
    assert kinds == ["ClusterKopfPeering", "CommunityJob", "KopfPeering"]
    for crd in _chart_crds():
        kubernetes_validate.validate(crd, KUBE_VERSION, strict=True)


@pytest.mark.parametrize(
    "example", sorted((REPO / "manifests" / "examples").glob("*.yaml")), ids=lambda p: p.name
)
def test_examples_are_valid_against_the_chart_crd(example: Path):
    (crd,) = [c for c in _chart_crds() if c["spec"]["names"]["kind"] == "CommunityJob"]
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    jsonschema.Draft4Validator(schema).validate(yaml.safe_load(example.read_text()))


# --- security ------------------------------------------------------------------------------


@pytest.mark.parametrize("option", OPTIONS)
def test_every_pod_is_locked_down(option: str):
    templates = list(pod_templates(objects(option)))
    components = {c for c, _ in templates}
    assert {"operator", "dashboard", "ray-head", "ray-worker"} <= components
    autoscaling_head = option == "kuberay-autoscaling"
    for component, template in templates:
        pod = template["spec"]
        uid = 999 if component == "mongodb" else 10001
        assert pod["securityContext"] == {
            "runAsNonRoot": True,
            "runAsUser": uid,
            "runAsGroup": uid,
            "fsGroup": uid,
            "seccompProfile": {"type": "RuntimeDefault"},
        }, component
        talks_to_api = component in ("operator", "dashboard", "operator-cleanup") or (
            component == "ray-head" and autoscaling_head  # KubeRay's autoscaler sidecar
        )
        assert pod["automountServiceAccountToken"] is talks_to_api, component
        if component in ("operator", "dashboard"):
            assert pod["serviceAccountName"].endswith(f"-{component}")
        for ctr in pod.get("initContainers", []) + pod["containers"]:
            context = ctr["securityContext"]
            assert context["allowPrivilegeEscalation"] is False, component
            assert context["readOnlyRootFilesystem"] is True, component
            assert context["capabilities"] == {"drop": ["ALL"]}, component
            for bound in ("requests", "limits"):
                assert set(ctr["resources"][bound]) == {"cpu", "memory"}, component
            if component != "operator-cleanup":  # a Job's pod: it ends, no probes
                assert ctr["readinessProbe"] and ctr["livenessProbe"], component
            # A read-only root needs somewhere to write.
            assert any(m["mountPath"] == "/tmp" for m in ctr["volumeMounts"]), component


def _secret_values(objs: list[dict]) -> list[str]:
    values = []
    for obj in objs:
        if obj["kind"] == "Secret":
            values += [
                v for v in secret_data(objs, obj["metadata"]["name"]).values() if len(v) >= 8
            ]
    return values


@pytest.mark.parametrize("option", OPTIONS)
def test_secret_values_appear_only_in_secrets(option: str):
    objs = objects(option)
    secrets = _secret_values(objs)
    assert secrets  # generated passwords, tokens, the session key, the users file
    if option == "external-mongo-url":
        assert PASSWORD in "".join(secrets)
        secrets.append(PASSWORD)
    elsewhere = [o for o in objs if o["kind"] != "Secret"]
    elsewhere += [
        {"metadata": o["metadata"]} for o in objs if o["kind"] == "Secret"
    ]  # a Secret's labels and annotations are not secret
    text = json.dumps(elsewhere) + notes(option)
    for value in secrets:
        assert value not in text
    secretish = re.compile(r"(STORE_URL|PASSWORD|TOKEN|SECRET_KEY|API_KEYS?)$")
    for _component, template in pod_templates(objs):
        for ctr in template["spec"]["containers"]:
            for item in ctr.get("env", []):
                if secretish.search(item["name"]):
                    assert "secretKeyRef" in item.get("valueFrom", {}), item["name"]
                assert not re.search(r"://[^/@\s]+:[^/@\s]+@", item.get("value", "")), item
            assert not any("@" in arg for arg in ctr.get("command", []) + ctr.get("args", []))


def test_generated_secrets_are_random_and_long():
    """Each install draws new credentials (upgrades keep them through `lookup`: see
    test_cluster_chart.py's install and upgrade on a real API server)."""
    name = f"{FULLNAME}-mongodb-credentials"
    first, second = secret_data(objects(), name), secret_data(render({})[1], name)
    for key in ("root-password", "password"):
        assert len(first[key]) == 32 and first[key].isalnum()
        assert first[key] != second[key]
    assert first["password"] != first["root-password"]
    url = secret_data(objects("default"), f"{FULLNAME}-mongodb-url")["url"]
    parts = urlsplit(url)
    assert (parts.username, parts.password) == ("dwt", first["password"])
    assert parts.hostname == f"{FULLNAME}-mongodb.{NAMESPACE}.svc"
    assert parts.port == 27017 and parts.path == "/dwt" and parts.query == "authSource=admin"
    token = secret_data(objects("default"), f"{FULLNAME}-ray-auth")["auth_token"]
    assert len(token) == 64 and token.isalnum()


def test_kept_secrets_survive_uninstall():
    """The data volume outlives the release, and so must the passwords it expects; the keys
    the dashboard added must not vanish with a `helm uninstall` either."""
    objs = objects()
    for name in (f"{FULLNAME}-mongodb-credentials", "x-api-keys"):
        secret = by_name(objs, "Secret", name)
        assert secret["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert "data" not in by_name(objs, "Secret", "x-api-keys")
    source = (CHART / "templates" / "_helpers.tpl").read_text()
    assert 'lookup "v1" "Secret"' in source


@pytest.mark.parametrize("option", OPTIONS)
def test_rbac_is_least_privilege(option: str):
    objs = objects(option)
    keys_secret = _keys_secret(option)
    roles = [o for o in objs if o["kind"] in ("Role", "ClusterRole")]
    assert {r["kind"] for r in roles} == {"Role", "ClusterRole"}
    for role in roles:
        for rule in role["rules"]:
            for field in ("verbs", "resources", "apiGroups"):
                assert "*" not in rule[field], (role["metadata"]["name"], rule)
            forbidden = {"escalate", "bind", "impersonate", "delete", "deletecollection"}
            if _is_hook(role):  # the uninstall hook deletes the namespace's CommunityJobs
                assert rule["resources"] == ["communityjobs"] and role["kind"] == "Role"
                forbidden.discard("delete")
            assert not forbidden & set(rule["verbs"])
            if "secrets" in rule["resources"]:
                assert role["kind"] == "Role"
                assert rule["resourceNames"] == [keys_secret]
                assert set(rule["verbs"]) <= {"get", "patch", "update"}
    (cluster_role,) = [r for r in roles if r["kind"] == "ClusterRole"]
    assert {res for rule in cluster_role["rules"] for res in rule["resources"]} == {
        "customresourcedefinitions",
        "namespaces",
    }
    assert {v for rule in cluster_role["rules"] for v in rule["verbs"]} == {"get", "list", "watch"}
    # Each workload's ServiceAccount is bound to its own Role, and only there.
    for component in ("operator", "dashboard"):
        (template,) = [t for c, t in pod_templates(objs) if c == component]
        account = template["spec"]["serviceAccountName"]
        one(objs, "ServiceAccount", component)
        bindings = [
            b
            for b in objs
            if b["kind"] in ("RoleBinding", "ClusterRoleBinding")
            and any(s["name"] == account for s in b["subjects"])
        ]
        kinds = sorted(b["roleRef"]["kind"] for b in bindings)
        assert kinds == (["ClusterRole", "Role"] if component == "operator" else ["Role"])
        for binding in bindings:
            by_name(objs, binding["roleRef"]["kind"], binding["roleRef"]["name"])


def _is_hook(obj: dict) -> bool:
    return "helm.sh/hook" in (obj["metadata"].get("annotations") or {})


def _keys_secret(option: str) -> str:
    existing = OPTIONS[option].get("apiKeys", {}).get("existingSecret")
    return existing or OPTIONS[option].get("apiKeys", {}).get("secretName", "x-api-keys")


def _rules(role: dict) -> dict[str, dict]:
    return {res: rule for rule in role["rules"] for res in rule["resources"]}


@pytest.mark.parametrize("option", ["default", "kuberay"])
def test_operator_may_scale_only_its_own_workers(option: str):
    objs = objects(option)
    rules = _rules(one(objs, "Role", "operator"))
    if option == "kuberay":
        cluster = one(objs, "RayCluster")
        assert rules["rayclusters"]["resourceNames"] == [cluster["metadata"]["name"]]
        assert "deployments/scale" not in rules
    else:
        workers = one(objs, "Deployment", "ray-worker")
        assert rules["deployments/scale"]["resourceNames"] == [workers["metadata"]["name"]]
        assert "rayclusters" not in rules
    assert set(rules["communityjobs"]["verbs"]) == {"get", "list", "watch", "patch", "update"}
    assert set(rules["communityjobs/status"]["verbs"]) == {"get", "patch", "update"}
    assert set(rules["kopfpeerings"]["verbs"]) == {"get", "list", "watch", "patch"}
    events = [r for r in one(objs, "Role", "operator")["rules"] if r["resources"] == ["events"]]
    assert sorted(g for r in events for g in r["apiGroups"]) == ["", "events.k8s.io"]
    dashboard = _rules(one(objs, "Role", "dashboard"))
    assert set(dashboard) == {"communityjobs", "secrets"}
    assert set(dashboard["communityjobs"]["verbs"]) == {"get", "list", "watch", "create", "patch"}


# --- network policies ----------------------------------------------------------------------


def _selects(selector: dict, labels: dict[str, str]) -> bool:
    assert set(selector) <= {"matchLabels"}, selector  # all the chart uses
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


def _allowed(
    policies: list[dict], source: dict[str, str], target: dict[str, str], port: int
) -> bool:
    """Whether a pod labelled ``source`` (same namespace) may open ``port`` on ``target``,
    by the NetworkPolicy rules (no policy selecting the target = allowed)."""
    selecting = [
        p
        for p in policies
        if "Ingress" in p["spec"]["policyTypes"] and _selects(p["spec"]["podSelector"], target)
    ]
    if not selecting:
        return True
    for policy in selecting:
        for rule in policy["spec"].get("ingress", []):
            ports = rule.get("ports")
            if ports and not any(isinstance(p["port"], int) and p["port"] == port for p in ports):
                continue
            peers = rule.get("from")
            if not peers or any(_selects(peer["podSelector"], source) for peer in peers):
                return True
    return False


INTRUDER = {"app": "intruder"}
FLOWS = [
    # (from, to, port, allowed)
    (None, "dashboard", 8050, True),
    (None, "dashboard", 8080, False),
    (None, "mongodb", 27017, False),
    ("ray-head", "mongodb", 27017, True),
    ("ray-worker", "mongodb", 27017, True),
    ("dashboard", "mongodb", 27017, True),
    ("operator", "mongodb", 27017, False),
    ("operator", "ray-head", 8265, True),
    ("operator", "ray-head", 6379, False),
    ("operator", "ray-head", 10001, False),
    ("dashboard", "ray-head", 8265, False),
    (None, "ray-head", 8265, False),
    ("ray-worker", "ray-head", 6379, True),
    ("ray-worker", "ray-head", 8265, True),
    ("ray-head", "ray-head", 6379, True),
    ("ray-head", "ray-worker", 40123, True),
    ("ray-worker", "ray-worker", 40123, True),
    ("operator", "ray-worker", 52365, False),
    ("dashboard", "ray-worker", 10001, False),
    (None, "ray-worker", 52365, False),
    (None, "operator", 8080, False),
    ("ray-head", "operator", 8080, False),
    ("dashboard", "operator", 8080, False),
]


@pytest.mark.parametrize("option", ["default", "kuberay"])
@pytest.mark.parametrize(("source", "target", "port", "expected"), FLOWS)
def test_network_policies_allow_exactly_what_is_needed(
    option: str, source: str | None, target: str, port: int, expected: bool
):
    objs = objects(option)
    policies = [o for o in objs if o["kind"] == "NetworkPolicy"]
    labels = {c: _labels(t) for c, t in pod_templates(objs)}
    source_labels = labels[source] if source else INTRUDER
    assert _allowed(policies, source_labels, labels[target], port) is expected


def test_each_component_has_its_network_policy():
    objs = objects()
    policies = [o for o in objs if o["kind"] == "NetworkPolicy"]
    components = {_labels(p).get("app.kubernetes.io/component") for p in policies}
    assert components == {None, "dashboard", "mongodb", "ray-head", "ray-worker"}
    (deny,) = [p for p in policies if "app.kubernetes.io/component" not in _labels(p)]
    assert "ingress" not in deny["spec"]  # default deny for every pod of the release
    for _component, template in pod_templates(objs):
        assert _selects(deny["spec"]["podSelector"], _labels(template))
    assert not [o for o in objects("no-network-policy") if o["kind"] == "NetworkPolicy"]


def test_dashboard_behind_an_oidc_proxy_is_reachable_only_from_it():
    objs = objects("users-and-oidc")
    policies = [o for o in objs if o["kind"] == "NetworkPolicy"]
    dashboard = _labels(dict(pod_templates(objs))["dashboard"])
    assert _allowed(policies, {"app": "oauth2-proxy"}, dashboard, 8050)
    assert not _allowed(policies, INTRUDER, dashboard, 8050)
    command = container(objs, "dashboard")["args"]
    assert command[command.index("--trusted-user-header") + 1] == "X-Auth-Request-User"


# --- wiring: what each component is told matches what the chart made -----------------------


@pytest.mark.parametrize("option", ["default", "kuberay", "ray-auth-off", "existing-secrets"])
def test_operator_settings_point_at_the_charts_objects(
    option: str, monkeypatch: pytest.MonkeyPatch
):
    objs = objects(option)
    operator = container(objs, "operator")
    assert "command" not in operator  # the image's init (tini) stays PID 1
    assert operator["args"] == [
        "python",
        "-m",
        "dwt_operator",
        "--liveness",
        "http://0.0.0.0:8080/healthz",
    ]
    for name, value in env_values(operator, objs).items():
        monkeypatch.setenv(name, value)
    settings = OperatorSettings()  # extra="forbid": every variable is a real setting
    assert settings.namespaces == [NAMESPACE]
    assert settings.ray_namespace == NAMESPACE  # keys and workers where the Ray pods are
    assert settings.default_keys_secret == _keys_secret(option)
    kuberay = option == "kuberay"
    assert settings.workers_kind == ("raycluster" if kuberay else "deployment")
    by_name(objs, "RayCluster" if kuberay else "Deployment", settings.workers_name)
    address = urlsplit(settings.ray_address)
    assert address.port == 8265
    service, namespace, _ = address.hostname.split(".", 2)
    assert namespace == NAMESPACE
    if kuberay:  # KubeRay makes <cluster>-head-svc with the head container's ports
        assert service == f"{one(objs, 'RayCluster')['metadata']['name']}-head-svc"
    else:
        ports = [p["port"] for p in by_name(objs, "Service", service)["spec"]["ports"]]
        assert 8265 in ports
    assert settings.dwt_command == f"{_dockerfile_venv()}/bin/dwt"
    # The job's --api-keys-dir (keys_mount_root/<secret>) is where the Ray pods mount it.
    for component in ("ray-head", "ray-worker"):
        (template,) = [t for c, t in pod_templates(objs) if c == component]
        mount = mount_of_secret(template, settings.default_keys_secret)
        assert mount["mountPath"] == f"{settings.keys_mount_root}/{settings.default_keys_secret}"
        assert mount["readOnly"] is True
    if option == "ray-auth-off":
        assert settings.ray_auth_token_file is None
    else:
        (template,) = [t for c, t in pod_templates(objs) if c == "operator"]
        auth_secret = f"{FULLNAME}-ray-auth"
        mount = mount_of_secret(template, auth_secret)
        assert settings.ray_auth_token_file == f"{mount['mountPath']}/auth_token"
        assert "auth_token" in secret_data(objs, auth_secret)


@pytest.mark.parametrize("option", ["default", "ray-auth-off", "kuberay"])
def test_ray_nodes_require_the_charts_token(option: str):
    """Ray 2.60 token auth: RAY_AUTH_MODE=token and the token from RAY_AUTH_TOKEN_PATH on
    every node (KubeRay sets both itself from authOptions.secretName)."""
    objs = objects(option)
    auth_secret = f"{FULLNAME}-ray-auth"
    for component in ("ray-head", "ray-worker"):
        env = {e["name"]: e.get("value") for e in container(objs, component)["env"]}
        (template,) = [t for c, t in pod_templates(objs) if c == component]
        if option == "default":
            assert env["RAY_AUTH_MODE"] == "token"
            mount = mount_of_secret(template, auth_secret)
            assert env["RAY_AUTH_TOKEN_PATH"] == f"{mount['mountPath']}/auth_token"
        else:
            assert "RAY_AUTH_MODE" not in env and "RAY_AUTH_TOKEN_PATH" not in env
    if option == "kuberay":
        assert one(objs, "RayCluster")["spec"]["authOptions"] == {
            "mode": "token",
            "secretName": auth_secret,
        }
        assert len(secret_data(objs, auth_secret)["auth_token"]) == 64
    if option == "ray-auth-off":
        assert not [o for o in objs if o["metadata"]["name"] == auth_secret]


@pytest.mark.parametrize(
    "option", ["default", "external-mongo-url", "external-mongo-secret", "kuberay"]
)
def test_ray_nodes_and_dashboard_get_the_store_url_from_its_secret(option: str):
    objs = objects(option)
    values = _chart().merge_values(OPTIONS[option])
    external = values["mongodb"]["external"]
    for component in ("ray-head", "ray-worker", "dashboard"):
        env = {e["name"]: e for e in container(objs, component)["env"]}
        ref = env["DWT_STORE_URL"]["valueFrom"]["secretKeyRef"]
        if option == "external-mongo-secret":
            assert ref == {"name": external["existingSecret"], "key": external["existingSecretKey"]}
        else:
            url = secret_data(objs, ref["name"])[ref["key"]]
            if option == "external-mongo-url":
                assert url == EXTERNAL_URL
            else:  # the chart's MongoDB, through its Service
                service = one(objs, "Service", "mongodb")["metadata"]["name"]
                assert urlsplit(url).hostname == f"{service}.{NAMESPACE}.svc"
        assert env["DWT_X_API_BASE_URL"]["value"] == values["xApi"]["baseUrl"]
    has_mongo = bool([o for o in objs if o["kind"] == "StatefulSet"])
    assert has_mongo is values["mongodb"]["enabled"]


@pytest.mark.parametrize("option", ["default", "external-mongo-url", "kuberay"])
def test_ray_node_environment_is_valid_dwt_settings(option: str):
    """The `dwt run` driver and the collectors read DWT_* from the pod: check they parse."""
    objs = objects(option)
    for component in ("ray-head", "ray-worker"):
        env = env_values(container(objs, component), objs)
        dwt = {k.removeprefix("DWT_").lower(): v for k, v in env.items() if k.startswith("DWT_")}
        assert set(dwt) <= set(Settings.model_fields)
        settings = Settings(**dwt)
        assert settings.store_url.get_secret_value() == env["DWT_STORE_URL"]
        assert env["HOME"] == "/tmp"  # read-only root: Ray and Python write under /tmp


def test_ray_workers_join_the_head_service():
    objs = objects()
    command = container(objs, "ray-worker")["args"]
    (address,) = [a.split("=", 1)[1] for a in command if a.startswith("--address=")]
    host, port = address.rsplit(":", 1)
    service, namespace, _ = host.split(".", 2)
    assert namespace == NAMESPACE
    ports = {p["name"]: p["port"] for p in by_name(objs, "Service", service)["spec"]["ports"]}
    assert ports == {"gcs-server": int(port), "dashboard": 8265, "client": 10001}
    head = container(objs, "ray-head")["args"]
    assert head[:4] == ["ray", "start", "--head", "--block"]
    assert "--dashboard-host=0.0.0.0" in head
    values = _chart().values["ray"]
    assert f"--num-cpus={values['head']['numCpus']}" in head
    assert f"--num-cpus={values['workers']['numCpus']}" in command
    for component in ("ray-head", "ray-worker"):
        (template,) = [t for c, t in pod_templates(objs) if c == component]
        shm = [v for v in template["spec"]["volumes"] if v["name"] == "dshm"]
        assert shm[0]["emptyDir"]["medium"] == "Memory"


def test_ray_and_the_operator_run_under_the_images_init():
    """`ray start --block` must not be PID 1 (it reaps no zombies and ignores the signals
    PID 1 gets without a handler): the containers give ``args`` only, so the image's
    entrypoint (tini, the Dockerfile's and tools/image's) runs them."""
    for component in ("ray-head", "ray-worker", "operator"):
        ctr = container(objects(), component)
        assert "command" not in ctr and ctr["args"][0] in ("ray", "python"), component


@pytest.mark.parametrize("option", ["default", "kuberay"])
def test_the_ray_head_has_a_disruption_budget(option: str):
    objs = objects(option)
    budget = one(objs, "PodDisruptionBudget")
    assert budget["spec"]["maxUnavailable"] == 0
    assert budget["spec"]["unhealthyPodEvictionPolicy"] == "AlwaysAllow"
    selector = budget["spec"]["selector"]
    selected = [c for c, t in pod_templates(objs) if _selects(selector, _labels(t))]
    assert selected == ["ray-head"]
    off = render(
        {
            **OPTIONS[option],
            "ray": {**OPTIONS[option].get("ray", {}), "head": {"disruptionBudget": False}},
        }
    )[1]
    assert not [o for o in off if o["kind"] == "PodDisruptionBudget"]


def test_dashboard_serves_in_cluster_mode():
    objs = objects()
    dashboard = container(objs, "dashboard")
    command = dashboard["args"]
    assert command[:3] == ["python", "-m", "dwt_dashboard"]
    flags = {
        arg: (
            command[i + 1] if i + 1 < len(command) and not command[i + 1].startswith("--") else ""
        )
        for i, arg in enumerate(command)
        if arg.startswith("--")
    }
    assert flags["--host"] == "0.0.0.0" and flags["--port"] == "8050"
    assert flags["--namespace"] == NAMESPACE
    assert flags["--keys-secret"] == _keys_secret("default")
    assert "--kube" in command
    (template,) = [t for c, t in pod_templates(objs) if c == "dashboard"]
    users = flags["--users"]
    mount = mount_of_secret(template, f"{FULLNAME}-dashboard-users")
    assert users == f"{mount['mountPath']}/users"
    env = {e["name"]: e for e in dashboard["env"]}
    assert env["DWT_DASHBOARD_SECRET_KEY"]["valueFrom"]["secretKeyRef"] == {
        "name": f"{FULLNAME}-dashboard",
        "key": "secret-key",
    }
    probe = dashboard["readinessProbe"]["httpGet"]
    assert probe["path"] == "/healthz"
    assert {p["name"]: p["containerPort"] for p in dashboard["ports"]} == {"http": 8050}
    service = one(objs, "Service", "dashboard")
    assert service["spec"]["type"] == "ClusterIP"
    assert service["spec"]["ports"] == [{"name": "http", "port": 80, "targetPort": "http"}]


def test_dashboard_parses_the_charts_command_line():
    """The flags the chart passes are the dashboard's own (caught here, not in a pod)."""
    from dwt_dashboard.__main__ import _parser

    args = _parser().parse_args(container(objects("users-and-oidc"), "dashboard")["args"][3:])
    assert args.kube and args.namespace == NAMESPACE and args.port == 8050


def test_dashboard_users_come_from_values_or_an_existing_secret():
    lines = secret_data(objects("users-and-oidc"), f"{FULLNAME}-dashboard-users")["users"]
    assert USER_LINE in lines.splitlines()
    empty = secret_data(objects(), f"{FULLNAME}-dashboard-users")["users"]
    assert [ln for ln in empty.splitlines() if ln.strip() and not ln.startswith("#")] == []
    assert "NOBODY CAN LOG IN" in notes()
    objs = objects("existing-secrets")
    assert not [o for o in objs if o["metadata"]["name"].endswith("-users")]
    (template,) = [t for c, t in pod_templates(objs) if c == "dashboard"]
    mount_of_secret(template, "team-users")
    assert not [o for o in objs if o["metadata"]["name"] == "team-keys"]  # not made, used


def test_ingress_routes_to_the_dashboard_service():
    objs = objects("ingress")
    ingress = one(objs, "Ingress")
    service = one(objs, "Service", "dashboard")
    (rule,) = ingress["spec"]["rules"]
    assert rule["host"] == "dwt.example.org"
    backend = rule["http"]["paths"][0]["backend"]["service"]
    assert backend["name"] == service["metadata"]["name"]
    assert backend["port"]["name"] in {p["name"] for p in service["spec"]["ports"]}
    assert ingress["spec"]["tls"] == [{"hosts": ["dwt.example.org"], "secretName": "dwt-tls"}]
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert "https://dwt.example.org/" in notes("ingress")
    assert not [o for o in objects() if o["kind"] == "Ingress"]


def test_mongodb_runs_with_a_volume_and_an_app_user():
    objs = objects()
    values = _chart().values["mongodb"]
    statefulset = one(objs, "StatefulSet", "mongodb")
    (claim,) = statefulset["spec"]["volumeClaimTemplates"]
    assert claim["spec"]["resources"]["requests"]["storage"] == values["persistence"]["size"]
    service = by_name(objs, "Service", statefulset["spec"]["serviceName"])
    assert service["spec"]["clusterIP"] == "None"
    (ctr,) = statefulset["spec"]["template"]["spec"]["containers"]
    assert ctr["image"] == f"mongo:{values['image']['tag']}"
    assert re.match(r"^[78]\.", values["image"]["tag"])
    env = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in ctr["env"]}
    assert set(env) == {
        "MONGO_INITDB_ROOT_USERNAME",
        "MONGO_INITDB_ROOT_PASSWORD",
        "DWT_MONGO_USERNAME",
        "DWT_MONGO_PASSWORD",
    }
    init = one(objs, "ConfigMap", "mongodb")["data"]["10-app-user.js"]
    assert "process.env.DWT_MONGO_PASSWORD" in init and 'role: "readWrite", db: "dwt"' in init
    mounts = {m["mountPath"] for m in ctr["volumeMounts"]}
    assert {"/data/db", "/tmp", "/docker-entrypoint-initdb.d"} <= mounts
    _, sized = render({"mongodb": {"persistence": {"size": "50Gi", "storageClass": "fast"}}})
    (claim,) = one(sized, "StatefulSet")["spec"]["volumeClaimTemplates"]
    assert claim["spec"]["storageClassName"] == "fast"
    assert claim["spec"]["resources"]["requests"]["storage"] == "50Gi"


def test_image_and_pull_secrets_come_from_values():
    objs = objects("private-registry")
    for component, template in pod_templates(objs):
        if component == "mongodb":
            continue
        (ctr,) = template["spec"]["containers"]
        assert ctr["image"] == "registry.example.org/dwt:0.1.0-rc1"
        assert template["spec"]["imagePullSecrets"] == [{"name": "regcred"}]
    default = container(objects(), "operator")["image"]
    assert default.endswith(":" + _chart().metadata["appVersion"])


def test_notes_say_how_to_reach_and_use_the_system():
    text = notes()
    assert f"kubectl port-forward -n {NAMESPACE} svc/{FULLNAME}-dashboard" in text
    assert f"kubectl create secret generic {_keys_secret('default')} -n {NAMESPACE}" in text
    assert "manifests/examples/weekly.yaml" in text and f"-n {NAMESPACE}" in text
    assert "kubectl apply -f charts/discover-weekly/crds/" in text


# --- the image -----------------------------------------------------------------------------


def _dockerfile() -> list[tuple[str, str]]:
    """(instruction, arguments) of the Dockerfile, continuation lines joined."""
    text = re.sub(r"\\\n", " ", (REPO / "Dockerfile").read_text())
    steps = []
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            instruction, _, rest = line.strip().partition(" ")
            steps.append((instruction.upper(), rest.strip()))
    return steps


def _dockerfile_venv() -> str:
    (venv,) = {
        m.group(1) for _, rest in _dockerfile() for m in [re.search(r"-m venv (\S+)", rest)] if m
    }
    return venv


def test_dockerfile_builds_one_non_root_image_with_the_tested_versions():
    steps = _dockerfile()
    froms = [rest.split()[0] for ins, rest in steps if ins == "FROM"]
    assert froms and all(f == "debian:bookworm-slim" for f in froms)  # tests/unit/test_image.py
    users = [rest for ins, rest in steps if ins == "USER"]
    assert users[-1] == "10001:10001"
    installs = [rest for ins, rest in steps if ins == "RUN" and "pip install" in rest]
    assert any("-c requirements/constraints.txt ." in r for r in installs)
    assert _dockerfile_venv() == "/opt/venv"
    for ins, rest in steps:
        if ins in ("ENV", "ARG"):
            assert not re.search(r"(KEY|TOKEN|PASSWORD|SECRET|STORE_URL)", rest, re.I), rest
        if ins == "COPY" and "--from" not in rest:
            for source in rest.split()[:-1]:
                assert (REPO / source).exists(), source
    ignored = (REPO / ".dockerignore").read_text().split()
    assert {".venv", ".git", "out"} <= {p.strip("/") for p in ignored}


def test_crd_command_writes_every_path_given(tmp_path: Path):
    """`make manifests` writes manifests/ and the chart's copy in one command."""
    from dwt_operator import crd

    paths = [tmp_path / "manifests.yaml", tmp_path / "chart" / "communityjobs.yaml"]
    assert crd.main([str(p) for p in paths]) == 0
    for path in paths:
        assert path.read_text() == (CHART / "crds" / "communityjobs.yaml").read_text()


def test_behind_a_tls_ingress_cookies_need_tls_and_the_proxy_is_believed():
    """Behind the Ingress every request comes from the ingress controller: the dashboard
    believes its X-Forwarded-For only from `trustedProxies` (so the login throttle sees
    people, not the controller), and sets Secure cookies when the Ingress serves TLS."""

    def args(option: str) -> list[str]:
        dashboard = one(objects(option), "Deployment", "dashboard")
        return dashboard["spec"]["template"]["spec"]["containers"][0]["args"]

    behind = args("ingress")
    assert behind[behind.index("--secure-cookies") + 1] == "always"
    assert behind[behind.index("--trusted-proxy") + 1] == "10.244.0.0/16"
    plain = args("default")
    assert "--secure-cookies" not in plain and "--trusted-proxy" not in plain
    with pytest.raises(helm.HelmValuesError, match="trustedProxies"):
        render({"dashboard": {"trustedProxies": ["not a cidr"]}})


def test_users_lines_accept_every_username_the_dashboard_accepts():
    """The chart's users pattern is the dashboard's: an e-mail address (the usual login
    behind an OIDC proxy) was refused by the chart while the dashboard took it."""
    from dwt_dashboard.auth import user_line

    lines = [
        user_line("ana.lopez+dwt@example.org", "correct horse", ["ai-ethics"], iterations=1000),
        user_line("bob_1", "battery staple", ["*"], iterations=1000),
    ]
    values = {"dashboard": {"users": {"lines": lines}}}
    _chart().validate_schema(_chart().merge_values(values))
