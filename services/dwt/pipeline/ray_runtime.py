"""Start or join a Ray runtime for a run.

Inside a Ray job (``RAY_ADDRESS`` is set by the Jobs API) or with ``--ray-address`` the run
joins that cluster; otherwise a local Ray starts in-process, on loopback only and with
token authentication on.

Loopback takes more than ``_node_ip_address``: Ray reads ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER``
once, when ``ray`` is imported, and without it (set to 0) the GCS, the raylet and the agents
bind every interface and register the machine's network address — anyone who can reach the
machine could then submit work. Token authentication (Ray 2.60's default for a new local
runtime, ``RAY_AUTH_MODE=token``) stays on even where the environment turned it off:
loopback still lets any local user connect. The token is Ray's: ``RAY_AUTH_TOKEN``,
``RAY_AUTH_TOKEN_PATH`` or ``~/.ray/auth_token`` (made by Ray when missing).

Both are Ray's public environment settings, set before ``ray`` is imported here. Ray has no
public way to change them once it is imported (it derives a constant from the first, and its
C++ config caches the second); only when something in this process imported ``ray`` earlier
are the two corrected through Ray's private modules (``ray._private.ray_constants``,
``ray._raylet.Config``) — which a Ray upgrade can break, so tests/unit/test_hardening_ray.py
starts a real runtime in both orders and reads its sockets and auth mode.
"""

from __future__ import annotations

import logging
import os
import secrets
import sys
from pathlib import Path

from dwt.private import FILE_MODE, write_private

log = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
_CLUSTER_SWITCH = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
_AUTH_MODE = "RAY_AUTH_MODE"


def loopback_only() -> None:
    """Make the next local Ray runtime this process starts bind loopback only.

    Call before ``import ray`` where possible; after it, the constant Ray computed at import
    is corrected too (Ray reads it when it starts a node, not only at import; private).
    """
    os.environ[_CLUSTER_SWITCH] = "0"
    constants = sys.modules.get("ray._private.ray_constants")
    if constants is not None and getattr(constants, "ENABLE_RAY_CLUSTER", False):
        log.debug("ray was imported before %s was set; correcting it", _CLUSTER_SWITCH)
        constants.ENABLE_RAY_CLUSTER = False


def _token_auth_on() -> None:
    """``RAY_AUTH_MODE=token`` for the next local runtime; Ray's cached config is re-read
    only when Ray's core was imported before (private)."""
    mode = os.environ.get(_AUTH_MODE)
    if mode is not None and mode.lower() != "token":
        log.warning("%s=%s ignored: a local Ray runtime always uses token auth", _AUTH_MODE, mode)
    os.environ[_AUTH_MODE] = "token"
    if "ray._raylet" in sys.modules:
        _reload_ray_config()


def _reload_ray_config() -> None:
    """Ray caches its config (the auth mode with it): re-read it, as Ray itself does when
    it turns token auth on."""
    from ray._raylet import Config

    Config.initialize("")


def private_auth_token() -> Path | None:
    """Ray's default token file (``~/.ray/auth_token``), made 0600 in a 0700 ``~/.ray`` before
    Ray starts: Ray writes it with the umask's mode, readable by every local user (who could
    then submit work). An existing one is tightened; None when the token comes from
    ``RAY_AUTH_TOKEN`` or ``RAY_AUTH_TOKEN_PATH`` instead."""
    if os.environ.get("RAY_AUTH_TOKEN") or os.environ.get("RAY_AUTH_TOKEN_PATH"):
        return None
    path = Path.home() / ".ray" / "auth_token"
    if path.exists():
        if path.stat().st_mode & 0o077:
            path.chmod(FILE_MODE)
        return path
    return write_private(path, secrets.token_hex(32))


def ensure_ray(
    address: str | None = None,
    num_cpus: int | None = None,
    *,
    object_store_memory: int = 512 * 1024 * 1024,
    log_to_driver: bool = True,
) -> str:
    """Initialise Ray once; returns a description of the runtime joined."""
    address = address or os.environ.get("RAY_ADDRESS")
    imported = sys.modules.get("ray")
    if imported is not None and imported.is_initialized():
        return "already running"
    if not address:
        # Ray's public settings, before `import ray` below, which reads them.
        loopback_only()
        _token_auth_on()
    import ray

    if address:
        ray.init(address=address, log_to_driver=True)
        return f"cluster at {address}"
    private_auth_token()
    cpus = num_cpus or os.cpu_count()
    ray.init(
        # "local": a new runtime even if `ray start` left a cluster (or its stale record
        # in /tmp/ray) on this machine, which a bare ray.init() would try to join.
        address="local",
        num_cpus=cpus,
        include_dashboard=False,
        dashboard_host=LOOPBACK,
        _node_ip_address=LOOPBACK,
        object_store_memory=object_store_memory,
        log_to_driver=log_to_driver,
    )
    return f"local ({cpus} CPUs)"
