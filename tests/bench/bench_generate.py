"""Benchmark of ``generate_community`` (a script, not a test: pytest does not collect it).

    python tests/bench/bench_generate.py            # all sizes
    python tests/bench/bench_generate.py small      # one size

Each size runs in a fresh interpreter so that its peak memory (``ru_maxrss``) is its own.
Target: the 10,000-member / ~1M-tweet week in under a minute and 4 GB on two cores.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

#: name → generate_community arguments.
CASES: dict[str, dict[str, float]] = {
    "small": {"members": 300, "communities": 6, "days": 7},
    "medium": {"members": 2_000, "communities": 8, "days": 7},
    "large": {"members": 10_000, "communities": 12, "days": 7, "tweets_per_member": 88.0},
}


def measure(name: str) -> dict[str, float]:
    """Generate and save one case in this process; return timings and peak memory."""
    from dwt.generate import generate_community

    started = time.perf_counter()
    dataset = generate_community(**CASES[name])
    generated = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        path = dataset.save(Path(tmp) / "week")
        saved = time.perf_counter() - started
        size = sum(f.stat().st_size for f in path.iterdir())
    return {
        "tweets": dataset.tweets.num_rows,
        "follows": dataset.follows.num_rows,
        "accounts": dataset.users.num_rows,
        "generate_s": round(generated, 2),
        "save_s": round(saved, 2),
        "disk_mb": round(size / 1e6, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def main(argv: list[str]) -> int:
    if argv[:1] == ["--child"]:
        print(json.dumps(measure(argv[1])))
        return 0
    names = argv or list(CASES)
    unknown = [n for n in names if n not in CASES]
    if unknown:
        print(f"unknown case(s) {unknown}; choose from {list(CASES)}", file=sys.stderr)
        return 2
    for name in names:
        child = subprocess.run(
            [sys.executable, __file__, "--child", name], capture_output=True, text=True
        )
        if child.returncode != 0:
            print(f"{name}: failed\n{child.stderr}", file=sys.stderr)
            return 1
        r = json.loads(child.stdout)
        args = ", ".join(f"{k}={v:g}" for k, v in CASES[name].items())
        print(
            f"{name:<7} ({args}): {r['tweets']:,} tweets, {r['follows']:,} follows, "
            f"{r['accounts']:,} accounts — generate {r['generate_s']:.2f} s, "
            f"save {r['save_s']:.2f} s, {r['disk_mb']:.1f} MB on disk, "
            f"peak RSS {r['peak_rss_mb']:,} MiB"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
