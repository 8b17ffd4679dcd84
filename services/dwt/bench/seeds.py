"""Which seeds of the independent family (:mod:`dwt.bench.independent`) chose a setting and
which ones report figures: the one place both are named, so no report runs on a seed that
tuned the rule it scores (tests/unit/test_bench_seeds.py holds them disjoint).

``TUNING_SEEDS`` maps each tuned rule to the seeds its defaults were chosen on: the bond
mix, follow share, one-way weight and embeddedness (:mod:`dwt.stages.weights`,
:mod:`dwt.stages.bonds`) and the flow transform (:mod:`dwt.stages.cluster`) on seeds
10–40; the trending rule (:mod:`dwt.stages.content`,
re-derived by ``python -m dwt.bench.tune``) on seeds 3–5; the choice of link
rather than activity teleportation (:mod:`dwt.bench.activity_flow`) on seeds 10–15; the
clustering's structure threshold (:mod:`dwt.stages.cluster`, re-derived by
``python -m dwt.bench.tune``) on seeds 10–17.
"""

from __future__ import annotations

TUNING_SEEDS: dict[str, tuple[int, ...]] = {
    "bonds": tuple(range(10, 41)),
    "flow_transform": tuple(range(10, 41)),
    "trending": (3, 4, 5),
    "activity_teleportation": tuple(range(10, 16)),
    "structure": tuple(range(10, 18)),
}

#: The seeds every independent figure is reported on: none of them tuned any rule.
REPORTED_SEEDS: tuple[int, ...] = (1, 2, 6, 7, 8, 9)


def tuned_on(seeds: tuple[int, ...] | list[int]) -> dict[str, list[int]]:
    """The rules each of ``seeds`` tuned (empty: ``seeds`` may report every rule)."""
    hits = {rule: sorted(set(seeds) & set(tuning)) for rule, tuning in TUNING_SEEDS.items()}
    return {rule: hit for rule, hit in hits.items() if hit}
