"""``dwt bench ray`` as a person runs it, small: the week on a real two-raylet Ray cluster in
a network namespace, against the in-process run of the same week (issue 24). The figures
are the benchmark's business; this holds that it runs, measures both cluster sizes, says how
loaded the machine was, and scores the runs against the in-process one."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from dwt.bench.raycluster import namespaces_permitted

DWT = str(Path(sys.executable).parent / "dwt")

_why_not = namespaces_permitted()
pytestmark = [
    pytest.mark.slow,
    pytest.mark.needs_tool(f"network namespaces (root, iproute2): {_why_not}", not _why_not),
]


def test_the_ray_benchmark_runs_both_cluster_sizes_and_scores_them(tmp_path: Path):
    done = subprocess.run(
        [DWT, "bench", "ray", "--members", "300", "--big-members", "0", "--json"],
        capture_output=True, text=True, timeout=900, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["members"] == 300 and result["week"]["tweets"] > 0
    assert sorted(result["runs"]) == ["1", "2"]
    for runs in result["runs"].values():
        for run in runs:
            assert {"load_before", "load_after", "machine_busy_share"} <= set(run)
            assert 0 <= run["offdriver_cpu_share"] <= 1
            assert run["driver_peak_rss_mb"] > 0 and run["tasks"] > 0
    # The same week gives the same results wherever it ran.
    assert result["nmi"] == 1.0
    assert result["same_trending"] and result["same_conversations"]
    assert result["same_bonds"] and result["same_topics"]
    model = result["model"]
    assert model["measured_2_nodes_s"] > 0 and model["predicted_2_nodes_from_1_s"] > 0
