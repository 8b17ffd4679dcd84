"""Which Ray a run joins: the configured cluster, else a *new* local one — never a cluster
that `ray start` once left on the machine (a bare ``ray.init()`` would try to join it, and
a stale record of a dead one made ``dwt demo`` fail)."""

from __future__ import annotations

import pytest
import ray

from dwt.pipeline import ray_runtime
from dwt.pipeline.ray_runtime import ensure_ray


@pytest.fixture
def ray_init(monkeypatch):
    calls: list[dict] = []
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", lambda **kw: calls.append(kw))
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    # ensure_ray sets these for the process; keep them to this test
    monkeypatch.delenv("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", raising=False)
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    import ray._private.ray_constants as constants

    monkeypatch.setattr(constants, "ENABLE_RAY_CLUSTER", True)  # as if imported too early
    monkeypatch.setattr(ray_runtime, "_reload_ray_config", lambda: None)  # Ray's C++ config
    return calls


def test_without_an_address_a_new_local_runtime_starts(ray_init):
    import os

    import ray._private.ray_constants as constants

    assert ensure_ray(num_cpus=2) == "local (2 CPUs)"
    (kwargs,) = ray_init
    assert kwargs["address"] == "local" and kwargs["num_cpus"] == 2
    assert kwargs["_node_ip_address"] == "127.0.0.1" and not kwargs["include_dashboard"]
    assert kwargs["dashboard_host"] == "127.0.0.1"
    # Loopback although `ray` was imported first, and token auth although it was disabled.
    # (test_hardening_ray starts a real runtime and reads its listening sockets.)
    assert os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] == "0"
    assert constants.ENABLE_RAY_CLUSTER is False
    assert os.environ["RAY_AUTH_MODE"] == "token"


def test_a_given_or_job_address_is_joined(ray_init, monkeypatch):
    assert ensure_ray("ray://head:10001") == "cluster at ray://head:10001"
    monkeypatch.setenv("RAY_ADDRESS", "10.0.0.5:6379")  # set by the Jobs API inside a job
    assert ensure_ray() == "cluster at 10.0.0.5:6379"
    assert [c["address"] for c in ray_init] == ["ray://head:10001", "10.0.0.5:6379"]
    assert all("num_cpus" not in c for c in ray_init)  # Ray refuses them when joining
