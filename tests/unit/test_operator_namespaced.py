"""The operator as the Helm chart deploys it, against a real kube-apiserver: every object the
chart renders (Helm's Go SDK) applied into a fresh namespace, and ``python -m dwt_operator``
run with the chart's operator Deployment's command and ``DWT_OPERATOR_*`` environment (its
namespace in ``DWT_OPERATOR_NAMESPACES``, the chart's default key Secret and worker names),
logged in as the chart's operator ServiceAccount: it may do only what the chart's Role
(in its namespace) and ClusterRole (read CRDs and namespaces) grant.

* A CommunityJob in the release's namespace runs to Succeeded on a real Ray head (a stand-in
  ``dwt``), the chart's worker Deployment scaled through ``deployments/scale``.
* A CommunityJob in another namespace is never touched (no finalizer, no status).
* A job naming a Secret the Role does not grant: the API server's 403 fails the job, with a
  Warning Event naming the Role rule to add; no Ray job is submitted. Workers the Role does
  not grant are a scaling error naming the rule too.
* With ``ray.kuberay.enabled``: the chart's RayCluster, validated by KubeRay's published CRD,
  has its ``collectors`` group scaled by the operator under the chart's KubeRay Role.
"""

from __future__ import annotations

import copy
from pathlib import Path

import kubernetes
import pytest
from ray.job_submission import JobSubmissionClient

from dwt_operator import entrypoint
from dwt_operator.scaling import ScalingError, scale_workers
from dwt_operator.settings import OperatorSettings
from rayhead import ray_head
from servers.kube import KubeServer
from servers.operator_proc import (
    OperatorProcess,
    cleaned_up,
    create,
    create_job,
    events,
    fresh_namespace,
    get_job,
    install_chart,
    install_kuberay_crd,
    job_status,
    put_keys,
    secret,
    worker_deployment,
    write_stand_in,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

KEYS = ["ns-key-1", "ns-key-2", "ns-key-3"]
NO_RAY_AUTH = {"ray": {"auth": {"enabled": False}}}  # the test's Ray head runs without a token


@pytest.fixture(scope="module")
def ray(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("ray")
    stand_in, _ = write_stand_in(tmp)
    with ray_head() as head:
        yield head, stand_in, tmp


def _operator(kube: KubeServer, install, ray, tmp: Path) -> OperatorProcess:
    head, stand_in, root = ray
    return OperatorProcess(
        kube,
        install,
        tmp,
        ray_address=head,
        dwt_command=stand_in,
        keys_mount_root=root / "keys",
        poll_interval=0.5,
        retry_backoff=0.5,
    )


class Release:
    def __init__(self, kube, install, operator, ns):
        self.kube, self.install, self.operator, self.ns = kube, install, operator, ns


@pytest.fixture(scope="module")
def release(kube_api: KubeServer, ray, tmp_path_factory: pytest.TempPathFactory):
    """The chart installed in a fresh namespace, keys in its Secret, its operator running."""
    ns = fresh_namespace(kube_api, "chart")
    install = install_chart(kube_api, ns, NO_RAY_AUTH)
    assert install.watched == (ns,)  # DWT_OPERATOR_NAMESPACES from the chart
    put_keys(kube_api, ns, "x-api-keys", KEYS)
    with (
        _operator(kube_api, install, ray, tmp_path_factory.mktemp("chart-operator")) as operator,
        cleaned_up(kube_api, ns),
    ):
        yield Release(kube_api, install, operator, ns)
    # Nothing the chart's RBAC refused along the way (kopf logs a 403 it survives).
    assert operator.problems() == [], operator.output()


def _wait_phase(release: Release, name: str, *phases: str, timeout: float = 120) -> dict:
    return release.operator.wait_for(
        lambda: (s := job_status(release.kube, release.ns, name)).get("phase") in phases and s,
        timeout,
        f"{release.ns}/{name} to reach {phases}",
    )


def test_the_charts_operator_runs_a_job_and_scales_the_charts_workers(release, ray):
    workers = release.install.object("Deployment", "ray-worker")["metadata"]["name"]
    assert release.install.env["DWT_OPERATOR_WORKERS_NAME"] == workers
    # No Secret named: the chart's default (DWT_OPERATOR_DEFAULT_KEYS_SECRET, x-api-keys).
    create_job(
        release.kube,
        release.ns,
        "weekly",
        community="quick",
        steps=["collect"],
        collection={"workersPerKey": 2},
    )
    status = _wait_phase(release, "weekly", "Succeeded", "Failed")
    assert status["phase"] == "Succeeded", status.get("message")
    assert status["keys"] == 3 and status["workers"] == 6
    assert status["counts"] == {"bonds": 7}
    _, scaled = release.kube.request(
        "GET", f"/apis/apps/v1/namespaces/{release.ns}/deployments/{workers}"
    )
    assert scaled["spec"]["replicas"] == 6
    reasons = {e["reason"] for e in events(release.kube, release.ns, "weekly")}
    assert {"Submitted", "Succeeded"} <= reasons
    run = entrypoint.run_id(release.ns, "weekly", "g1")
    info = JobSubmissionClient(ray[0]).get_job_info(entrypoint.submission_id(run, 0))
    assert f"{ray[2] / 'keys'}/x-api-keys" in info.entrypoint
    assert not any(key in f"{info.entrypoint} {info.metadata}" for key in KEYS)


def test_the_charts_operator_leaves_other_namespaces_alone(release, kube_api):
    other = fresh_namespace(kube_api, "other")
    with cleaned_up(kube_api, other, timeout=0):
        create_job(kube_api, other, "elsewhere", community="quick", steps=["bonds"])
        # A job in its own namespace, created after, is handled; the other one never is.
        create_job(release.kube, release.ns, "here", community="quick", steps=["bonds"])
        _wait_phase(release, "here", "Succeeded", "Failed")
        elsewhere = get_job(kube_api, other, "elsewhere")
        assert "status" not in elsewhere and not elsewhere["metadata"].get("finalizers")
        assert events(kube_api, other) == []
    # Its ServiceAccount may not even read there (the Role is namespaced).
    token = kube_api.token_for(release.ns, release.install.service_account)
    status, _ = kube_api.request(
        "GET", f"/apis/discoverweekly.io/v1alpha1/namespaces/{other}/communityjobs", token=token
    )
    assert status == 403


def test_a_secret_the_role_does_not_grant_fails_the_job_naming_the_rule(release, ray):
    # The Secret exists (the admin made it): only RBAC stands between it and the operator.
    create(
        release.kube,
        f"/api/v1/namespaces/{release.ns}/secrets",
        secret(release.ns, "team-keys", KEYS),
    )
    create_job(
        release.kube,
        release.ns,
        "forbidden",
        community="quick",
        steps=["collect"],
        collection={"apiKeysSecret": "team-keys"},
    )
    status = _wait_phase(release, "forbidden", "Failed", "Succeeded", "Running")
    assert status["phase"] == "Failed"
    assert "forbidden" in status["message"] and "resourceNames [team-keys]" in status["message"]
    assert status["conditions"][0]["reason"] == "ApiKeysForbidden"
    warnings = [e for e in events(release.kube, release.ns, "forbidden") if e["type"] == "Warning"]
    assert [e["reason"] for e in warnings] == ["ApiKeysForbidden"]
    assert "resourceNames [team-keys]" in warnings[0]["message"]
    assert f"get secrets/team-keys in namespace {release.ns}" in warnings[0]["message"]
    assert "rayJobId" not in status
    submitted = [j.submission_id for j in JobSubmissionClient(ray[0]).list_jobs()]
    assert not [s for s in submitted if s and s.startswith(f"dwt-{release.ns}-forbidden")]


def test_workers_the_role_does_not_grant_are_a_scaling_error_naming_the_rule(release):
    """The chart's Role grants deployments/scale on its own workers only: scaling another
    Deployment (a workers name out of step with the Role) is the API server's 403, said as
    the rule to add (the reconciler fails the job with it, as for the keys Secret)."""
    create(
        release.kube,
        f"/apis/apps/v1/namespaces/{release.ns}/deployments",
        worker_deployment(release.ns, "other-workers"),
    )
    token = release.kube.token_for(release.ns, release.install.service_account)
    apps = kubernetes.client.AppsV1Api(release.kube.client(token))
    settings = OperatorSettings(workers_kind="deployment", workers_name="other-workers")
    with pytest.raises(ScalingError) as refused:
        scale_workers({"apps": apps}, release.ns, 2, settings)
    assert refused.value.reason == "WorkersForbidden"
    assert "resourceNames [other-workers]" in str(refused.value)
    assert "resources [deployments/scale]" in str(refused.value)
    own = OperatorSettings(workers_name=release.install.env["DWT_OPERATOR_WORKERS_NAME"])
    scale_workers({"apps": apps}, release.ns, 2, own)  # its own workers: allowed


def test_the_charts_operator_scales_the_charts_kuberay_cluster(kube_api, ray, tmp_path):
    install_kuberay_crd(kube_api)
    ns = fresh_namespace(kube_api, "kuberay")
    install = install_chart(
        kube_api, ns, {"ray": {"auth": {"enabled": False}, "kuberay": {"enabled": True}}}
    )
    assert install.env["DWT_OPERATOR_WORKERS_KIND"] == "raycluster"
    name = install.object("RayCluster")["metadata"]["name"]
    assert install.env["DWT_OPERATOR_WORKERS_NAME"] == name
    path = f"/apis/ray.io/v1/namespaces/{ns}/rayclusters/{name}"
    _, before = kube_api.request("GET", path)
    (group,) = before["spec"]["workerGroupSpecs"]
    assert group["groupName"] == "collectors" and group["maxReplicas"] == 10
    put_keys(kube_api, ns, "x-api-keys", KEYS)
    with _operator(kube_api, install, ray, tmp_path) as operator, cleaned_up(kube_api, ns):
        # 3 keys × 4 = 12 workers: more than the group's maxReplicas, which is raised.
        create_job(
            kube_api,
            ns,
            "weekly",
            community="quick",
            steps=["collect"],
            collection={"workersPerKey": 4, "maxWorkers": 12},
        )
        status = operator.wait_for(
            lambda: (
                (s := job_status(kube_api, ns, "weekly")).get("phase") in ("Succeeded", "Failed")
                and s
            ),
            120,
            "the job to finish",
        )
    assert status["phase"] == "Succeeded", status.get("message")
    assert operator.problems() == [], operator.output()
    assert status["keys"] == 3 and status["workers"] == 12
    _, after = kube_api.request("GET", path)
    (scaled,) = after["spec"]["workerGroupSpecs"]
    assert scaled["replicas"] == 12 and scaled["maxReplicas"] == 12
    expected = copy.deepcopy(group) | {"replicas": 12, "maxReplicas": 12}
    assert scaled == expected  # nothing else in the group changed (template, bounds)
    assert after["spec"]["headGroupSpec"] == before["spec"]["headGroupSpec"]
    assert after["metadata"]["generation"] == before["metadata"]["generation"] + 1
