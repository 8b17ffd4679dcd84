"""The failures a cluster brings, each on the real single-node cluster with the chart installed
(tests/cluster/conftest.py's ``release``): a pod of the product replaced or killed while a
CommunityJob runs, an upgrade and an uninstall of the release, a job deleted while Ray is down.

Each test drives one CommunityJob of a community of its own (members added by a Job of the
product image) into ``Running`` on Ray, does one thing to the cluster, and checks what the
operator must then do. They run in this order; the uninstall is last (it removes the release).
"""

from __future__ import annotations

import time

from .conftest import SUMMARY
from .jobs import (
    add_members,
    community_job,
    delete_pod,
    job,
    job_events,
    members,
    pods,
    status,
    store,
    submissions,
    wait_phase,
    wait_running,
)
from .node import wait_for
from .release import FULLNAME, RELEASE, pod_ready, wait_pods_ready

FINISH = 600  # s: a retried run on two cores, with the Ray head restarting


def _prefix(ray_job_id: str) -> str:
    """The submission ids of one run share ``<run>-a``; the attempt follows."""
    return ray_job_id.rsplit("-a", 1)[0] + "-a"


def _start(release, name: str, **spec) -> dict:
    """An empty store (the tweets of the week are collected anew: each is stored once, so a
    second collection of the same week would add nothing to count), the members, the job."""
    community = f"f-{name}"
    with store(release) as s:
        s.drop()
    add_members(release, community, f"members-{name}")
    community_job(release, name, community, **spec)
    return wait_running(release, name)


def test_ray_head_deleted_mid_run(release):
    """The head (and the job's driver on it) is replaced: the lost Ray job is a failed
    attempt, said in an Event, retried within backoffLimit, and the job ends Succeeded."""
    first = _start(release, "head")
    (head,) = pods(release, "ray-head")
    delete_pod(release, head)
    wait_for(
        lambda: [
            p
            for p in pods(release, "ray-head")
            if p["metadata"]["uid"] != head["metadata"]["uid"] and pod_ready(p)
        ],
        420,
        "a new Ray head pod Ready",
        check=release.cluster.check,
        interval=2,
    )
    final = wait_phase(release, "head", ("Succeeded", "Failed"), FINISH)
    warnings = [e for e in job_events(release, "head") if e.get("type") == "Warning"]
    assert final["phase"] == "Succeeded", final
    assert final["rayJobId"] != first["rayJobId"]  # a new attempt, not the lost one
    assert any("lost" in (e.get("message", "") + e.get("reason", "")).lower() for e in warnings), (
        warnings
    )
    with store(release) as s:
        assert s.counts()["tweets"] == members()[1]


def test_operator_deleted_mid_run(release):
    """The operator pod is replaced: the new one adopts the running Ray job; nothing is
    submitted twice."""
    first = _start(release, "operator")
    (operator,) = pods(release, "operator")
    delete_pod(release, operator)
    final = wait_phase(release, "operator", ("Succeeded", "Failed"), FINISH)
    assert final["phase"] == "Succeeded", final
    assert final["rayJobId"] == first["rayJobId"]
    assert submissions(release, _prefix(first["rayJobId"])) == [first["rayJobId"]]
    new = pods(release, "operator")
    assert len(new) == 1 and new[0]["metadata"]["uid"] != operator["metadata"]["uid"]


def test_worker_killed_mid_run(release):
    """A worker pod is killed (no grace): collection resumes on what is left and on the
    worker that replaces it; every tweet is stored once."""
    _start(release, "worker")
    workers = [p for p in pods(release, "ray-worker") if pod_ready(p)]
    assert workers, "no Ray worker is running"
    delete_pod(release, workers[0], grace=0)
    final = wait_phase(release, "worker", ("Succeeded", "Failed"), FINISH)
    assert final["phase"] == "Succeeded", final
    with store(release) as s:  # over however many attempts it took
        assert s.counts()["tweets"] == members()[1]


def test_helm_upgrade_mid_run(release):
    """``helm upgrade`` (new operator and dashboard settings: their pods roll) while a job
    runs: it finishes, submitted once, and every pod is Ready on the new revision."""
    first = _start(release, "upgrade")
    values = {**release.values, "operator": {**release.values["operator"], "pollInterval": 3}}
    upgraded = release.helm_do(
        "upgrade",
        str(release_chart()),
        RELEASE,
        values,
        namespace=release.namespace,
        wait="watcher",
        timeout=600,
    )
    assert upgraded
    # Helm's record of the release: revision 2 deployed (its Secret, as `helm history` reads)
    code, record = release.cluster.request(
        "GET", f"/api/v1/namespaces/{release.namespace}/secrets/sh.helm.release.v1.{RELEASE}.v2"
    )
    assert code == 200 and record["metadata"]["labels"]["status"] == "deployed", record
    final = wait_phase(release, "upgrade", ("Succeeded", "Failed"), FINISH)
    assert final["phase"] == "Succeeded", final
    assert submissions(release, _prefix(first["rayJobId"])) == [final["rayJobId"]]
    wait_pods_ready(release, 300, "every pod Ready after the upgrade")
    release.values = values


def test_deleted_while_ray_is_down(release):
    """The Ray head is down (scaled to 0) when a running job is deleted: the deletion is not
    blocked (no CommunityJob left Terminating)."""
    _start(release, "raydown")
    head = f"{FULLNAME}-ray-head"
    release.cluster.kubectl("-n", release.namespace, "scale", f"deployment/{head}", "--replicas=0")
    try:
        wait_for(
            lambda: not pods(release, "ray-head"),
            180,
            "the Ray head pod gone",
            check=release.cluster.check,
            interval=1,
        )
        release.cluster.kubectl(
            "-n", release.namespace, "delete", "communityjob", "raydown", "--wait=false"
        )
        started = time.monotonic()
        wait_for(
            lambda: job(release, "raydown") is None,
            120,
            "the CommunityJob deleted while Ray is down",
            check=release.cluster.check,
        )
        assert time.monotonic() - started < 120
    finally:
        release.cluster.kubectl(
            "-n", release.namespace, "scale", f"deployment/{head}", "--replicas=1"
        )
        wait_pods_ready(release, 420, "every pod Ready with the Ray head back")


def test_helm_uninstall_with_jobs_present(release):
    """``helm uninstall`` with a running and a scheduled CommunityJob, then the namespace
    deleted: nothing is left Terminating (the namespace goes)."""
    _start(release, "uninstall")
    community_job(release, "scheduled", "f-uninstall", schedule="0 6 * * 1")
    release.helm_do("uninstall", RELEASE, wait="watcher", timeout=300)
    release.cluster.kubectl("delete", "namespace", release.namespace, "--wait=false")

    def gone() -> bool:
        code, _ = release.cluster.request("GET", f"/api/v1/namespaces/{release.namespace}")
        return code == 404

    try:
        wait_for(
            gone,
            240,
            f"namespace {release.namespace} deleted",
            check=release.cluster.check,
            interval=2,
        )
    finally:
        left = {
            n: status(release, n).get("phase")
            for n in ("uninstall", "scheduled")
            if job(release, n) is not None
        }
        SUMMARY.setdefault("left_after_uninstall", left)
    assert not left


def release_chart():
    from .release import CHART

    return CHART
