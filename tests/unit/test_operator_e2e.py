"""End to end: the real kopf operator against the Kubernetes API emulator, a real Ray head
with the Jobs API, and the X API v2 emulator serving a generated community.

A CommunityJob applied to the API becomes a Ray job running ``dwt run`` (collect, discover,
bonds, cluster, content); the CR ends Succeeded with counts that match the generated
dataset; the Ray workers were scaled to keys × workersPerKey. Then the dashboard, in
cluster mode over those results, finalises an addition: its CommunityJob collects the new
member on Ray, and the Jobs page shows it.
"""

from __future__ import annotations

import base64
import sys
from pathlib import Path

import kubernetes
import pyarrow.compute as pc
import pytest
import yaml

from dwt.generate import generate_community
from dwt.store import Store
from dwt.xapi.emulator import EmulatorConfig, EmulatorServer
from dwt_dashboard import data
from dwt_dashboard.app import create_app
from dwt_dashboard.auth import UserDirectory, user_line
from dwt_dashboard.kube_launcher import KubeLauncher
from dwt_operator.handlers import build_registry
from dwt_operator.settings import OperatorSettings
from kube.fixtures import kopf_registry, kube_api, run_kopf
from rayhead import ray_head

REPO = Path(__file__).resolve().parents[2]
CRD = yaml.safe_load((REPO / "manifests" / "crds" / "communityjobs.yaml").read_text())
JOBS = "discoverweekly.io/v1alpha1/communityjobs"
KEYS = ["e2e-key-1", "e2e-key-2"]

pytestmark = pytest.mark.slow


def _secret(namespace: str) -> dict:
    data = {f"key-{i}": base64.b64encode(k.encode()).decode() for i, k in enumerate(KEYS)}
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {"name": "x-api-keys", "namespace": namespace},
        "data": data,
    }


def _workers(namespace: str) -> dict:
    labels = {"app": "dwt-ray-worker"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "dwt-ray-worker", "namespace": namespace},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "ray", "image": "ray"}]},
            },
        },
    }


@pytest.mark.both_stores
def test_a_community_job_runs_the_pipeline_on_ray(tmp_path: Path, store_url: str):
    dataset = generate_community(members=40, communities=2, days=3, seed=5)
    members = dataset.users.filter(dataset.users["is_member"])
    readable = members.filter(pc.equal(members["state"], "active")).column("id")
    expected_tweets = pc.sum(pc.is_in(dataset.tweets["author_id"], readable)).as_py()

    # The store the Ray job will open (the embedded store's file, or a MongoDB database),
    # members seeded.
    store = Store.open(store_url)
    store.add_members("e2e", members.select(["id", "username"]).to_pylist())

    # The API-key Secret as the chart mounts it on the Ray pods: one file per key.
    mounted = tmp_path / "keys" / "x-api-keys"
    mounted.mkdir(parents=True)
    for i, key in enumerate(KEYS):
        (mounted / f"key-{i}").write_text(key)

    x_api = EmulatorServer(dataset, EmulatorConfig(tokens=KEYS, rate_limit=1000))
    with (
        x_api,
        ray_head(env={"DWT_STORE_URL": store_url, "DWT_X_API_BASE_URL": x_api.base_url}) as head,
        kube_api(crds=[CRD], tmp_dir=tmp_path) as api,
    ):
        api.create("v1/secrets", _secret("default"), "default")
        api.create("apps/v1/deployments", _workers("default"), "default")
        client = api.client()
        settings = OperatorSettings(
            ray_address=head,
            keys_mount_root=str(tmp_path / "keys"),
            poll_interval=1.0,
            dwt_command=str(Path(sys.executable).parent / "dwt"),
            retry_backoff=1.0,
        )
        kube = {
            "core": kubernetes.client.CoreV1Api(client),
            "apps": kubernetes.client.AppsV1Api(client),
            "custom": kubernetes.client.CustomObjectsApi(client),
        }
        registry = build_registry(settings, kube=lambda: kube, registry=kopf_registry(api))
        with run_kopf(api, registry, wait_for=[JOBS]):
            api.create(
                JOBS,
                {
                    "apiVersion": "discoverweekly.io/v1alpha1",
                    "kind": "CommunityJob",
                    "metadata": {"name": "weekly", "namespace": "default"},
                    "spec": {
                        "community": "e2e",
                        "windowDays": 4,
                        "collection": {"apiKeysSecret": "x-api-keys", "workersPerKey": 2},
                    },
                },
                "default",
            )

            def finished():
                cr = api.get(JOBS, "default", "weekly")
                phase = (cr.get("status") or {}).get("phase")
                return cr if phase in ("Succeeded", "Failed") else None

            cr = api.wait_for(finished, timeout=240, message="the CommunityJob to finish")
            events = api.list("v1/events", "default")
            from ray.job_submission import JobSubmissionClient

            info = JobSubmissionClient(head).get_job_info(cr["status"]["rayJobId"])
            scaled = api.get("apps/v1/deployments", "default", "dwt-ray-worker")

            # The dashboard, in cluster mode, over the results: a person adds the top
            # candidate; finalising creates a CommunityJob that collects it on Ray.
            seen = Store.open(store_url)
            launcher = KubeLauncher(kube["custom"], "default", seen, keys_secret="x-api-keys")
            users = UserDirectory.parse(user_line("ann", "pw", ["e2e"], iterations=1000))
            handlers = create_app(seen, launcher, users).handlers
            candidate = data.candidates(seen, "e2e")[0]
            told = handlers.finalise("ann", "e2e", {candidate["account_id"]: "add"})
            assert "Collecting them in run " in told, told
            discovery_run = told.split("Collecting them in run ")[1].rstrip(".")
            name = discovery_run.removeprefix("dwt-default-").removesuffix("-g1")

            def collected():
                job = api.get(JOBS, "default", name)
                phase = (job.get("status") or {}).get("phase")
                return job if phase in ("Succeeded", "Failed") else None

            discovery = api.wait_for(collected, timeout=240, message="the discovery job")
            shown_jobs = str(handlers.page("ann", "/jobs", "e2e"))

    status = cr["status"]
    assert status["phase"] == "Succeeded", status.get("message")
    counts = status["counts"]
    assert counts["accounts"] == members.num_rows
    assert counts["tweets_new"] == expected_tweets  # every readable member's tweet, once
    assert counts["failed"] == 0 and counts["clusters"] >= 2 and counts["conversations"] > 0
    assert status["keys"] == 2 and status["workers"] == 4
    assert scaled["spec"]["replicas"] == 4
    assert status["rayJobId"] == "dwt-default-weekly-g1-a0"
    assert status["history"][0]["phase"] == "Succeeded"
    # Keys travel as a mounted path, never in the job's command, metadata or environment.
    shown = f"{info.entrypoint} {info.metadata} {info.runtime_env}"
    assert str(mounted) in shown and not any(key in shown for key in KEYS)
    reasons = {e.get("reason") for e in events}
    assert {"Submitted", "Succeeded"} <= reasons
    # The job wrote its results back to the shared store file.
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
