"""What the cluster tests do with the installed product: members, CommunityJobs, the Ray head's
Jobs API and the store, each reached the way a person's tools would (the API server, a
Service through the host's relay)."""

from __future__ import annotations

import base64
import contextlib
import time
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from servers.operator_proc import create_job, events, get_job

from .node import ClusterFailed, wait_for
from .release import FULLNAME, KEYS_SECRET, Release, generated_dataset, run_job

TERMINAL = ("Succeeded", "Failed")


def members() -> tuple[list[str], int]:
    """The generated community's members that X can show (active or protected: the dataset
    also plants a suspended and a deleted one, which ``dwt members add`` rightly refuses) and
    how many tweets a run over them collects (the active members' timelines)."""
    dataset = generated_dataset()
    users = dataset.users.filter(dataset.users["is_member"])
    shown = users.filter(pc.is_in(users["state"], pa.array(["active", "protected"])))
    readable = users.filter(pc.equal(users["state"], "active")).column("id")
    tweets = pc.sum(pc.is_in(dataset.tweets["author_id"], readable)).as_py()
    return shown.column("username").to_pylist(), tweets


def add_members(release: Release, community: str, name: str) -> str:
    """``dwt members add`` in a Job of the product image: looked up on the (emulated) X API
    through its Service name, stored in FerretDB through its Service name (DNS, kube-proxy)."""
    usernames, _ = members()
    log = run_job(release, name, ["dwt", "members", "add", "--community", community, *usernames])
    if f"added {len(usernames)} member(s)" not in log:
        raise ClusterFailed(f"{name}: not every member was added:\n{log}")
    return log


def community_job(release: Release, name: str, community: str, **spec: Any) -> dict:
    body = {
        "community": community,
        "windowDays": 4,
        "collection": {"apiKeysSecret": KEYS_SECRET, "workersPerKey": 1},
        "backoffLimit": 2,
        "activeDeadlineSeconds": 1800,
        **spec,
    }
    return create_job(release.cluster, release.namespace, name, **body)


def job(release: Release, name: str) -> dict | None:
    return get_job(release.cluster, release.namespace, name)


def status(release: Release, name: str) -> dict:
    return (job(release, name) or {}).get("status") or {}


def wait_phase(release: Release, name: str, phases: tuple[str, ...], timeout: float) -> dict:
    """Wait until the CommunityJob's phase is one of ``phases``; its status."""

    def reached() -> dict | None:
        st = status(release, name)
        return st if st.get("phase") in phases else None

    try:
        return wait_for(
            reached,
            timeout,
            f"CommunityJob {name} to be {'/'.join(phases)}",
            check=release.cluster.check,
            interval=1,
        )
    except ClusterFailed as e:
        raise ClusterFailed(f"{e}; status now: {status(release, name)}") from None


def wait_running(release: Release, name: str, timeout: float = 300) -> dict:
    """Running with a Ray job submitted (its id in the status)."""

    def running() -> dict | None:
        st = status(release, name)
        if st.get("phase") in TERMINAL:
            raise AssertionError(f"{name} finished before the test could act: {st}")
        return st if st.get("phase") == "Running" and st.get("rayJobId") else None

    return wait_for(
        running,
        timeout,
        f"CommunityJob {name} Running on Ray",
        check=release.cluster.check,
        interval=0.5,
    )


def job_events(release: Release, name: str) -> list[dict]:
    return events(release.cluster, release.namespace, name)


def ray_token(release: Release) -> str:
    status_code, secret = release.cluster.request(
        "GET", f"/api/v1/namespaces/{release.namespace}/secrets/{FULLNAME}-ray-auth"
    )
    if status_code != 200:
        raise ClusterFailed(f"the Ray token Secret: {status_code}")
    return base64.b64decode(secret["data"]["auth_token"]).decode()


@contextlib.contextmanager
def ray_jobs(release: Release) -> Iterator[Any]:
    """A `JobSubmissionClient` on the Ray head's Service (through a relay), with the token."""
    from ray.job_submission import JobSubmissionClient

    relay = release.cluster.relay(release.service_ip(f"{FULLNAME}-ray-head"), 8265)
    try:
        yield JobSubmissionClient(
            f"http://{relay.address}", headers={"Authorization": f"Bearer {ray_token(release)}"}
        )
    finally:
        relay.close()


def submissions(release: Release, prefix: str) -> list[str]:
    """Ray job submission ids starting with ``prefix`` (the runs of one CommunityJob)."""
    with ray_jobs(release) as client:
        return sorted(
            j.submission_id
            for j in client.list_jobs()
            if (j.submission_id or "").startswith(prefix)
        )


def ray_nodes(release: Release) -> list[dict[str, Any]]:
    """Alive nodes in the Ray cluster (head + workers that joined; ``node_id``,
    ``is_head_node``, ``resources_total`` …), from the head's own state API."""
    import json
    import urllib.request

    relay = release.cluster.relay(release.service_ip(f"{FULLNAME}-ray-head"), 8265)
    try:
        req = urllib.request.Request(
            f"http://{relay.address}/api/v0/nodes?limit=100",
            headers={"Authorization": f"Bearer {ray_token(release)}"},
        )
        with urllib.request.urlopen(req, timeout=30) as response:
            body = json.loads(response.read())
        rows = body["data"]["result"]["result"]
        return [r for r in rows if r.get("state") == "ALIVE"]
    finally:
        relay.close()


@contextlib.contextmanager
def store(release: Release) -> Iterator[Any]:
    """The product's store (FerretDB's Service through a relay), as the Ray job sees it."""
    from dwt.store import Store

    relay = release.cluster.relay(release.service_ip("ferretdb"), 27017)
    try:
        yield Store.open(f"mongodb://{relay.address}/dwt?directConnection=true")
    finally:
        relay.close()


def pods(release: Release, component: str) -> list[dict]:
    return [
        p
        for p in release.pods()
        if p["metadata"].get("labels", {}).get("app.kubernetes.io/component") == component
        and not p["metadata"].get("deletionTimestamp")
    ]


def delete_pod(release: Release, pod: dict, grace: int | None = None) -> None:
    args = ["-n", release.namespace, "delete", "pod", pod["metadata"]["name"], "--wait=false"]
    if grace is not None:
        args.append(f"--grace-period={grace}")
        if grace == 0:
            args.append("--force")
    release.cluster.kubectl(*args)


def elapsed_since(started: float) -> float:
    return time.monotonic() - started
