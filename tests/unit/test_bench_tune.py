"""python -m dwt.bench.tune re-derives the structure and trending thresholds (issue 27)."""

from __future__ import annotations

import pytest

from dwt.bench import tune, tune_trending
from dwt.bench.independent.score import BurstCounts
from dwt.bench.seeds import REPORTED_SEEDS, TUNING_SEEDS
from dwt.bench.tune_trending import TrendRow
from dwt.pipeline.spec import Content
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


# ---- the trending threshold -------------------------------------------------------------


def rows(by_sigma: dict[float, tuple[int, int, int, int]], seed: int = 3) -> list[TrendRow]:
    """One week's rows: sigma -> (planted, found, trending, trending with a burst)."""
    return [TrendRow(0.2, seed, s, BurstCounts(*c)) for s, c in by_sigma.items()]


def test_trend_sigma_is_the_middle_of_the_perfect_sigmas():
    # False trends below 4.0, a missed burst from 6.5: perfect 4.0 … 6.0, midpoint 5.0.
    week = {3.0: (2, 2, 4, 2), 3.5: (2, 2, 3, 2), 4.0: (2, 2, 2, 2), 5.0: (2, 2, 2, 2),
            6.0: (2, 2, 2, 2), 6.5: (2, 1, 1, 1), 7.0: (2, 1, 1, 1)}  # fmt: skip
    assert tune_trending.best_run(rows(week)) == (4.0, 6.0)
    assert tune_trending.trend_sigma(rows(week)) == 5.0
    # Summed over weeks: a second week's false trend at 4.0 moves the interval to 4.5 … 6.0.
    other = {s: (2, 2, 3 if s == 4.0 else 2, 2) for s in week}
    both = rows(week) + rows(other, seed=4)
    assert tune_trending.best_run(both) == (5.0, 6.0)  # 4.5 is not on this grid
    assert tune_trending.trend_sigma(both) == 5.5


def test_without_a_perfect_sigma_the_fewest_errors_win():
    # Every sigma errs: 5.0 and 5.5 once (a missed burst), the others twice.
    week = {4.0: (2, 2, 4, 2), 4.5: (2, 2, 3, 1), 5.0: (2, 1, 1, 1), 5.5: (2, 1, 1, 1),
            6.0: (2, 0, 0, 0)}  # fmt: skip
    totals = tune_trending.totals(rows(week))
    assert [tune_trending.errors(c) for c in totals.values()] == [2, 2, 1, 1, 2]
    assert tune_trending.best_run(rows(week)) == (5.0, 5.5)
    assert tune_trending.trend_sigma(rows(week)) == 5.5  # 5.25 rounds half up
    with pytest.raises(ValueError, match="at least one tuning week"):
        tune_trending.trend_sigma([])


def test_weeks_that_bound_the_sigma_from_below_only_add_the_margin():
    # False trends below 4.0, none lost up to the grid's top: 4.0 plus the margin, whatever
    # the top (a midpoint would move with it).
    for top in (7.0, 10.0):
        week = {3.0: (2, 2, 4, 2), 3.5: (2, 2, 3, 2)}
        week |= {4.0 + 0.5 * i: (2, 2, 2, 2) for i in range(int((top - 4.0) / 0.5) + 1)}
        assert tune_trending.best_run(rows(week)) == (4.0, top)
        assert tune_trending.trend_sigma(rows(week)) == 4.0 + tune_trending.MARGIN


def test_trending_tune_refuses_a_reported_seed():
    with pytest.raises(ValueError, match="report figures"):
        tune_trending.trending_week(0.2, REPORTED_SEEDS[0])  # before generating anything
    with pytest.raises(ValueError, match="report figures"):
        tune_trending.trend_sigma(rows({5.0: (2, 2, 2, 2)}, seed=REPORTED_SEEDS[-1]))


@pytest.mark.slow
def test_a_low_sigma_trends_slices_without_a_burst_and_the_default_does_not():
    """One tuning week run as a user would, its content step at 1σ and at the default."""
    default = Content().trend_sigma
    low, code = tune_trending.trending_week(0.2, TUNING_SEEDS["trending"][0], (1.0, default))
    assert low.counts.found == low.counts.planted == code.counts.found > 0
    assert low.counts.trending > low.counts.trending_with_burst  # a false trend at 1σ
    assert code.counts.trending == code.counts.trending_with_burst == code.counts.planted


def test_seeds_belong_to_one_part_and_reported_ones_are_refused(capsys):
    with pytest.raises(SystemExit):
        tune.main(["--seeds", "3"])
    assert "--seeds needs --only" in capsys.readouterr().err
    with pytest.raises(ValueError, match="report figures"):
        tune.main(["--only", "trending", "--seeds", "4", str(REPORTED_SEEDS[0])])
