"""What a real kube-apiserver showed the operator getting wrong (issue 13): it logs in as
``kopf run`` does, scales a KubeRay worker group with a patch the server accepts, and
derives run ids that stay unique for any valid namespace and name."""

from __future__ import annotations

import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import kopf
import kubernetes
import pytest
import yaml
from kubernetes.client.exceptions import ApiException

from dwt_operator import entrypoint
from dwt_operator.handlers import build_registry
from dwt_operator.scaling import scale_workers
from dwt_operator.settings import OperatorSettings
from kube.fixtures import kube_api

REPO = Path(__file__).resolve().parents[2]
CRD = yaml.safe_load((REPO / "manifests" / "crds" / "communityjobs.yaml").read_text())
JOBS = "discoverweekly.io/v1alpha1/communityjobs"
RAYCLUSTERS = "ray.io/v1/rayclusters"
# KubeRay's RayCluster, reduced to what scaling touches (the real schema is much larger).
RAYCLUSTER_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "rayclusters.ray.io"},
    "spec": {
        "group": "ray.io",
        "scope": "Namespaced",
        "names": {"kind": "RayCluster", "plural": "rayclusters", "singular": "raycluster"},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "x-kubernetes-preserve-unknown-fields": True,
                    }
                },
            }
        ],
    },
}


# ---- 1. logging in ----------------------------------------------------------------------


def test_the_operator_registry_has_kopfs_login():
    # kopf.run(registry=...) logs in only with that registry's handlers.
    handlers = build_registry(OperatorSettings())._activities.get_all_handlers()
    assert kopf.login_via_client in [h.fn for h in handlers]
    assert kopf.OperatorRegistry()._activities.get_all_handlers() == []  # why it is needed


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_python_m_dwt_operator_logs_in_with_the_kubeconfig(tmp_path):
    """The real entry point, as the Deployment runs it, against the API emulator: it logs
    in from KUBECONFIG, watches CommunityJobs and answers its liveness probe."""
    port = _free_port()
    with kube_api(crds=[CRD], tmp_dir=tmp_path) as api:
        env = api.env()
        env["DWT_OPERATOR_NAMESPACES"] = '["default"]'
        log_path = tmp_path / "operator.log"
        with open(log_path, "w") as log:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "dwt_operator",
                    "--standalone",
                    "--liveness",
                    f"http://127.0.0.1:{port}/healthz",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )
        try:
            api.wait_for(
                lambda: api.watchers(JOBS) > 0 or process.poll() is not None,
                timeout=60,
                message="the operator to watch CommunityJobs",
            )
            output = log_path.read_text()
            assert process.poll() is None, output
            assert "Ran out of valid credentials" not in output
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as r:
                assert r.status == 200
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


# ---- 3. scaling a KubeRay worker group ----------------------------------------------------


def _raycluster() -> dict:
    return {
        "apiVersion": "ray.io/v1",
        "kind": "RayCluster",
        "metadata": {"name": "dwt", "namespace": "default"},
        "spec": {
            "headGroupSpec": {"rayStartParams": {}},
            "workerGroupSpecs": [
                {"groupName": "gpu", "replicas": 1, "minReplicas": 0, "maxReplicas": 1},
                {"groupName": "collectors", "replicas": 1, "minReplicas": 0, "maxReplicas": 2},
            ],
        },
    }


def test_a_kuberay_worker_group_is_scaled_with_a_patch_the_server_accepts(tmp_path):
    """Through the real kubernetes client and HTTP: the Content-Type on the wire is a
    merge patch and the body an object, which a server applies; a JSON-patch list sent
    through patch_namespaced_custom_object goes out as a merge patch and gets a 400."""
    with kube_api(crds=[RAYCLUSTER_CRD], tmp_dir=tmp_path) as api:
        api.create(RAYCLUSTERS, _raycluster(), "default")
        client = api.client()
        sent: list[tuple[str, dict, object]] = []
        request = client.rest_client.request

        def spy(method, url, *args, **kwargs):
            if method == "PATCH":
                sent.append((method, dict(kwargs.get("headers") or {}), kwargs.get("body")))
            return request(method, url, *args, **kwargs)

        client.rest_client.request = spy
        custom = kubernetes.client.CustomObjectsApi(client)
        settings = OperatorSettings(workers_kind="raycluster", workers_name="dwt")
        scale_workers({"custom": custom}, "default", 6, settings)

        ((_, headers, body),) = sent
        assert headers["Content-Type"] == "application/merge-patch+json"
        assert isinstance(body, dict) and body["metadata"]["resourceVersion"]
        groups = api.get(RAYCLUSTERS, "default", "dwt")["spec"]["workerGroupSpecs"]
        assert groups == [
            {"groupName": "gpu", "replicas": 1, "minReplicas": 0, "maxReplicas": 1},
            {"groupName": "collectors", "replicas": 6, "minReplicas": 0, "maxReplicas": 6},
        ]

        # What the operator used to send: the server refuses it.
        ops = [{"op": "replace", "path": "/spec/workerGroupSpecs/1/replicas", "value": 2}]
        with pytest.raises(ApiException) as refused:
            custom.patch_namespaced_custom_object(
                "ray.io", "v1", "default", "rayclusters", "dwt", ops
            )
        assert refused.value.status == 400
        assert sent[-1][1]["Content-Type"] == "application/merge-patch+json"


def test_a_kuberay_scale_rereads_after_a_conflict():
    reads: list[str] = []
    patches: list[dict] = []

    class Custom:
        def get_namespaced_custom_object(self, *args):
            reads.append(str(len(reads) + 1))
            cluster = _raycluster()
            cluster["metadata"]["resourceVersion"] = reads[-1]
            return cluster

        def patch_namespaced_custom_object(self, *args):
            patches.append(args[-1])
            if len(patches) == 1:
                raise ApiException(status=409, reason="Conflict")

    settings = OperatorSettings(workers_kind="raycluster", workers_name="dwt")
    scale_workers({"custom": Custom()}, "default", 3, settings)
    assert [p["metadata"]["resourceVersion"] for p in patches] == ["1", "2"]


# ---- 7. run ids ---------------------------------------------------------------------------

# A valid CommunityJob name (a DNS subdomain) of 253 characters: labels of 63 and 61.
LONG_NAME = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 61])


def test_long_names_get_unique_run_ids_that_keep_their_trigger():
    assert len(LONG_NAME) == 253
    ids = {
        trigger: entrypoint.run_id("discover-weekly", LONG_NAME, trigger)
        for trigger in ("g1", "g2", "s202612010600")
    }
    assert len(set(ids.values())) == 3
    for trigger, run in ids.items():
        assert len(run) <= entrypoint.MAX_RUN_ID and run.endswith(f"-{trigger}")
        assert entrypoint._UNSAFE.search(run) is None
    other = entrypoint.run_id("discover-weekly", LONG_NAME[:-1] + "e", "g1")
    assert other != ids["g1"]  # names differing past the cut differ too
    assert entrypoint.submission_id(ids["g1"], 0) != entrypoint.submission_id(ids["g2"], 0)


def test_run_ids_do_not_collide_across_namespaces_or_dots():
    assert entrypoint.run_id("a", "b-c", "g1") != entrypoint.run_id("a-b", "c", "g1")
    assert entrypoint.run_id("team", "x.y", "g1") != entrypoint.run_id("team", "x-y", "g1")
    # Plain ones stay readable (and what the dashboard shows).
    assert entrypoint.run_id("default", "weekly", "g1") == "dwt-default-weekly-g1"
    assert entrypoint.run_id("discover-weekly", "weekly", "g1").startswith(
        "dwt-discover-weekly-weekly-"
    )


def test_a_trigger_is_read_back_from_a_hashed_run_id():
    # A retry re-derives the run from the trigger at the end of status.runId.
    run = entrypoint.run_id("discover-weekly", LONG_NAME, "g7")
    trigger = run.rsplit("-", 1)[-1]
    assert trigger == "g7" and entrypoint.run_id("discover-weekly", LONG_NAME, trigger) == run
