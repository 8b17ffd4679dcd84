"""Collector workers follow the API keys: keys in the Secret × workersPerKey, capped.

The operator counts the keys in the job's Secret (it never reads their values into
anything but a count) and scales the Ray workers — a KubeRay RayCluster's worker group,
or the chart's plain worker Deployment through its ``scale`` subresource — before the job
starts, so each key's collector actors have a place to run.
"""

from __future__ import annotations

import logging
from typing import Any

from dwt_operator.settings import OperatorSettings

log = logging.getLogger(__name__)


class KeysSecretError(RuntimeError):
    """The Secret with the API keys is missing or empty."""


class ScalingError(RuntimeError):
    """The Ray workers to scale are not where the settings say."""


def count_keys(core_api: Any, namespace: str, secret: str) -> int:
    """How many API keys the Secret holds (one per data entry)."""
    from kubernetes.client.exceptions import ApiException

    try:
        obj = core_api.read_namespaced_secret(secret, namespace)
    except ApiException as exc:
        if exc.status == 404:
            raise KeysSecretError(
                f"Secret {namespace}/{secret} with the API keys not found"
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
    """Set the Ray workers' replica count (no-op when ``workers_kind`` is ``none``)."""
    if settings.workers_kind == "deployment":
        apis["apps"].patch_namespaced_deployment_scale(
            settings.workers_name, namespace, {"spec": {"replicas": replicas}}
        )
    elif settings.workers_kind == "raycluster":
        custom = apis["custom"]
        cluster = custom.get_namespaced_custom_object(
            "ray.io", "v1", namespace, "rayclusters", settings.workers_name
        )
        groups = cluster["spec"].get("workerGroupSpecs", [])
        index = next(
            (i for i, g in enumerate(groups) if g.get("groupName") == settings.workers_group), None
        )
        if index is None:
            raise ScalingError(f"RayCluster has no worker group {settings.workers_group!r}")
        patch = [
            {
                "op": "replace",
                "path": f"/spec/workerGroupSpecs/{index}/replicas",
                "value": replicas,
            },
            {
                "op": "replace",
                "path": f"/spec/workerGroupSpecs/{index}/maxReplicas",
                "value": max(replicas, groups[index].get("maxReplicas", replicas)),
            },
        ]
        custom.patch_namespaced_custom_object(
            "ray.io", "v1", namespace, "rayclusters", settings.workers_name, patch
        )
    log.info("scaled Ray workers in %s to %d", namespace, replicas)
