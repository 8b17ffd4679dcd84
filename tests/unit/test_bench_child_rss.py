"""The benchmarks' peak RSS of a command is the command's own, not the benchmark's: ``wait4``'s
``ru_maxrss`` counted the fork before exec, when the child still maps the parent's memory
(a 10,000-member bench read 1.8 GB for a Ray driver that peaked at 0.4 GB)."""

from __future__ import annotations

import sys

from dwt.bench.ray import run_child

ALLOCATE = (
    "x = bytearray({mb} * 2**20); x[::4096] = b'\\1' * len(x[::4096]); import time; time.sleep(0.5)"
)


def test_a_childs_peak_is_its_own_not_its_parents():
    held = bytearray(600 * 2**20)
    held[::4096] = b"\1" * len(held[::4096])  # resident: 600 MB in this process
    done = run_child([sys.executable, "-c", ALLOCATE.format(mb=150)], {}, timeout_s=60)
    assert done["returncode"] == 0, done["stderr"]
    assert 150 <= done["peak_rss_mb"] < 400, done["peak_rss_mb"]  # not 600 + ...
    assert done["cpu_s"] > 0
    del held
