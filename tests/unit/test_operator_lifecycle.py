"""The operator's life cycle with the real kopf, the Kubernetes API emulator and a real Ray
head: retries, deadline, suspend/resume, deletion, operator restart, schedules.

Ray runs a stand-in for ``dwt`` here (a script whose behaviour the community name picks),
so each case takes seconds; the whole pipeline through the operator is covered by
test_operator_e2e.py.
"""

from __future__ import annotations

import sys
import textwrap
import time
from pathlib import Path

import kubernetes
import pytest
import yaml
from ray.job_submission import JobSubmissionClient

from dwt_operator.handlers import build_registry
from dwt_operator.settings import OperatorSettings
from kube.fixtures import kopf_registry, kube_api, run_kopf
from rayhead import ray_head

REPO = Path(__file__).resolve().parents[2]
CRD = yaml.safe_load((REPO / "manifests" / "crds" / "communityjobs.yaml").read_text())
JOBS = "discoverweekly.io/v1alpha1/communityjobs"

pytestmark = pytest.mark.slow

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
if community.startswith("slow"):
    time.sleep(300)
time.sleep(1)
progress({{"event": "summary", "status": "succeeded", "counts": {{"bonds": 7}}}})
"""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("operator")
    state = tmp / "calls"
    state.mkdir()
    stand_in = tmp / "dwt"
    stand_in.write_text(textwrap.dedent(STAND_IN.format(python=sys.executable, state=state)))
    stand_in.chmod(0o755)
    with ray_head() as head, kube_api(crds=[CRD], tmp_dir=tmp) as api:
        client = api.client()
        kube = {
            "core": kubernetes.client.CoreV1Api(client),
            "apps": kubernetes.client.AppsV1Api(client),
            "custom": None,
        }
        settings = OperatorSettings(
            ray_address=head,
            dwt_command=str(stand_in),
            poll_interval=0.5,
            retry_backoff=0.5,
            workers_kind="none",
        )

        def operator():
            registry = build_registry(settings, kube=lambda: kube, registry=kopf_registry(api))
            return run_kopf(api, registry, wait_for=[JOBS])

        yield type(
            "Cluster",
            (),
            {
                "api": api,
                "ray": JobSubmissionClient(head),
                "operator": staticmethod(operator),
                "state": state,
            },
        )


def _apply(api, name, **spec):
    api.create(
        JOBS,
        {
            "apiVersion": "discoverweekly.io/v1alpha1",
            "kind": "CommunityJob",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"steps": ["bonds"], **spec},
        },
        "default",
    )


def _status(api, name):
    cr = api.get(JOBS, "default", name)
    return (cr or {}).get("status") or {}


def _wait_phase(api, name, *phases, timeout=60):
    return api.wait_for(
        lambda: _status(api, name).get("phase") in phases and _status(api, name),
        timeout=timeout,
        message=f"{name} to reach {phases}",
    )


def _ray_state(cluster, job_id, *states, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        state = cluster.ray.get_job_status(job_id).value
        if state in states:
            return state
        time.sleep(0.3)
    raise AssertionError(f"Ray job {job_id} never reached {states}")


def _reasons(api):
    return [e.get("reason") for e in api.list("v1/events", "default")]


def test_a_failed_run_is_retried_and_succeeds(cluster):
    with cluster.operator():
        _apply(cluster.api, "retry", community="fail-once", backoffLimit=2)
        status = _wait_phase(cluster.api, "retry", "Succeeded", "Failed")
    assert status["phase"] == "Succeeded" and status["attempt"] == 1
    assert status["counts"] == {"bonds": 7}
    assert cluster.ray.get_job_status("dwt-default-retry-g1-a0").value == "FAILED"
    assert "Retrying" in _reasons(cluster.api)


def test_a_run_past_its_deadline_is_stopped(cluster):
    with cluster.operator():
        _apply(cluster.api, "deadline", community="slow-a", activeDeadlineSeconds=3)
        status = _wait_phase(cluster.api, "deadline", "Failed", "Succeeded", timeout=60)
    assert status["phase"] == "Failed" and "deadline" in status["message"]
    _ray_state(cluster, "dwt-default-deadline-g1-a0", "STOPPED")


def test_suspend_stops_the_job_and_resume_starts_again(cluster):
    with cluster.operator():
        _apply(cluster.api, "pause", community="slow-b")
        _wait_phase(cluster.api, "pause", "Running")
        cluster.api.patch(JOBS, "default", "pause", {"spec": {"suspend": True}})
        _wait_phase(cluster.api, "pause", "Suspended")
        _ray_state(cluster, "dwt-default-pause-g1-a0", "STOPPED")
        cluster.api.patch(JOBS, "default", "pause", {"spec": {"suspend": False}})
        status = _wait_phase(cluster.api, "pause", "Pending", "Running")
    assert status["rayJobId"] == "dwt-default-pause-g3-a0"


def test_deleting_the_job_stops_the_ray_job(cluster):
    with cluster.operator():
        _apply(cluster.api, "gone", community="slow-c")
        _wait_phase(cluster.api, "gone", "Running")
        cluster.api.delete(JOBS, "default", "gone")
        cluster.api.wait_for(
            lambda: cluster.api.get(JOBS, "default", "gone") is None,
            timeout=30,
            message="the CR to go",
        )
    _ray_state(cluster, "dwt-default-gone-g1-a0", "STOPPED")


def test_an_operator_restart_never_submits_twice(cluster):
    with cluster.operator():
        _apply(cluster.api, "restart", community="quick")
        _wait_phase(cluster.api, "restart", "Pending", "Running")
    # The operator is gone while the job runs; a new one picks the CR up.
    with cluster.operator():
        status = _wait_phase(cluster.api, "restart", "Succeeded", "Failed")
    assert status["phase"] == "Succeeded"
    assert (cluster.state / "dwt-default-restart-g1").read_text() == "1"
    ids = [
        j.submission_id
        for j in cluster.ray.list_jobs()
        if (j.submission_id or "").startswith("dwt-default-restart")
    ]
    assert ids == ["dwt-default-restart-g1-a0"]


def test_schedules_fire_and_obey_their_concurrency_policy(cluster):
    # Every minute; the first run sleeps, so the second firing meets it still running.
    # Forbid and Replace run side by side (a firing is up to a minute away).
    api = cluster.api
    policies = {"every-f": "Forbid", "every-r": "Replace"}
    with cluster.operator():
        for name, policy in policies.items():
            _apply(
                api, name, community="slow-sched", schedule="* * * * *", concurrencyPolicy=policy
            )
        first = {
            name: api.wait_for(
                lambda n=name: _status(api, n).get("rayJobId"),
                timeout=75,
                message="the first scheduled run",
            )
            for name in policies
        }
        fired = {name: _status(api, name)["lastScheduleTime"] for name in policies}
        for name in policies:
            api.wait_for(
                lambda n=name: _status(api, n).get("lastScheduleTime") != fired[n],
                timeout=75,
                message="the second firing",
            )
        time.sleep(1.5)
        second = {name: _status(api, name) for name in policies}
        for name in policies:
            api.patch(JOBS, "default", name, {"spec": {"suspend": True}})
            _wait_phase(api, name, "Suspended")
    assert second["every-f"]["rayJobId"] == first["every-f"] and "Skipped" in _reasons(api)
    assert second["every-r"]["rayJobId"] != first["every-r"]
    _ray_state(cluster, first["every-r"], "STOPPED")
