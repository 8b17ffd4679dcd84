"""The benchmark's house rules (issue 28): no module over 600 lines, and the insight bench
generates its weeks through one function."""

from __future__ import annotations

import ast
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "services" / "dwt" / "bench"


def test_no_bench_module_exceeds_600_lines():
    sizes = {
        str(p.relative_to(BENCH)): len(p.read_text().splitlines()) for p in BENCH.rglob("*.py")
    }
    long = {name: n for name, n in sizes.items() if n > 600}
    assert not long, long


def test_the_insight_bench_generates_weeks_in_one_place():
    callers = set()
    for path in BENCH.glob("insights*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", None) == "generate_community"
            ):
                callers.add(path.name)
    assert not callers, callers
    truth = ast.parse((BENCH / "truth.py").read_text())
    assert "generated_week" in {n.name for n in truth.body if isinstance(n, ast.FunctionDef)}
