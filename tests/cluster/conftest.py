"""Fixtures of the cluster tests: the built binaries and images, one single-node cluster and
one `helm install` for the session; and the summary line `make cluster-test` ends with.

These tests need root, the node's binaries (`make servers`) and the Debian packages
(`make cluster-deps`); they are collected only under ``DWT_CLUSTER_TESTS=1`` (what
``python -m tests.cluster test`` sets), so the unit-test run never starts a cluster.

The last line pytest prints is one JSON object: ``pods_ready``, ``pods_total``,
``communityjob_phase``, ``dashboard_insights_http``, ``failure_tests`` ({name: "pass" |
"fail" | "not run"}) and ``phase_seconds`` ({build, image, cluster, install, e2e, failures}).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

ENABLED = os.environ.get("DWT_CLUSTER_TESTS") == "1"
collect_ignore_glob = [] if ENABLED else ["test_*.py"]

SUMMARY: dict[str, Any] = {
    "pods_ready": 0,
    "pods_total": 0,
    "communityjob_phase": None,
    "dashboard_insights_http": None,
    "failure_tests": {},
    "phase_seconds": {
        "build": 0.0,
        "image": 0.0,
        "cluster": 0.0,
        "install": 0.0,
        "e2e": 0.0,
        "failures": 0.0,
    },
}
# failure test function -> its name in the summary
FAILURE_TESTS = {
    "test_ray_head_deleted_mid_run": "ray_head_deleted",
    "test_operator_deleted_mid_run": "operator_deleted",
    "test_worker_killed_mid_run": "worker_killed",
    "test_helm_upgrade_mid_run": "helm_upgrade",
    "test_deleted_while_ray_is_down": "deleted_while_ray_down",
    "test_helm_uninstall_with_jobs_present": "helm_uninstall",
}


def add_seconds(phase: str, since: float) -> None:
    SUMMARY["phase_seconds"][phase] = round(
        SUMMARY["phase_seconds"][phase] + time.monotonic() - since, 1
    )


@pytest.fixture(scope="session")
def built() -> dict:
    """The binaries (`tools/servers/build.sh`: cached ones take a second) and the images."""
    from servers.paths import REPO

    from . import images

    started = time.monotonic()
    subprocess.run(
        [
            "bash",
            str(REPO / "tools/servers/build.sh"),
            "etcd",
            "kube-apiserver",
            "kube-node",
            "coredns",
            "ferretdb",
        ],
        check=True,
        stdout=sys.stderr,
    )
    add_seconds("build", started)
    started = time.monotonic()
    result = images.all_images()
    add_seconds("image", started)
    return result


@pytest.fixture(scope="session")
def cluster(built) -> Iterator[Any]:
    from .node import run_cluster
    from .phases import Phases

    phases = Phases()

    started = time.monotonic()
    with run_cluster(phases, images=list(built.values())) as c:
        add_seconds("cluster", started)
        yield c


@pytest.fixture(scope="session")
def release(cluster, built) -> Any:
    from .release import install, serving_pods

    started = time.monotonic()
    installed = install(cluster, built["product"].reference)
    add_seconds("install", started)
    pods = serving_pods(installed.pods())
    SUMMARY["pods_total"] = len(pods)
    SUMMARY["pods_ready"] = sum(1 for p in pods if _ready(p))
    return installed


def _ready(pod: dict) -> bool:
    from .release import pod_ready

    return pod_ready(pod)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    started = time.monotonic()
    yield
    phase = "failures" if item.name in FAILURE_TESTS else "e2e"
    add_seconds(phase, started)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    name = FAILURE_TESTS.get(report.location[2].split("[")[0])
    if name is None:
        return
    outcomes = SUMMARY["failure_tests"]
    if report.failed:
        outcomes[name] = "fail"  # in its set-up, call or tear-down
    elif report.when == "call" and report.passed and outcomes.get(name) != "fail":
        outcomes[name] = "pass"


def pytest_unconfigure(config: pytest.Config) -> None:
    if ENABLED:
        for name in FAILURE_TESTS.values():
            SUMMARY["failure_tests"].setdefault(name, "not run")  # deselected or stopped
        print(json.dumps(SUMMARY), flush=True)
