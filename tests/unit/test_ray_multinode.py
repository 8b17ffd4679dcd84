"""A real two-node Ray cluster: the insight steps of two communities at once, spread over
both nodes, give what the in-process runs give.

The cluster is a head and a worker raylet inside a network namespace this test makes, with
only its loopback interface up (:mod:`dwt.bench.raycluster`: Ray 2.60 moves a second node
off 127.0.0.1, or refuses it, on the host's own network). Two ``dwt run --ray-address``
drivers — real processes, started inside the namespace at the same time, one per community
— share the cluster without sharing a process; each run's record must show tasks of every
heavy step on both nodes, and each community's results must equal those of an in-process
run of the same week in another store. Needs network namespaces (root, iproute2): without
them it is skipped with the reason, and fails under ``CI=true`` (CI runs as root). Every
process is stopped by PID and the namespace deleted.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest
from pipeline_results import results

from dwt.bench.load import load_week
from dwt.bench.raycluster import NamespacedRayCluster, namespaces_permitted
from dwt.generate import generate_community
from dwt.pipeline.runner import run_pipeline
from dwt.pipeline.spec import RunSpec
from dwt.store import Coll, Store

STEPS = ["discover", "bonds", "cluster", "content"]
HEAVY = ("read", "discover", "bonds", "cluster", "content")
DWT = str(Path(sys.executable).parent / "dwt")

_why_not = namespaces_permitted()
pytestmark = pytest.mark.needs_tool(
    f"network namespaces (root, iproute2): {_why_not}", not _why_not
)


def _load(store: Store, datasets: dict) -> None:
    for community, dataset in datasets.items():
        load_week(store, dataset, community)


def test_two_communities_at_once_on_two_nodes_equal_in_process(tmp_path: Path):
    datasets = {
        "north": generate_community(members=150, communities=3, days=8, seed=31),
        "south": generate_community(members=120, communities=4, days=8, seed=32),
    }
    now = {c: datetime.fromisoformat(d.meta["now"]) for c, d in datasets.items()}
    on_ray = Store.open(f"sqlite:///{tmp_path / 'ray' / 'dwt.db'}")
    here = Store.open(f"sqlite:///{tmp_path / 'here' / 'dwt.db'}")
    _load(on_ray, datasets)
    _load(here, datasets)
    for community in datasets:  # the reference: this process, one shard
        spec = RunSpec(community=community, steps=STEPS, windowDays=6)
        run_pipeline(here, spec, run_id=f"{community}-here", now=now[community])

    env = {"DWT_DATA_DIR": str(tmp_path / "ray")}  # the workers' own store: the driver's
    with NamespacedRayCluster(2, 1, workdir=tmp_path, env=env) as cluster:
        isolation = cluster.isolation()
        assert isolation["interfaces"] == ["lo"] and not isolation["routes"]
        nodes = {n["id"][:12] for n in cluster.alive_nodes()}
        assert len(nodes) == 2 and {n["ip"] for n in cluster.alive_nodes()} == {"127.0.0.1"}
        drivers = {
            community: subprocess.Popen(
                cluster.exec_args(
                    DWT, "--ray-address", cluster.address, "run",
                    "--community", community, "--steps", ",".join(STEPS),
                    "--window-days", "6", "--now", now[community].isoformat(),
                    "--shards", "4", "--run-id", f"{community}-ray", "--json",
                ),
                env={**cluster.env, **env},
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                start_new_session=True,
            )
            for community in datasets
        }  # fmt: skip
        outputs = {c: p.communicate(timeout=900) for c, p in drivers.items()}
        pids = cluster.pids()
    assert not cluster.pids() and pids  # every process it started is gone, with the namespace
    names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert cluster.name not in names

    for community, (out, err) in outputs.items():
        assert drivers[community].returncode == 0, err[-3000:]
        summary = json.loads(out.strip().splitlines()[-1])
        assert summary["status"] == "succeeded"
        placed = on_ray[Coll.RUNS].find_one({"_id": f"{community}-ray"})["placement"]
        for step in HEAVY:
            assert placed[step]["where"] == "ray"
            assert set(placed[step]["nodes"]) == nodes, (community, step, placed[step])
        local = results(here, f"{community}-here", community)
        remote = results(on_ray, f"{community}-ray", community)
        assert local["clusters"] and any(c["trending"] for c in local["conversations"])
        assert remote == local, community
    assert os.environ.get("RAY_ADDRESS") is None  # the test process joined no cluster


HOLDER = """
import sys, time
from pathlib import Path
from dwt.bench.raycluster import NamespacedRayCluster
cluster = NamespacedRayCluster(1, 1, workdir=Path(sys.argv[1])).__enter__()
print(cluster.name, cluster.ray_dir, *cluster.pids(), flush=True)
time.sleep(600)
"""


def test_a_killed_maker_leaves_no_ray_process_and_no_namespace(tmp_path: Path):
    """The process that made the cluster is SIGKILLed (no ``stop``): its reaper kills every
    process inside the namespace by PID, deletes the namespace and Ray's directory."""
    maker = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    name, ray_dir, *pids = maker.stdout.readline().split()  # type: ignore[union-attr]
    assert pids and Path(ray_dir).is_dir()
    maker.kill()
    maker.wait(timeout=30)

    def gone() -> bool:
        names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        return name not in names.split() and not any(Path(f"/proc/{p}").exists() for p in pids)

    deadline = time.monotonic() + 60
    while not gone() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert gone(), f"namespace {name} or its processes {pids} outlived their maker"
    assert not Path(ray_dir).exists()
