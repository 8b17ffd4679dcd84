"""End to end, as deployed: the Helm chart's objects applied into a fresh namespace of a
real kube-apiserver, and ``python -m dwt_operator`` run with the chart's operator
Deployment's command and ``DWT_OPERATOR_*`` environment, logged in as the chart's operator
ServiceAccount (its Role in the namespace, its read-only ClusterRole); a real Ray head with
the Jobs API; the X API v2 emulator serving a generated community.

A CommunityJob applied to the API becomes a Ray job running ``dwt run`` (collect, discover,
bonds, cluster, content); the CR ends Succeeded with counts that match the generated
dataset; the chart's Ray worker Deployment was scaled to keys × workersPerKey through its
``scale`` subresource. Then the dashboard, in cluster mode over those results and as the
chart's dashboard ServiceAccount, finalises an addition: its CommunityJob collects the new
member on Ray, and the Jobs page shows it. The operator is a separate process: if it cannot
reconcile on its own (log in, watch, patch status, post Events under its RBAC) the test
fails with its log. (The manifests' cluster-wide operator runs the same reconciliation in
test_operator_lifecycle.py; a cluster-wide one here would also pick up the CommunityJobs
other tests of the session leave behind and run them on this test's store.)
"""

from __future__ import annotations

import sys
from pathlib import Path

import kubernetes
import pyarrow.compute as pc
import pytest

from dwt.generate import generate_community
from dwt.store import Store
from dwt.xapi.emulator import EmulatorConfig, EmulatorServer
from dwt_dashboard import data
from dwt_dashboard.app import create_app
from dwt_dashboard.auth import UserDirectory, user_line
from dwt_dashboard.kube_launcher import KubeLauncher
from dwt_operator import entrypoint
from rayhead import ray_head
from servers.kube import KubeServer
from servers.operator_proc import (
    OperatorProcess,
    cleaned_up,
    create_job,
    events,
    fresh_namespace,
    get_job,
    install_chart,
    put_keys,
)

KEYS = ["e2e-key-1", "e2e-key-2"]
SECRET = "x-api-keys"  # the chart's apiKeys.secretName

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def _finished(kube: KubeServer, namespace: str, name: str):
    def check():
        cr = get_job(kube, namespace, name) or {}
        phase = (cr.get("status") or {}).get("phase")
        return cr if phase in ("Succeeded", "Failed") else None

    return check


@pytest.mark.both_stores
def test_a_community_job_runs_the_pipeline_on_ray(
    kube_api: KubeServer, tmp_path: Path, store_url: str
):
    dataset = generate_community(members=40, communities=2, days=3, seed=5)
    members = dataset.users.filter(dataset.users["is_member"])
    readable = members.filter(pc.equal(members["state"], "active")).column("id")
    expected_tweets = pc.sum(pc.is_in(dataset.tweets["author_id"], readable)).as_py()

    # The store the Ray job will open (the embedded store's file, or a MongoDB database),
    # members seeded.
    store = Store.open(store_url)
    store.add_members("e2e", members.select(["id", "username"]).to_pylist())

    # The API-key Secret as the chart mounts it on the Ray pods: one file per key.
    mounted = tmp_path / "keys" / SECRET
    mounted.mkdir(parents=True)
    for i, key in enumerate(KEYS):
        (mounted / f"key-{i}").write_text(key)

    # What a person installs (the chart; the test's Ray head runs without a token), and the
    # keys put into the chart's key Secret as the dashboard's API keys page does.
    ns = fresh_namespace(kube_api, "e2e")
    install = install_chart(kube_api, ns, {"ray": {"auth": {"enabled": False}}})
    assert install.watched == (ns,)
    put_keys(kube_api, ns, SECRET, KEYS)
    workers = install.object("Deployment", "ray-worker")["metadata"]["name"]
    dashboard = install.object("ServiceAccount", "dashboard")["metadata"]["name"]
    custom = kubernetes.client.CustomObjectsApi(kube_api.client(kube_api.token_for(ns, dashboard)))

    x_api = EmulatorServer(dataset, EmulatorConfig(tokens=KEYS, rate_limit=1000))
    with (
        x_api,
        ray_head(env={"DWT_STORE_URL": store_url, "DWT_X_API_BASE_URL": x_api.base_url}) as head,
        OperatorProcess(
            kube_api,
            install,
            tmp_path / "operator",
            ray_address=head,
            keys_mount_root=tmp_path / "keys",
            dwt_command=Path(sys.executable).parent / "dwt",
            poll_interval=1.0,
            retry_backoff=1.0,
        ) as operator,
        cleaned_up(kube_api, ns),
    ):
        create_job(
            kube_api,
            ns,
            "weekly",
            community="e2e",
            windowDays=4,
            collection={"apiKeysSecret": SECRET, "workersPerKey": 2},
        )
        cr = operator.wait_for(_finished(kube_api, ns, "weekly"), 300, "the CommunityJob to finish")
        seen_events = events(kube_api, ns, "weekly")
        from ray.job_submission import JobSubmissionClient

        info = JobSubmissionClient(head).get_job_info(cr["status"]["rayJobId"])
        _, scaled = kube_api.request("GET", f"/apis/apps/v1/namespaces/{ns}/deployments/{workers}")

        # The dashboard, in cluster mode (its ServiceAccount, its Role), over the results: a
        # person adds the top candidate; finalising creates a CommunityJob that collects it
        # on Ray.
        seen = Store.open(store_url)
        launcher = KubeLauncher(custom, ns, seen, keys_secret=SECRET)
        users = UserDirectory.parse(user_line("ann", "pw", ["e2e"], iterations=1000))
        handlers = create_app(seen, launcher, users).handlers
        candidate = data.candidates(seen, "e2e")[0]
        told = handlers.finalise("ann", "e2e", {candidate["account_id"]: "add"})
        assert "Collecting them in run " in told, told
        discovery_run = told.split("Collecting them in run ")[1].rstrip(".")
        name = discovery_run.removeprefix(f"dwt-{ns}-").removesuffix("-g1")

        discovery = operator.wait_for(
            _finished(kube_api, ns, name), 300, "the discovery job to finish"
        )
        shown_jobs = str(handlers.page("ann", "/jobs", "e2e"))

    status = cr["status"]
    assert status["phase"] == "Succeeded", status.get("message")
    assert operator.problems() == [], operator.output()  # no 403 kopf logged and survived
    counts = status["counts"]
    assert counts["accounts"] == members.num_rows
    assert counts["tweets_new"] == expected_tweets  # every readable member's tweet, once
    assert counts["failed"] == 0 and counts["clusters"] >= 2 and counts["conversations"] > 0
    assert status["keys"] == 2 and status["workers"] == 4
    assert scaled["spec"]["replicas"] == 4  # through deployments/scale, under the Role
    run = entrypoint.run_id(ns, "weekly", "g1")
    assert status["rayJobId"] == entrypoint.submission_id(run, 0) == f"dwt-{ns}-weekly-g1-a0"
    assert status["history"][0]["phase"] == "Succeeded"
    assert status["driverNode"] == info.driver_node_id  # where Ray placed the driver
    # Keys travel as a mounted path, never in the job's command, metadata or environment.
    shown = f"{info.entrypoint} {info.metadata} {info.runtime_env}"
    assert str(mounted) in shown and not any(key in shown for key in KEYS)
    # Events posted by the operator's ServiceAccount (the Role's create on events).
    reasons = {e.get("reason") for e in seen_events}
    assert {"Submitted", "Succeeded"} <= reasons
    # The job wrote its results back to the store.
    after = Store.open(store_url)
    new_tweets = discovery["status"]["counts"]["tweets_new"]
    assert after.counts()["tweets"] == expected_tweets + new_tweets  # nothing fetched twice

    # The dashboard's discovery job: valid for the CRD, run by the operator, shown.
    assert discovery["spec"]["steps"] == ["collect"]
    assert discovery["spec"]["members"]["scope"] == "new"
    assert discovery["status"]["phase"] == "Succeeded", discovery["status"].get("message")
    assert discovery["status"]["counts"]["accounts"] == 1
    added = after["members"].find_one({"community": "e2e", "account_id": candidate["account_id"]})
    assert added["source"] == "discover"
    run = {r["run_id"]: r for r in data.runs(after, "e2e")}[discovery_run]
    assert run["kind"] == "discovery" and run["status"] == "succeeded"
    assert name in shown_jobs and "Succeeded" in shown_jobs
