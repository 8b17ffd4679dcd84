"""Reported seeds never tuned the rule they report on (issue 27)."""

from __future__ import annotations

from dwt.bench import seeds
from dwt.bench.independent import grid


def test_reported_seeds_are_disjoint_from_every_rules_tuning_seeds():
    assert seeds.REPORTED_SEEDS
    for rule, tuning in seeds.TUNING_SEEDS.items():
        assert not set(tuning) & set(seeds.REPORTED_SEEDS), rule
    assert seeds.tuned_on(seeds.REPORTED_SEEDS) == {}
    assert seeds.tuned_on([3, 12]) == {
        "bonds": [12],
        "flow_transform": [12],
        "trending": [3],
        "activity_teleportation": [12],
        "structure": [12],
    }


def test_the_bench_reports_on_the_named_seeds():
    from dwt.bench.insights import Config

    assert grid.REPORTED_SEEDS == seeds.REPORTED_SEEDS
    assert set(Config().independent_seeds) <= set(seeds.REPORTED_SEEDS)
    assert set(Config().independent_variant_seeds) <= set(seeds.REPORTED_SEEDS)
