"""``dwt bench ray``: the insight steps on a real multi-node Ray cluster, against the
in-process run of the same week, side by side, measured by process accounting.

A generated week is loaded into an embedded store, then ``dwt run`` runs the insight steps
(discover, bonds, cluster, content) as separate processes:

* in-process (``--no-ray``): the reference, and the CPU the pipeline needs without Ray;
* as the driver of a Ray cluster of raylets inside a network namespace with only loopback
  (:mod:`dwt.bench.raycluster`), one CPU each: 2 nodes (the figures the goals name) and 1
  node (for the speed-up and the model below).

What every process of a run spent is read from the kernel, not estimated: the driver's CPU
and peak RSS from its ``wait4`` rusage (it is this process's child), every Ray process's
CPU (``psutil`` ``cpu_times``, sampled through the run: a worker that ends mid-run keeps
its last sample) and peak RSS (``VmHWM``), split into Ray's workers (the tasks) and its
daemons (raylet, GCS, agents). ``offdriver_cpu_share`` is the workers' CPU over all CPU of
the run, daemons included. Each raylet's whole tree is also summed (PSS, so the object
store's shared pages count once) for the memory a node's pod needs.

The speed-up model: each step's tasks run in phases (read, pairs, blocks, …); a phase on
``k`` slots takes the longest-processing-time schedule of its tasks' times, and the run
takes that summed over phases plus what the driver does between them (the run's wall time
not explained by its tasks on the run's own slots). Fitted on one run's task times, it
predicts the other's wall time (1 → 2 nodes and back) and any K.

Machine load (1-minute load average, and the machine's busy CPU share during each run) is
recorded: this machine has 2 cores shared with other work.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

COMMUNITY = "bench"
STEPS = ("discover", "bonds", "cluster", "content")
DWT = str(Path(sys.executable).parent / "dwt")
#: Seconds between samples of the Ray processes.
SAMPLE_S = 0.5
Echo = Callable[[str], None]


# ---- process accounting --------------------------------------------------------------------


def _hwm_mb(pid: int) -> float:
    """A process's peak resident set (VmHWM), MB; 0 when it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        return 0.0
    return 0.0


def _is_worker(cmdline: Sequence[str]) -> bool:
    """A Ray worker (runs tasks) rather than one of Ray's daemons."""
    text = " ".join(cmdline)
    return "default_worker.py" in text or text.startswith("ray::")


class RayAccounting:
    """Samples every process under the given roots (each ``ray start`` of a node): CPU
    seconds since the first sample, peak RSS, and each node's summed PSS."""

    def __init__(self, roots: Sequence[int]) -> None:
        import psutil

        self._psutil = psutil
        self.roots = list(roots)
        self.first: dict[int, float] = {}  # pid → CPU seconds at its first sample
        self.last: dict[int, float] = {}
        self.kind: dict[int, str] = {}
        self.hwm: dict[int, float] = {}
        self.node_peak_pss_mb = [0.0] * len(roots)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> RayAccounting:
        self.sample(first=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()

    def _loop(self) -> None:
        while not self._stop.wait(SAMPLE_S):
            self.sample()

    def sample(self, first: bool = False) -> None:
        psutil = self._psutil
        for node, root in enumerate(self.roots):
            try:
                tree = [psutil.Process(root), *psutil.Process(root).children(recursive=True)]
            except psutil.NoSuchProcess:
                continue
            pss = 0.0
            for process in tree:
                try:
                    times = process.cpu_times()
                    cpu = times.user + times.system
                    if process.pid not in self.kind:
                        self.kind[process.pid] = (
                            "worker" if _is_worker(process.cmdline()) else "daemon"
                        )
                        self.first[process.pid] = cpu if first else 0.0
                    self.last[process.pid] = cpu
                    self.hwm[process.pid] = max(self.hwm.get(process.pid, 0), _hwm_mb(process.pid))
                    pss += process.memory_full_info().pss / 2**20
                except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                    continue
            self.node_peak_pss_mb[node] = max(self.node_peak_pss_mb[node], pss)

    def cpu(self, kind: str) -> float:
        return sum(self.last[p] - self.first[p] for p in self.last if self.kind[p] == kind)

    def peak_rss_mb(self, kind: str) -> float:
        return max((self.hwm[p] for p in self.hwm if self.kind[p] == kind), default=0.0)


class MachineLoad:
    """The machine's busy share of CPU between start and stop (/proc/stat), and the load
    average at both ends."""

    def __enter__(self) -> MachineLoad:
        self.load_before = os.getloadavg()[0]
        self._before = _cpu_stat()
        return self

    def __exit__(self, *exc: object) -> None:
        after = _cpu_stat()
        busy = (after[0] - self._before[0]) / max(after[1] - self._before[1], 1)
        self.busy_share = round(busy, 3)
        self.load_after = os.getloadavg()[0]

    def as_dict(self) -> dict[str, float]:
        return {
            "load_before": round(self.load_before, 2),
            "load_after": round(self.load_after, 2),
            "machine_busy_share": self.busy_share,
        }


def _cpu_stat() -> tuple[int, int]:
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def _tree_hwm_mb(pid: int) -> float:
    """The largest peak resident set (VmHWM) among ``pid`` and its descendants, MB."""
    import psutil

    try:
        tree = [pid, *(c.pid for c in psutil.Process(pid).children(recursive=True))]
    except psutil.NoSuchProcess:
        return 0.0
    return max(_hwm_mb(p) for p in tree)


def run_child(command: Sequence[str], env: dict[str, str], timeout_s: float) -> dict[str, Any]:
    """Run ``command``; its status, output, wall time, CPU seconds (its ``wait4`` rusage:
    itself and what it waited for) and peak RSS. The peak is the kernel's high-water mark
    of the running command, sampled: ``wait4``'s ``ru_maxrss`` also counts the moment
    between fork and exec, when the child still maps this benchmark's own memory (the
    generated week: it read 1.8 GB for a driver that peaked at 0.4 GB)."""
    start = time.perf_counter()
    process = subprocess.Popen(
        list(command), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    timer = threading.Timer(timeout_s, process.kill)
    timer.start()
    out_lines: list[str] = []
    err_lines: list[str] = []
    peak = [0.0]
    done = threading.Event()

    def watch() -> None:
        while not done.wait(SAMPLE_S / 5):
            peak[0] = max(peak[0], _tree_hwm_mb(process.pid))

    threads = [
        threading.Thread(target=lambda: out_lines.extend(process.stdout)),  # type: ignore[arg-type]
        threading.Thread(target=lambda: err_lines.extend(process.stderr)),  # type: ignore[arg-type]
        threading.Thread(target=watch),
    ]
    for thread in threads:
        thread.start()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    timer.cancel()
    done.set()
    for thread in threads:
        thread.join()
    return {
        "returncode": process.returncode,
        "stdout": "".join(out_lines),
        "stderr": "".join(err_lines),
        "wall_s": time.perf_counter() - start,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "peak_rss_mb": peak[0],
    }


# ---- what a run left ------------------------------------------------------------------------


def snapshot(url: str, run_id: str) -> dict[str, Any]:
    """What the run left, small: member clusters, trending conversations, and digests of
    every bond and every conversation (equal digests: equal results, bit for bit)."""
    import pyarrow as pa

    from dwt.stages.content import CONVERSATIONS_SCHEMA
    from dwt.store import Coll, Store

    store = Store.open(url, ensure_indexes=False)
    members = store.members(COMMUNITY)
    bonds = store.bond_lists(COMMUNITY)
    table = store.result_table(COMMUNITY, "conversations", run_id, CONVERSATIONS_SCHEMA)
    table = table.sort_by([("cluster", "ascending"), ("tier", "ascending"), ("rank", "ascending")])
    trending = table.filter(table.column("trending")).column("conversation_id").to_pylist()
    topics = sorted(
        (d["cluster"], d["tier"], d["topic"], d["trending"])
        for d in store[Coll.TOPICS].find({"community": COMMUNITY, "run_id": run_id})
    )

    def digest(value: pa.Table | list) -> str:
        data = value.to_pylist() if isinstance(value, pa.Table) else value
        return hashlib.sha256(json.dumps(data, default=str).encode()).hexdigest()[:16]

    run = store[Coll.RUNS].find_one({"_id": run_id}) or {}
    return {
        "labels": members.column("cluster").to_pylist(),
        "trending": sorted(trending),
        "bonds": digest(bonds),
        "conversations": digest(table),
        "topics": digest(topics),
        "counts": run.get("counts", {}),
        "placement": run.get("placement", {}),
        "tasks": run.get("tasks", []),
    }


def nmi(a: Sequence[int], b: Sequence[int]) -> float:
    from sklearn.metrics import normalized_mutual_info_score

    return round(float(normalized_mutual_info_score(a, b)), 6)


def same(reference: dict[str, Any], other: dict[str, Any]) -> dict[str, Any]:
    return {
        "nmi": nmi(reference["labels"], other["labels"]),
        "same_trending": reference["trending"] == other["trending"],
        "same_bonds": reference["bonds"] == other["bonds"],
        "same_conversations": reference["conversations"] == other["conversations"],
        "same_topics": reference["topics"] == other["topics"],
    }


# ---- the model ------------------------------------------------------------------------------


def _phase(task: str) -> str:
    """A task's phase: its name without the partition number (``block-3`` → ``block``)."""
    head, _, tail = task.rpartition("-")
    return head if tail.isdigit() else task


def makespan(times: Sequence[float], slots: int) -> float:
    """The longest-processing-time schedule of ``times`` on ``slots``: its length."""
    loads = [0.0] * max(slots, 1)
    for t in sorted(times, reverse=True):
        heapq.heapreplace(loads, loads[0] + t)
    return max(loads)


def tasks_time(tasks: Sequence[dict[str, Any]], slots: int) -> float:
    """Σ over (step, phase) of the phase's makespan on ``slots``."""
    phases: dict[tuple[str, str], list[float]] = {}
    for task in tasks:
        phases.setdefault((task["step"], _phase(task["task"])), []).append(task["wall_s"])
    return sum(makespan(times, slots) for times in phases.values())


def predict(tasks: Sequence[dict[str, Any]], wall_s: float, slots: int, k_slots: int) -> float:
    """The wall time on ``k_slots`` from a run's task times, its wall time and slots."""
    serial = max(0.0, wall_s - tasks_time(tasks, slots))
    return serial + tasks_time(tasks, k_slots)


# ---- the benchmark --------------------------------------------------------------------------


def generate_and_load(
    members: int, tweets_per_member: float, seed: int, directory: Path, bulk: bool
) -> dict[str, Any]:
    """Generate a week and load it into ``directory``'s embedded store."""
    from dwt.bench.load import load_week, load_week_bulk
    from dwt.generate import generate_community
    from dwt.store import Store

    start = time.perf_counter()
    dataset = generate_community(
        members=members,
        communities=max(4, min(12, members // 100)),
        days=7,
        seed=seed,
        tweets_per_member=tweets_per_member,
    )
    generated = time.perf_counter() - start
    store = Store.open(f"sqlite:///{directory / 'dwt.db'}")
    start = time.perf_counter()
    if bulk:
        tweets = load_week_bulk(store, dataset, COMMUNITY)
    else:
        tweets = load_week(store, dataset, COMMUNITY).inserted
    store.close()
    return {
        "members": members,
        "tweets": tweets,
        "now": dataset.meta["now"],
        "generated_s": round(generated, 1),
        "load_s": round(time.perf_counter() - start, 1),
        "loader": "bulk-loaded (whole documents in batches)" if bulk else "as collection writes",
    }


def _run_args(now: str, run_id: str, before: Sequence[str], after: Sequence[str]) -> list[str]:
    """``dwt [before] run … [after]``."""
    return [
        DWT, *before, "run", "--community", COMMUNITY, "--steps", ",".join(STEPS),
        "--now", now, "--run-id", run_id, "--json", *after,
    ]  # fmt: skip


def in_process(directory: Path, now: str, run_id: str, timeout_s: float) -> dict[str, Any]:
    env = {**os.environ, "DWT_DATA_DIR": str(directory)}
    env.pop("RAY_ADDRESS", None)
    with MachineLoad() as load:
        done = run_child(_run_args(now, run_id, [], ["--no-ray"]), env, timeout_s)
    if done["returncode"] != 0:
        raise RuntimeError(f"in-process run failed: {done['stderr'][-2000:]}")
    return {
        "wall_s": round(done["wall_s"], 2),
        "cpu_s": round(done["cpu_s"], 2),
        "peak_rss_mb": round(done["peak_rss_mb"], 1),
        **load.as_dict(),
    }


def on_cluster(
    directory: Path,
    now: str,
    run_id: str,
    nodes: int,
    shards: int,
    timeout_s: float,
    object_store_mb: int,
) -> dict[str, Any]:
    """One ``dwt run`` on a fresh ``nodes``-raylet cluster (one CPU each), accounted."""
    from dwt.bench.raycluster import NamespacedRayCluster

    env = {"DWT_DATA_DIR": str(directory)}
    with (
        tempfile.TemporaryDirectory(prefix="dwt-bench-ray-") as tmp,
        NamespacedRayCluster(
            nodes, 1, workdir=Path(tmp), env=env, object_store_mb=object_store_mb
        ) as cluster,
    ):
        cluster.isolation()
        after = ["--shards", str(shards)] if shards else []
        command = cluster.exec_args(
            *_run_args(now, run_id, ["--ray-address", cluster.address], after)
        )
        roots = [p.pid for p in cluster.processes]
        with RayAccounting(roots) as ray, MachineLoad() as load:
            done = run_child(command, {**cluster.env, **env}, timeout_s)
        if done["returncode"] != 0:
            raise RuntimeError(f"run on {nodes} node(s) failed: {done['stderr'][-3000:]}")
    workers, daemons = ray.cpu("worker"), ray.cpu("daemon")
    driver = done["cpu_s"]
    total = driver + workers + daemons
    return {
        "nodes": nodes,
        "wall_s": round(done["wall_s"], 2),
        "driver_cpu_s": round(driver, 2),
        "worker_cpu_s": round(workers, 2),
        "ray_daemon_cpu_s": round(daemons, 2),
        "pipeline_cpu_seconds": round(total, 2),
        "offdriver_cpu_share": round(workers / total, 3) if total else None,
        "driver_peak_rss_mb": round(done["peak_rss_mb"], 1),
        "worker_peak_rss_mb": round(ray.peak_rss_mb("worker"), 1),
        "node_peak_pss_mb": [round(m, 1) for m in ray.node_peak_pss_mb],
        **load.as_dict(),
    }


def run_bench(
    members: int = 10_000,
    *,
    big_members: int = 0,
    tweets_per_member: float = 103.0,
    repeats: int = 1,
    shards: int = 0,
    seed: int = 1,
    bulk: bool = False,
    object_store_mb: int = 1024,
    timeout_s: float = 3600,
    echo: Echo = print,
) -> dict[str, Any]:
    """The whole benchmark (module doc); returns the JSON figures."""
    from dwt.bench.raycluster import namespaces_permitted

    why_not = namespaces_permitted()
    if why_not is not None:
        raise RuntimeError(f"dwt bench ray needs network namespaces: {why_not}")
    started = time.perf_counter()
    result: dict[str, Any] = {"members": members, "started": datetime.now().isoformat()}
    with tempfile.TemporaryDirectory(prefix="dwt-bench-ray-store-") as tmp:
        directory = Path(tmp)
        loaded = generate_and_load(members, tweets_per_member, seed, directory, bulk)
        echo(f"week: {loaded['members']:,} members, {loaded['tweets']:,} tweets, "
             f"generated in {loaded['generated_s']} s, loaded ({loaded['loader']}) in "
             f"{loaded['load_s']} s")  # fmt: skip
        result["week"] = loaded
        url = f"sqlite:///{directory / 'dwt.db'}"
        now = loaded["now"]
        reference = in_process(directory, now, "in-process", timeout_s)
        base = snapshot(url, "in-process")
        echo(_line("in-process", reference))
        result["in_process"] = reference | {"counts": base["counts"]}
        runs: dict[str, list[dict[str, Any]]] = {"1": [], "2": []}
        for repeat in range(repeats):
            for nodes in (2, 1):
                run_id = f"ray-{nodes}n-{repeat}"
                row = on_cluster(directory, now, run_id, nodes, shards, timeout_s, object_store_mb)
                got = snapshot(url, run_id)
                row |= same(base, got) | {"tasks": len(got["tasks"]), "task_records": got["tasks"]}
                row["placement"] = {
                    s: {"tasks": p["tasks"], "nodes": len(p["nodes"])}
                    for s, p in got["placement"].items()
                }
                runs[str(nodes)].append(row)
                echo(_line(f"ray {nodes} node(s)", row))
        result |= _summary(members, reference, runs)
        for nodes in runs.values():
            for row in nodes:
                row.pop("task_records")
        result["runs"] = runs
    if big_members:
        result["big"] = run_big(
            big_members, tweets_per_member, seed, shards, object_store_mb, timeout_s, echo
        )
        result["worker_peak_rss_mb_30k"] = result["big"]["worker_peak_rss_mb"]
    result["bench_s"] = round(time.perf_counter() - started, 1)
    return result


def run_big(
    members: int,
    tweets_per_member: float,
    seed: int,
    shards: int,
    object_store_mb: int,
    timeout_s: float,
    echo: Echo,
) -> dict[str, Any]:
    """The large week: bulk-loaded, one run on 2 nodes, for the workers' memory."""
    with tempfile.TemporaryDirectory(prefix="dwt-bench-ray-big-") as tmp:
        directory = Path(tmp)
        loaded = generate_and_load(members, tweets_per_member, seed, directory, bulk=True)
        echo(f"large week: {loaded['members']:,} members, {loaded['tweets']:,} tweets "
             f"({loaded['loader']}, {loaded['load_s']} s)")  # fmt: skip
        row = on_cluster(directory, loaded["now"], "ray-big", 2, shards, timeout_s, object_store_mb)
        echo(_line("ray 2 nodes, large", row))
        return row | {"week": loaded}


def _summary(
    members: int, reference: dict[str, Any], runs: dict[str, list[dict[str, Any]]]
) -> dict[str, Any]:
    """The goals' figures: the 2-node run's (median over repeats), the speed-up and the
    model checked both ways."""
    import statistics

    two, one = runs["2"], runs["1"]

    def median(rows: list[dict[str, Any]], key: str) -> float:
        return round(statistics.median(r[key] for r in rows), 3)

    wall1, wall2 = median(one, "wall_s"), median(two, "wall_s")
    first_one, first_two = one[0], two[0]
    to_two = predict(first_one["task_records"], first_one["wall_s"], 1, 2)
    to_one = predict(first_two["task_records"], first_two["wall_s"], 2, 1)
    return {
        "offdriver_cpu_share": median(two, "offdriver_cpu_share"),
        "driver_peak_rss_mb": median(two, "driver_peak_rss_mb"),
        "worker_peak_rss_mb": median(two, "worker_peak_rss_mb"),
        "pipeline_cpu_seconds": median(two, "pipeline_cpu_seconds"),
        "pipeline_cpu_seconds_per_member": round(median(two, "pipeline_cpu_seconds") / members, 5),
        "in_process_cpu_seconds": reference["cpu_s"],
        "in_process_cpu_seconds_per_member": round(reference["cpu_s"] / members, 5),
        "speedup_2_nodes": round(wall1 / wall2, 3) if wall2 else None,
        "model": {
            "formula": "T(K) = T_driver + Σ_phases LPT(task times, K slots); T_driver = "
            "measured wall − Σ_phases LPT(task times, run's slots)",
            "predicted_2_nodes_from_1_s": round(to_two, 2),
            "measured_2_nodes_s": first_two["wall_s"],
            "predicted_1_node_from_2_s": round(to_one, 2),
            "measured_1_node_s": first_one["wall_s"],
            "predicted_s": {
                k: round(predict(first_one["task_records"], first_one["wall_s"], 1, k), 1)
                for k in (1, 2, 4, 8, 16)
            },
        },
        "nmi": min(r["nmi"] for r in [*one, *two]),
        "same_trending": all(r["same_trending"] for r in [*one, *two]),
        "same_conversations": all(r["same_conversations"] for r in [*one, *two]),
        "same_bonds": all(r["same_bonds"] for r in [*one, *two]),
        "same_topics": all(r["same_topics"] for r in [*one, *two]),
    }


def _line(what: str, row: dict[str, Any]) -> str:
    parts = [f"{what}: wall {row['wall_s']} s"]
    if "cpu_s" in row:
        parts.append(f"CPU {row['cpu_s']} s, peak RSS {row['peak_rss_mb']} MB")
    else:
        parts.append(
            f"CPU driver {row['driver_cpu_s']} / workers {row['worker_cpu_s']} / Ray daemons "
            f"{row['ray_daemon_cpu_s']} s (off-driver {row['offdriver_cpu_share']}), driver "
            f"peak RSS {row['driver_peak_rss_mb']} MB, worker {row['worker_peak_rss_mb']} MB, "
            f"nodes PSS {row['node_peak_pss_mb']} MB"
        )
        if "nmi" in row:
            parts.append(
                f"NMI {row['nmi']}, same trending {row['same_trending']}, same conversations "
                f"{row['same_conversations']}, same bonds {row['same_bonds']}, same topics "
                f"{row['same_topics']}"
            )
    parts.append(f"load {row['load_before']}→{row['load_after']}, busy {row['machine_busy_share']}")
    return "; ".join(parts)
