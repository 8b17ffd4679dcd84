"""The scale case of ``dwt bench insights``, run in a fresh interpreter.

Peak memory (``ru_maxrss``) only counts what the stages need when nothing else ran in the
process before: the parent generates the week, writes the stages' input as Parquet, and
starts ``python -m dwt.bench.scale DIR``, which loads it, runs bonds, cluster and content
once and prints one JSON line (timings, peak RSS, counts).

A fresh process is not enough on Linux: ``ru_maxrss`` survives ``execve``, and the child
starts with the peak RSS of the process it was spawned from (with vfork, the parent's whole
peak). :func:`worker_command` therefore starts the worker through a tiny launcher
interpreter, whose own footprint (~10 MB) is all the worker inherits. The address space's
own high-water mark (``VmHWM``) is reported beside it as a cross-check.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from dwt.stages.bonds import BondGraph
from dwt.stages.cluster import ISOLATED, InfomapClusters
from dwt.stages.content import ContentFinder


def write_inputs(
    directory: Path,
    members: pa.Array,
    interactions: pa.Table,
    follows: pa.Table,
    window: tuple[datetime, datetime],
) -> None:
    """Save the stages' input for :func:`run_stages` (uncompressed: loading is not measured)."""
    directory.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"id": members}), directory / "members.parquet")
    pq.write_table(interactions, directory / "interactions.parquet", compression="none")
    pq.write_table(follows, directory / "follows.parquet", compression="none")
    (directory / "window.json").write_text(json.dumps([t.isoformat() for t in window]))


#: Runs argv[1:] as a child and exits with its status: the worker is spawned from this small
#: process, so it does not inherit the benchmark's peak RSS (see the module doc).
_LAUNCHER = "import subprocess, sys; sys.exit(subprocess.call(sys.argv[1:]))"


def worker_command(directory: Path) -> list[str]:
    """The command that runs :func:`run_stages` on ``directory`` in a clean process."""
    python = sys.executable
    return [python, "-c", _LAUNCHER, python, "-m", "dwt.bench.scale", str(directory)]


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def _own_peak_rss_mb() -> float | None:
    """This address space's peak RSS (``VmHWM``), where /proc has it."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


def run_stages(directory: Path) -> dict[str, float | int]:
    """Load the input, run the three stages with their defaults, time each."""
    baseline = _peak_rss_mb()
    start = time.perf_counter()
    members = pq.read_table(directory / "members.parquet").column("id").combine_chunks()
    interactions = pq.read_table(directory / "interactions.parquet")
    follows = pq.read_table(directory / "follows.parquet")
    since, until = (
        datetime.fromisoformat(t) for t in json.loads((directory / "window.json").read_text())
    )
    loaded = time.perf_counter()
    graph = BondGraph().fit(members, interactions, follows)
    bonded = time.perf_counter()
    clusters = InfomapClusters().fit(graph.matrix_)
    clustered = time.perf_counter()
    finder = ContentFinder().fit(interactions, members, clusters.labels_, window=(since, until))
    done = time.perf_counter()
    return {
        "load_s": round(loaded - start, 3),
        "bonds_s": round(bonded - loaded, 3),
        "cluster_s": round(clustered - bonded, 3),
        "content_s": round(done - clustered, 3),
        "total_s": round(done - loaded, 3),
        "peak_rss_mb": round(_peak_rss_mb(), 1),
        "peak_vmhwm_mb": _round(_own_peak_rss_mb()),
        "baseline_rss_mb": round(baseline, 1),
        "members": len(members),
        "tweets": interactions.num_rows,
        "bonds": int(graph.matrix_.nnz),
        "clusters": int(clusters.n_clusters_),
        "isolated": int((clusters.labels_ == ISOLATED).sum()),
        "slices": finder.conversations_.num_rows,
        "trending": int(sum(finder.conversations_.column("trending").to_pylist())),
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m dwt.bench.scale DIR", file=sys.stderr)
        return 2
    print(json.dumps(run_stages(Path(argv[0]))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
