"""The operator's life cycle, as deployed: ``python -m dwt_operator`` as the manifests'
Deployment runs it, under its ServiceAccount and the ClusterRole of manifests/operator/,
against a real kube-apiserver and a real Ray head: retries, deadline, suspend/resume,
deletion, operator restart, schedules.

Ray runs a stand-in for ``dwt`` here (a script whose behaviour the community name picks,
`servers.operator_proc.STAND_IN`), so each case takes seconds; the whole pipeline through
the operator is covered by test_operator_e2e.py. One operator process serves the module
(each test has its own namespace; the cluster-wide operator sees them all); the restart
test stops it and starts a new one; at the end kopf's finalizers are dropped from every
CommunityJob it saw (being cluster-wide it also picks up what other tests of the session left
in their namespaces, as a real cluster-wide operator would). Waits are generous: a loaded
two-core machine runs the API server, etcd, Ray and the operator side by side.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from ray.job_submission import JobSubmissionClient

from dwt_operator import entrypoint
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
    install_manifests,
    job_status,
    patch_job,
    secret,
    worker_deployment,
    write_stand_in,
)

pytestmark = pytest.mark.slow

PHASE_TIMEOUT = 120.0


class Cluster:
    def __init__(
        self, kube: KubeServer, ray: JobSubmissionClient, operator: OperatorProcess, state: Path
    ) -> None:
        self.kube, self.ray, self.operator, self.state = kube, ray, operator, state


@pytest.fixture(scope="module")
def cluster(kube_api: KubeServer, tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("operator")
    stand_in, state = write_stand_in(tmp)
    install = install_manifests(kube_api)
    with (
        ray_head() as head,
        OperatorProcess(
            kube_api,
            install,
            tmp / "operator",
            ray_address=head,
            dwt_command=stand_in,
            poll_interval=0.5,
            retry_backoff=0.5,
        ) as operator,
    ):
        yield Cluster(kube_api, JobSubmissionClient(head), operator, state)


@pytest.fixture
def ns(cluster: Cluster):
    """A fresh namespace; its CommunityJobs are deleted afterwards (the operator stops
    their Ray jobs and releases its finalizer)."""
    namespace = fresh_namespace(cluster.kube, "lc")
    with cleaned_up(cluster.kube, namespace):
        yield namespace


def _apply(cluster: Cluster, ns: str, name: str, **spec) -> None:
    create_job(cluster.kube, ns, name, **{"steps": ["bonds"], **spec})


def _status(cluster: Cluster, ns: str, name: str) -> dict:
    return job_status(cluster.kube, ns, name)


def _wait_phase(
    cluster: Cluster, ns: str, name: str, *phases: str, timeout: float = PHASE_TIMEOUT
) -> dict:
    return cluster.operator.wait_for(
        lambda: (status := _status(cluster, ns, name)).get("phase") in phases and status,
        timeout,
        f"{ns}/{name} to reach {phases}",
    )


def _ray_job(ns: str, name: str, trigger: str = "g1", attempt: int = 0) -> str:
    return entrypoint.submission_id(entrypoint.run_id(ns, name, trigger), attempt)


def _ray_state(cluster: Cluster, job_id: str, *states: str, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = cluster.ray.get_job_status(job_id).value
        if state in states:
            return state
        time.sleep(0.3)
    raise AssertionError(f"Ray job {job_id} never reached {states}")


def _reasons(cluster: Cluster, ns: str) -> list[str]:
    return [e.get("reason") for e in events(cluster.kube, ns)]


RAY_NAMESPACE = "discover-weekly"  # manifests/operator/: where the Ray cluster runs


def _replace(cluster: Cluster, path: str, body: dict | None, name: str) -> None:
    """Make ``path/name`` be ``body`` (None: absent). The Ray namespace is shared by the
    session's cluster-wide tests, so each sets what it needs."""
    if cluster.kube.request("GET", f"{path}/{name}")[0] == 200:
        cluster.kube.request("DELETE", f"{path}/{name}")
    if body is not None:
        create(cluster.kube, path, body)


def _ray_namespace(cluster: Cluster, keys: list[str] | None, workers: bool) -> None:
    _replace(
        cluster,
        f"/api/v1/namespaces/{RAY_NAMESPACE}/secrets",
        secret(RAY_NAMESPACE, "x-api-keys", keys) if keys is not None else None,
        "x-api-keys",
    )
    _replace(
        cluster,
        f"/apis/apps/v1/namespaces/{RAY_NAMESPACE}/deployments",
        worker_deployment(RAY_NAMESPACE) if workers else None,
        "dwt-ray-worker",
    )


def test_a_collect_job_counts_keys_and_scales_workers_under_the_cluster_role(cluster, ns):
    # The manifests' Deployment: workers are the Deployment dwt-ray-worker and keys the
    # Secret x-api-keys in the Ray cluster's namespace (its Role grants those two by name).
    assert cluster.operator.env["DWT_OPERATOR_WORKERS_NAME"] == "dwt-ray-worker"
    assert cluster.operator.env["DWT_OPERATOR_RAY_NAMESPACE"] == RAY_NAMESPACE
    _ray_namespace(cluster, ["k1", "k2", "k3"], workers=True)
    create_job(
        cluster.kube,
        ns,
        "collect",
        community="quick",
        steps=["collect"],
        collection={"workersPerKey": 2, "maxWorkers": 5},
    )
    status = _wait_phase(cluster, ns, "collect", "Succeeded", "Failed")
    assert status["phase"] == "Succeeded", status.get("message")
    assert status["keys"] == 3 and status["workers"] == 5  # 3 keys × 2, capped at 5
    _, workers = cluster.kube.request(
        "GET", f"/apis/apps/v1/namespaces/{RAY_NAMESPACE}/deployments/dwt-ray-worker"
    )
    assert workers["spec"]["replicas"] == 5


def test_a_missing_key_secret_fails_the_job_saying_what_to_create(cluster, ns):
    _ray_namespace(cluster, None, workers=True)
    _apply(cluster, ns, "nokeys", community="quick", steps=["collect"])
    status = _wait_phase(cluster, ns, "nokeys", "Failed", "Succeeded", "Running")
    assert status["phase"] == "Failed" and "rayJobId" not in status
    message = status["message"]
    assert f"Secret x-api-keys with the API keys not found in namespace {RAY_NAMESPACE}" in message
    assert f"kubectl create secret generic x-api-keys -n {RAY_NAMESPACE}" in message
    assert "NoApiKeys" in _reasons(cluster, ns)


def test_a_collect_job_without_the_worker_deployment_fails_saying_what_to_create(cluster, ns):
    # The API server's 404 on deployments/scale: a Failed job with the fix, not a handler
    # kopf retries every minute while the job shows no phase, Event or message.
    _ray_namespace(cluster, ["k"], workers=False)
    _apply(cluster, ns, "noworkers", community="quick", steps=["collect"])
    status = _wait_phase(cluster, ns, "noworkers", "Failed", "Succeeded", "Running")
    assert status["phase"] == "Failed" and "rayJobId" not in status
    message = status["message"]
    assert (
        f"Deployment dwt-ray-worker with the Ray workers not found in namespace {RAY_NAMESPACE}"
        in message
    )
    assert "DWT_OPERATOR_WORKERS_KIND=none" in message
    failed = next(c for c in status["conditions"] if c["type"] == "Failed")
    assert failed["status"] == "True" and failed["reason"] == "WorkersNotFound"
    warnings = [e for e in events(cluster.kube, ns, "noworkers") if e["type"] == "Warning"]
    assert [e["reason"] for e in warnings] == ["WorkersNotFound"]


def test_a_failed_run_is_retried_and_succeeds(cluster, ns):
    _apply(cluster, ns, "retry", community="fail-once", backoffLimit=2)
    status = _wait_phase(cluster, ns, "retry", "Succeeded", "Failed")
    assert status["phase"] == "Succeeded" and status["attempt"] == 1
    assert status["counts"] == {"bonds": 7}
    assert status["rayJobId"] == _ray_job(ns, "retry", attempt=1)
    assert cluster.ray.get_job_status(_ray_job(ns, "retry")).value == "FAILED"
    assert "Retrying" in _reasons(cluster, ns)


def test_a_run_past_its_deadline_is_stopped(cluster, ns):
    _apply(cluster, ns, "deadline", community="slow-a", activeDeadlineSeconds=3)
    status = _wait_phase(cluster, ns, "deadline", "Failed", "Succeeded")
    assert status["phase"] == "Failed" and "deadline" in status["message"]
    _ray_state(cluster, _ray_job(ns, "deadline"), "STOPPED")
    assert "DeadlineExceeded" in _reasons(cluster, ns)


def test_suspend_stops_the_job_and_resume_starts_again(cluster, ns):
    _apply(cluster, ns, "pause", community="slow-b")
    _wait_phase(cluster, ns, "pause", "Running")
    patch_job(cluster.kube, ns, "pause", {"spec": {"suspend": True}})
    _wait_phase(cluster, ns, "pause", "Suspended")
    _ray_state(cluster, _ray_job(ns, "pause"), "STOPPED")
    patch_job(cluster.kube, ns, "pause", {"spec": {"suspend": False}})
    status = _wait_phase(cluster, ns, "pause", "Pending", "Running")
    assert status["rayJobId"] == _ray_job(ns, "pause", "g3")


def test_deleting_the_job_stops_the_ray_job(cluster, ns):
    _apply(cluster, ns, "gone", community="slow-c")
    _wait_phase(cluster, ns, "gone", "Running")
    assert get_job(cluster.kube, ns, "gone")["metadata"]["finalizers"]  # kopf's, held
    cluster.kube.request(
        "DELETE", f"/apis/discoverweekly.io/v1alpha1/namespaces/{ns}/communityjobs/gone"
    )
    cluster.operator.wait_for(lambda: get_job(cluster.kube, ns, "gone") is None, 60, "the CR to go")
    _ray_state(cluster, _ray_job(ns, "gone"), "STOPPED")


def test_an_operator_restart_never_submits_twice(cluster, ns):
    _apply(cluster, ns, "restart", community="nap")
    _wait_phase(cluster, ns, "restart", "Pending", "Running")
    # The operator is gone (SIGTERM, as a rollout does) while the job runs and finishes; a
    # new process, with a new token, picks the CR up from its status.
    cluster.operator.stop()
    try:
        _ray_state(cluster, _ray_job(ns, "restart"), "SUCCEEDED")
        assert _status(cluster, ns, "restart")["phase"] in ("Pending", "Running")
    finally:
        cluster.operator.start()
    status = _wait_phase(cluster, ns, "restart", "Succeeded", "Failed")
    assert status["phase"] == "Succeeded" and status["counts"] == {"bonds": 7}
    assert (cluster.state / entrypoint.run_id(ns, "restart", "g1")).read_text() == "1"
    ids = [
        j.submission_id
        for j in cluster.ray.list_jobs()
        if (j.submission_id or "").startswith(f"dwt-{ns}-restart")
    ]
    assert ids == [_ray_job(ns, "restart")]


@pytest.mark.timeout(420)
def test_schedules_fire_and_obey_their_concurrency_policy(cluster, ns):
    # Every minute; the first run sleeps, so the second firing meets it still running.
    # Forbid and Replace run side by side (a firing is up to a minute away), each its own
    # community (two runs of one community never run at once).
    policies = {"every-f": "Forbid", "every-r": "Replace"}
    for name, policy in policies.items():
        _apply(
            cluster,
            ns,
            name,
            community=f"slow-sched-{name[-1]}",
            schedule="* * * * *",
            concurrencyPolicy=policy,
        )
    first = {
        name: cluster.operator.wait_for(
            lambda n=name: _status(cluster, ns, n).get("rayJobId"),
            90,
            "the first scheduled run",
        )
        for name in policies
    }
    fired = {name: _status(cluster, ns, name)["lastScheduleTime"] for name in policies}
    for name in policies:
        cluster.operator.wait_for(
            lambda n=name: _status(cluster, ns, n).get("lastScheduleTime") != fired[n],
            90,
            "the second firing",
        )
    time.sleep(1.5)
    second = {name: _status(cluster, ns, name) for name in policies}
    for name in policies:
        patch_job(cluster.kube, ns, name, {"spec": {"suspend": True}})
        _wait_phase(cluster, ns, name, "Suspended")
    assert second["every-f"]["rayJobId"] == first["every-f"]
    assert "Skipped" in _reasons(cluster, ns)
    assert second["every-r"]["rayJobId"] != first["every-r"]
    _ray_state(cluster, first["every-r"], "STOPPED")
