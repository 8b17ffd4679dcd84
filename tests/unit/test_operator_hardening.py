"""What a real kube-apiserver showed the operator getting wrong (issue 13): it logs in as
``kopf run`` does, scales a KubeRay worker group with a patch the server accepts, and
derives run ids that stay unique for any valid namespace and name.

Checked against the real API server (the session's ``kube_api``) with the operator's
ServiceAccount from manifests/operator/ and, for KubeRay, KubeRay's published RayCluster CRD
(vendored in tests/data/)."""

from __future__ import annotations

import copy

import kopf
import kubernetes
import pytest
from kubernetes.client.exceptions import ApiException

from dwt_operator import entrypoint
from dwt_operator.handlers import build_registry
from dwt_operator.scaling import scale_workers
from dwt_operator.settings import OperatorSettings
from servers.apply import wait_until_allowed
from servers.kube import KubeServer
from servers.operator_proc import (
    OperatorProcess,
    create,
    fresh_namespace,
    install_kuberay_crd,
    install_manifests,
)

# ---- 1. logging in ----------------------------------------------------------------------


def test_the_operator_registry_has_kopfs_login():
    # kopf.run(registry=...) logs in only with that registry's handlers.
    handlers = build_registry(OperatorSettings())._activities.get_all_handlers()
    assert kopf.login_via_client in [h.fn for h in handlers]
    assert kopf.OperatorRegistry()._activities.get_all_handlers() == []  # why it is needed


@pytest.mark.slow
def test_python_m_dwt_operator_logs_in_with_the_kubeconfig(kube_api: KubeServer, tmp_path):
    """The real entry point, as the manifests' Deployment runs it, with a kubeconfig holding
    its ServiceAccount's token: it logs in, watches CommunityJobs (the API server counts the
    WATCH) and answers its liveness probe; SIGTERM stops it cleanly."""
    install = install_manifests(kube_api)
    operator = OperatorProcess(kube_api, install, tmp_path, ray_address="http://127.0.0.1:9")
    try:
        operator.start()
        assert operator.alive()
        output = operator.output()
        assert "Ran out of valid credentials" not in output
        assert "login_via_client' succeeded" in output
    finally:
        code = operator.stop()
        operator.release()  # other tests' CommunityJobs it saw (it is cluster-wide)
    assert code == 0, operator.output()
    assert "Operator is stopping" in operator.output()


# ---- 3. scaling a KubeRay worker group ----------------------------------------------------


def _group(name: str, replicas: int, max_replicas: int) -> dict:
    container = {"name": "ray-worker", "image": "rayproject/ray:2.60.0"}
    return {
        "groupName": name,
        "replicas": replicas,
        "minReplicas": 0,
        "maxReplicas": max_replicas,
        "rayStartParams": {},
        "template": {"spec": {"containers": [container]}},
    }


def _raycluster(namespace: str) -> dict:
    """A minimal RayCluster KubeRay's schema accepts (head and worker pod templates)."""
    head = {"name": "ray-head", "image": "rayproject/ray:2.60.0"}
    return {
        "apiVersion": "ray.io/v1",
        "kind": "RayCluster",
        "metadata": {"name": "dwt", "namespace": namespace},
        "spec": {
            "headGroupSpec": {"rayStartParams": {}, "template": {"spec": {"containers": [head]}}},
            "workerGroupSpecs": [_group("gpu", 1, 1), _group("collectors", 1, 2)],
        },
    }


@pytest.fixture
def raycluster(kube_api: KubeServer):
    """(namespace, the created RayCluster, a CustomObjectsApi as the operator's
    ServiceAccount): the manifests grant no RayCluster, so the namespace gets the Role rule
    the operator's scaling error names (get, patch on rayclusters named dwt)."""
    install_kuberay_crd(kube_api)
    install = install_manifests(kube_api)
    ns = fresh_namespace(kube_api, "rc")
    created = create(kube_api, f"/apis/ray.io/v1/namespaces/{ns}/rayclusters", _raycluster(ns))
    rbac = f"/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}"
    rule = {
        "apiGroups": ["ray.io"],
        "resources": ["rayclusters"],
        "resourceNames": ["dwt"],
        "verbs": ["get", "patch"],
    }
    create(kube_api, f"{rbac}/roles", {"metadata": {"name": "dwt-operator"}, "rules": [rule]})
    create(
        kube_api,
        f"{rbac}/rolebindings",
        {
            "metadata": {"name": "dwt-operator"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": "dwt-operator",
            },
            "subjects": [
                {
                    "kind": "ServiceAccount",
                    "name": install.service_account,
                    "namespace": install.namespace,
                }
            ],
        },
    )
    token = kube_api.token_for(install.namespace, install.service_account)
    wait_until_allowed(kube_api, token, f"/apis/ray.io/v1/namespaces/{ns}/rayclusters/dwt")
    return ns, created, kube_api.client(token)


def test_a_kuberay_worker_group_is_scaled_with_a_patch_the_server_accepts(
    kube_api: KubeServer, raycluster
):
    """Through the real kubernetes client and HTTP, as the operator's ServiceAccount: the
    Content-Type on the wire is a merge patch and the body an object, which the server
    applies under KubeRay's schema; a JSON-patch list sent through
    patch_namespaced_custom_object goes out as a merge patch and gets a 400."""
    ns, created, client = raycluster
    sent: list[tuple[str, dict, object]] = []
    request = client.rest_client.request

    def spy(method, url, *args, **kwargs):
        if method == "PATCH":
            sent.append((method, dict(kwargs.get("headers") or {}), kwargs.get("body")))
        return request(method, url, *args, **kwargs)

    client.rest_client.request = spy
    custom = kubernetes.client.CustomObjectsApi(client)
    settings = OperatorSettings(workers_kind="raycluster", workers_name="dwt")
    scale_workers({"custom": custom}, ns, 6, settings)

    ((_, headers, body),) = sent
    assert headers["Content-Type"] == "application/merge-patch+json"
    assert isinstance(body, dict) and body["metadata"]["resourceVersion"]
    _, now = kube_api.request("GET", f"/apis/ray.io/v1/namespaces/{ns}/rayclusters/dwt")
    gpu, collectors = created["spec"]["workerGroupSpecs"]  # as the server defaulted them
    assert now["spec"]["workerGroupSpecs"] == [
        gpu,
        collectors | {"replicas": 6, "maxReplicas": 6},
    ]

    # What the operator used to send: the server refuses it.
    ops = [{"op": "replace", "path": "/spec/workerGroupSpecs/1/replicas", "value": 2}]
    with pytest.raises(ApiException) as refused:
        custom.patch_namespaced_custom_object("ray.io", "v1", ns, "rayclusters", "dwt", ops)
    assert refused.value.status == 400
    assert sent[-1][1]["Content-Type"] == "application/merge-patch+json"
    # A merge patch replaces the whole list: groups without their templates are refused
    # by KubeRay's schema, which is why the operator sends every group back in full.
    partial = {
        "spec": {
            "workerGroupSpecs": [
                {"groupName": "collectors", "replicas": 3, "minReplicas": 0, "maxReplicas": 3}
            ]
        }
    }
    with pytest.raises(ApiException) as invalid:
        custom.patch_namespaced_custom_object("ray.io", "v1", ns, "rayclusters", "dwt", partial)
    assert invalid.value.status == 422 and "template" in invalid.value.body


def test_a_kuberay_scale_rereads_after_a_conflict(kube_api: KubeServer, raycluster):
    """A real 409: the group list changes (as KubeRay's autoscaler would) between the
    operator's read and its patch; it re-reads and patches the new version, keeping the
    other writer's change."""
    ns, _, client = raycluster
    custom = kubernetes.client.CustomObjectsApi(client)
    path = f"/apis/ray.io/v1/namespaces/{ns}/rayclusters/dwt"
    versions: list[str] = []
    read = custom.get_namespaced_custom_object

    def racing_read(*args):
        cluster = read(*args)
        versions.append(cluster["metadata"]["resourceVersion"])
        if len(versions) == 1:  # someone else writes right after the first read
            groups = copy.deepcopy(cluster["spec"]["workerGroupSpecs"])
            groups[0]["replicas"] = 0
            status, body = kube_api.request(
                "PATCH",
                path,
                {"spec": {"workerGroupSpecs": groups}},
                content_type="application/merge-patch+json",
            )
            assert status == 200, body
        return cluster

    custom.get_namespaced_custom_object = racing_read
    settings = OperatorSettings(workers_kind="raycluster", workers_name="dwt")
    scale_workers({"custom": custom}, ns, 3, settings)
    assert len(versions) == 2 and versions[0] != versions[1]
    _, now = kube_api.request("GET", path)
    gpu, collectors = now["spec"]["workerGroupSpecs"]
    assert gpu["replicas"] == 0  # the other writer's change survived
    assert collectors["replicas"] == 3 and collectors["maxReplicas"] == 3


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
