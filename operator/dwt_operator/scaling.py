"""Collector workers follow the API keys: keys in the Secret × workersPerKey, capped.

The operator counts the keys in the job's Secret (it never reads their values into
anything but a count) and scales the Ray workers — a KubeRay RayCluster's worker group,
or the chart's plain worker Deployment through its ``scale`` subresource — before the job
starts, so each key's collector actors have a place to run.

A Secret the operator may not read (403) or that is missing (404) is the job's failure,
said with what to fix (the RBAC rule, the Secret to create), not an exception kopf would
retry forever; so are workers it may not scale (403) or that are missing (404, or a
RayCluster without the worker group) — before, such a job sat without any phase, Event or
message while kopf retried its handler every minute. A RayCluster's worker group is
scaled with a JSON *merge* patch of the whole ``workerGroupSpecs`` list, guarded by the
``resourceVersion`` it was read at: the ``kubernetes`` client sends a custom-object patch
as a merge patch (version 29, the oldest supported, has no way to send another kind), and
the API server refuses a JSON-patch list sent that way (400).
"""

from __future__ import annotations

import logging
from typing import Any

from dwt_operator.settings import OperatorSettings

log = logging.getLogger(__name__)


class KeysSecretError(RuntimeError):
    """The Secret with the API keys is missing, unreadable or empty; ``reason`` is the
    Event reason to report it with."""

    def __init__(self, message: str, reason: str = "NoApiKeys") -> None:
        super().__init__(message)
        self.reason = reason


class ScalingError(RuntimeError):
    """The Ray workers to scale are not where the settings say, or the operator may not
    scale them; ``reason`` is the Event reason to report it with."""

    def __init__(self, message: str, reason: str = "WorkersNotFound") -> None:
        super().__init__(message)
        self.reason = reason


def count_keys(core_api: Any, namespace: str, secret: str) -> int:
    """How many API keys the Secret holds (one per data entry)."""
    from kubernetes.client.exceptions import ApiException

    try:
        obj = core_api.read_namespaced_secret(secret, namespace)
    except ApiException as exc:
        if exc.status == 403:
            raise KeysSecretError(
                f"get secrets/{secret} in namespace {namespace}: forbidden for the operator's "
                f"ServiceAccount; grant get on secrets named {secret} in {namespace} (a Role "
                f'rule apiGroups [""], resources [secrets], resourceNames [{secret}], '
                "verbs [get]; the Helm chart's Role grants only its apiKeys.secretName)",
                reason="ApiKeysForbidden",
            ) from None
        if exc.status == 404:
            raise KeysSecretError(
                f"Secret {secret} with the API keys not found in namespace {namespace}; "
                f"create it with one X API key per entry (kubectl create secret generic "
                f"{secret} -n {namespace} --from-file=key-1=...)"
            ) from None
        raise
    entries = [k for k, v in (obj.data or {}).items() if v]
    if not entries:
        raise KeysSecretError(f"Secret {namespace}/{secret} holds no API key")
    return len(entries)


def desired_workers(keys: int, workers_per_key: int, max_workers: int) -> int:
    return max(1, min(keys * workers_per_key, max_workers))


def scale_workers(
    apis: dict[str, Any], namespace: str, replicas: int, settings: OperatorSettings
) -> None:
    """Set the Ray workers' replica count (no-op when ``workers_kind`` is ``none``).
    Raises `ScalingError` when they are missing or the operator may not scale them."""
    from kubernetes.client.exceptions import ApiException

    try:
        if settings.workers_kind == "deployment":
            apis["apps"].patch_namespaced_deployment_scale(
                settings.workers_name, namespace, {"spec": {"replicas": replicas}}
            )
        elif settings.workers_kind == "raycluster":
            _scale_ray_cluster(apis["custom"], namespace, replicas, settings)
    except ApiException as exc:
        if exc.status not in (403, 404):
            raise
        raise _workers_error(exc.status, namespace, settings) from None
    log.info("scaled Ray workers in %s to %d", namespace, replicas)


def _workers_error(status: int, namespace: str, settings: OperatorSettings) -> ScalingError:
    name = settings.workers_name
    if settings.workers_kind == "deployment":
        kind, group, resource, verbs = "Deployment", "apps", "deployments/scale", "get, patch"
    else:
        kind, group, resource, verbs = "RayCluster", "ray.io", "rayclusters", "get, patch"
    if status == 403:
        return ScalingError(
            f"scale {resource} {name} in namespace {namespace}: forbidden for the operator's "
            f"ServiceAccount; grant {verbs} on {resource} named {name} in {namespace} (a Role "
            f"rule apiGroups [{group}], resources [{resource}], resourceNames [{name}], "
            f"verbs [{verbs}])",
            reason="WorkersForbidden",
        )
    return ScalingError(
        f"{kind} {name} with the Ray workers not found in namespace {namespace}; the operator "
        f"scales it before each collection (DWT_OPERATOR_WORKERS_KIND={settings.workers_kind}"
        f", DWT_OPERATOR_WORKERS_NAME={name}): create it there, or set "
        f"DWT_OPERATOR_WORKERS_KIND=none if nothing should be scaled"
    )


def _scale_ray_cluster(
    custom: Any, namespace: str, replicas: int, settings: OperatorSettings, tries: int = 3
) -> None:
    """Set the worker group's ``replicas`` (and ``maxReplicas`` up to it) by a merge patch
    of the whole group list at the read ``resourceVersion``; re-read on a conflict (the
    KubeRay autoscaler writes the same list)."""
    from kubernetes.client.exceptions import ApiException

    args = ("ray.io", "v1", namespace, "rayclusters", settings.workers_name)
    for attempt in range(tries):
        cluster = custom.get_namespaced_custom_object(*args)
        groups = [dict(g) for g in cluster["spec"].get("workerGroupSpecs") or []]
        group = next((g for g in groups if g.get("groupName") == settings.workers_group), None)
        if group is None:
            raise ScalingError(
                f"RayCluster {namespace}/{settings.workers_name} has no worker group "
                f"{settings.workers_group!r}"
            )
        group["maxReplicas"] = max(replicas, group.get("maxReplicas", replicas))
        group["replicas"] = replicas
        version = (cluster.get("metadata") or {}).get("resourceVersion")
        patch: dict[str, Any] = {"spec": {"workerGroupSpecs": groups}}
        if version:
            patch["metadata"] = {"resourceVersion": version}
        try:
            custom.patch_namespaced_custom_object(*args, patch)
            return
        except ApiException as exc:
            if exc.status != 409 or attempt == tries - 1:
                raise
