"""Start or join a Ray runtime for a run.

Inside a Ray job (``RAY_ADDRESS`` is set by the Jobs API) or with ``--ray-address`` the run
joins that cluster; otherwise a local Ray starts in-process, kept on loopback.
"""

from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)


def ensure_ray(address: str | None = None, num_cpus: int | None = None) -> str:
    """Initialise Ray once; returns a description of the runtime joined."""
    import ray

    if ray.is_initialized():
        return "already running"
    address = address or os.environ.get("RAY_ADDRESS")
    if address:
        ray.init(address=address, log_to_driver=True)
        return f"cluster at {address}"
    # A local runtime: loopback only, no dashboard, modest object store.
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    ray.init(
        # "local": a new runtime even if `ray start` left a cluster (or its stale record
        # in /tmp/ray) on this machine, which a bare ray.init() would try to join.
        address="local",
        num_cpus=num_cpus or os.cpu_count(),
        include_dashboard=False,
        _node_ip_address="127.0.0.1",
        object_store_memory=512 * 1024 * 1024,
        log_to_driver=True,
    )
    return f"local ({num_cpus or os.cpu_count()} CPUs)"
