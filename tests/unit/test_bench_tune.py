"""python -m dwt.bench.tune re-derives the clustering's structure threshold (issue 27)."""

from __future__ import annotations

import pytest

from dwt.bench import tune
from dwt.bench.seeds import REPORTED_SEEDS, TUNING_SEEDS
from dwt.stages.cluster import MIN_MODULARITY_EXCESS


def week(excess: float, nmi: float) -> tune.StructureWeek:
    return tune.StructureWeek(0.5, 10, excess, nmi)


def test_threshold_is_the_middle_of_the_gap_or_the_fewest_errors():
    weeks = [week(0.08, 0.8), week(0.06, 0.7), week(0.02, 0.3), week(0.0, 0.1)]
    assert tune.min_excess(weeks) == 0.04
    # Overlapping kinds: the cut that misjudges fewest weeks (here one).
    overlap = [week(0.08, 0.8), week(0.05, 0.2), week(0.03, 0.7), week(0.01, 0.1)]
    assert tune.min_excess(overlap) == 0.03
    with pytest.raises(ValueError, match="with and without"):
        tune.min_excess([week(0.08, 0.8)])


def test_tuning_refuses_a_reported_seed():
    with pytest.raises(ValueError, match="reports figures"):
        tune.structure_week(0.5, REPORTED_SEEDS[0])


def test_the_default_is_what_tune_derives_on_its_seeds():
    """Two of the tuning seeds, at the mixings either side of the gap (about 12 s)."""
    seeds = TUNING_SEEDS["structure"][:2]
    lines: list[str] = []
    derived = tune.tune_structure(seeds, mixings=(0.5, 0.63), echo=lines.append)
    assert derived == MIN_MODULARITY_EXCESS
    assert str(list(seeds)) in lines[0]  # the table names the seeds it ran
    assert [line.split()[0] for line in lines[2:]] == ["0.50", "0.63"]


def test_structure_check_compares_infomap_alone_with_the_default():
    """On a week where Infomap finds one module (12-week-old lists, mixing 0.5) the check
    shows the collapse before and groups after; on fresh lists nothing changes."""
    from dwt.bench import structure_check

    lines: list[str] = []
    table = structure_check.compare(
        (0.5,), seeds=(1,), modes=("fresh", "stale_12w"), echo=lines.append
    )
    stale, fresh = table["stale_12w"]["0.5"], table["fresh"]["0.5"]
    assert stale["one_cluster_before"] == 1 and stale["before"] < 0.05
    assert stale["one_cluster_after"] == 0 and stale["after"] >= 0.6
    assert fresh["before"] == fresh["after"] and fresh["one_cluster_after"] == 0
    assert "reported seeds [1]" in lines[0] and len(lines) == 4
