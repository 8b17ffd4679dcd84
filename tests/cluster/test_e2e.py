"""The product as deployed, end to end on a real single-node cluster (tests/cluster/node.py):
`helm install` of the chart with the image built here; every pod Ready under the restricted
Pod Security Standard; the network closed; a CommunityJob submitted by the operator in its pod
to the Ray head pod, collected by Ray workers from the X API emulator pod, its results in the
store (FerretDB pod) and served by the dashboard pod through its Service.

Stand-ins, and why: the X API emulator (the real X API cannot be reached; it also serves a
known community, so the counts can be checked) and FerretDB (no MongoDB image can be pulled;
the chart's own MongoDB StatefulSet is rendered and admitted, not run)."""

from __future__ import annotations

import re

import pytest
import requests

from dwt.store import Coll

from .conftest import SUMMARY
from .jobs import (
    add_members,
    community_job,
    job_events,
    members,
    pods,
    ray_nodes,
    store,
    submissions,
    wait_phase,
)
from .net import NODE_BRIDGE, SERVICE_CIDR
from .release import FULLNAME, RESTRICTED, admit_chart_mongodb, pod_ready, serving_pods

COMMUNITY = "e2e"
UNASSIGNED = "10.0.0.250"  # in the Service range, given to no Service


def _python_in(release, component: str, code: str) -> tuple[int, str]:
    pod = pods(release, component)[0]
    result = release.cluster.kubectl(
        "-n",
        release.namespace,
        "exec",
        pod["metadata"]["name"],
        "--",
        "python",
        "-c",
        code,
        check=False,
    )
    return result.returncode, result.stdout + result.stderr


def test_every_pod_is_ready_under_the_restricted_standard(release):
    _, ns = release.cluster.request("GET", f"/api/v1/namespaces/{release.namespace}")
    assert RESTRICTED.items() <= ns["metadata"]["labels"].items()
    running = serving_pods(release.pods())
    components = {p["metadata"]["labels"].get("app.kubernetes.io/component") for p in running}
    assert {"operator", "dashboard", "ray-head", "ray-worker"} <= components
    assert all(pod_ready(p) for p in running), [p["metadata"]["name"] for p in running]
    # every container of the product image runs under its init, as uid 10001
    for pod in running:
        for ctr in pod["spec"]["containers"]:
            if ctr["image"] == release.image:
                assert "command" not in ctr, pod["metadata"]["name"]
    assert SUMMARY["pods_ready"] == SUMMARY["pods_total"] == len(running)


def test_the_charts_own_mongodb_is_rendered_and_admitted(release):
    kinds = admit_chart_mongodb(release.cluster, release.namespace, release.image)
    assert {"StatefulSet", "Service", "Secret", "ConfigMap"} <= set(kinds)


def test_the_network_has_no_way_out(release):
    """Only loopback, the node's port-less bridge, the pods' bridge and their veths; no
    default route; an unassigned Service address answers nothing, from a pod or the node."""
    names = release.cluster.netns.interfaces()
    assert {"lo", NODE_BRIDGE, "cni0"} <= set(names)
    assert all(n in ("lo", NODE_BRIDGE, "cni0") or n.startswith("veth") for n in names), names
    routes = release.cluster.netns.routes()
    assert not [r for r in routes if r.startswith("default")], routes
    code, out = _python_in(
        release,
        "operator",
        (
            "import socket\n"
            "try:\n"
            f"    socket.create_connection(('{UNASSIGNED}', 80), timeout=10)\n"
            "    print('connected')\n"
            "except OSError as e:\n"
            "    print('refused', type(e).__name__, e)\n"
        ),
    )
    assert code == 0 and out.startswith("refused"), out
    with pytest.raises(OSError):
        release.cluster.netns.connect(UNASSIGNED, 80, timeout=5).close()
    assert SERVICE_CIDR.startswith("10.0.0.")


def test_services_resolve_by_name_in_the_pods(release):
    code, out = _python_in(
        release,
        "dashboard",
        (
            "import socket\n"
            f"print(socket.gethostbyname('x-api.{release.namespace}.svc.cluster.local'))\n"
            f"print(socket.gethostbyname('{FULLNAME}-ray-head'))\n"
        ),
    )
    assert code == 0, out
    x_api, head = out.split()
    assert x_api == release.service_ip("x-api") and head == release.service_ip(
        f"{FULLNAME}-ray-head"
    )


def test_a_community_job_runs_on_the_ray_pods(release):
    add_members(release, COMMUNITY, "members-e2e")
    usernames, expected_tweets = members()
    # four shards: the insight steps run as Ray tasks although the week is small
    community_job(release, "weekly", COMMUNITY, shards=4)
    status = wait_phase(release, "weekly", ("Succeeded", "Failed"), 900)
    SUMMARY["communityjob_phase"] = status["phase"]
    told = "\n".join(
        [f"{c.get('type')} {c.get('reason')}: {c.get('message')}" for c in status["conditions"]]
        + [f"{e.get('reason')}: {e.get('message', '')}" for e in job_events(release, "weekly")]
    )
    assert status["phase"] == "Succeeded", told
    counts = status["counts"]
    assert counts["accounts"] == len(usernames)
    assert counts["tweets_new"] == expected_tweets
    assert counts["clusters"] >= 2 and counts["conversations"] > 0
    # the operator in its pod submitted it once to the head pod; the workers it scaled
    # (2 keys x 1 per key) joined the head's Ray cluster
    assert status["keys"] == 2 and status["workers"] == 2
    assert submissions(release, status["rayJobId"].rsplit("-a", 1)[0]) == [status["rayJobId"]], told
    assert len([p for p in pods(release, "ray-worker") if pod_ready(p)]) == 2
    nodes = ray_nodes(release)
    assert len(nodes) == 3
    # Ray placed the driver on a worker: the head offers no CPUs, the driver reserves one.
    workers = {n["node_id"] for n in nodes if not n["is_head_node"]}
    assert status["driverNode"] in workers, (status.get("driverNode"), nodes)
    assert {"Submitted", "Succeeded"} <= {e.get("reason") for e in job_events(release, "weekly")}
    with store(release) as s:
        assert s.counts()["tweets"] == expected_tweets
        placed = s[Coll.RUNS].find_one({"_id": status["runId"]})["placement"]
    # each heavy step's shards went round-robin over both workers, none on the head (the
    # run record names a node by the first 12 characters of its id)
    for step in ("read", "discover", "bonds", "cluster", "content"):
        assert placed[step]["where"] == "ray" and placed[step]["tasks"] >= 2, placed
        assert set(placed[step]["nodes"]) == {w[:12] for w in workers}, (step, placed, nodes)


def test_the_dashboard_serves_insights_through_its_service(release):
    relay = release.cluster.relay(release.service_ip(f"{FULLNAME}-dashboard"), 80)
    base = f"http://{relay.address}"
    with requests.Session() as http:
        form = http.get(f"{base}/login", timeout=30)
        token = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)
        login = http.post(
            f"{base}/login",
            data={"username": release.user, "password": release.password, "csrf_token": token},
            allow_redirects=False,
            timeout=30,
        )
        assert login.status_code == 302, login.text
        page = http.get(f"{base}/insights", timeout=60)
        layout = http.get(f"{base}/_dash-layout", timeout=60)
    relay.close()
    SUMMARY["dashboard_insights_http"] = page.status_code
    assert page.status_code == 200
    assert layout.status_code == 200 and COMMUNITY in layout.text
