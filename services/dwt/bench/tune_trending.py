"""Re-derive the content stage's trending threshold on its named tuning seeds (issue 27).

* **``Content.trend_sigma``** (how unusual a conversation's growth must be to trend,
  :mod:`dwt.stages.content`). Weeks of the independent source
  (:mod:`dwt.bench.independent`) on the seeds :data:`dwt.bench.seeds.TUNING_SEEDS`
  ``["trending"]``, at the mixings of its grid (:data:`dwt.bench.independent.grid.MIXINGS`,
  its default noise and activity), each run once as a user would
  (:func:`dwt.bench.independent.product.product_store`); then the content step alone is run
  again at each sigma of :data:`SIGMAS` and its trending conversations are scored against
  the planted thread bursts as the report scores them
  (:class:`dwt.bench.independent.score.BurstCounts`). A sigma's *errors* are the planted
  bursts it misses plus the trending conversations holding no planted burst's tweet,
  summed over the weeks; the threshold is the midpoint of the longest run of sigmas with
  the fewest errors (none, where some sigma is perfect), rounded to 0.5 (the grid's step).
  When that run reaches the grid's top, no sigma tried misses a burst: the weeks bound the
  threshold from below only and a midpoint would move with the grid. The threshold is then
  the lowest error-free sigma plus :data:`MARGIN` (a chosen margin, not a derived one: each
  σ above where false trends stop divides their chance by 30–100 on unseen weeks, and these
  weeks lose no burst to a higher sigma).

The reported seeds (:data:`dwt.bench.seeds.REPORTED_SEEDS`) are never read.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from dwt.bench.independent.grid import MIXINGS
from dwt.bench.independent.score import BurstCounts
from dwt.bench.seeds import REPORTED_SEEDS, TUNING_SEEDS

#: The sigmas each tuning week's content step is rerun at: 3.0 … 7.0 by 0.5.
SIGMAS: tuple[float, ...] = tuple(3.0 + 0.5 * i for i in range(9))
#: Above the lowest error-free sigma, when no sigma tried misses a burst (module doc).
MARGIN = 1.0


@dataclass(frozen=True)
class TrendRow:
    """One tuning week's planted thread bursts and trending conversations at one sigma."""

    mixing: float
    seed: int
    sigma: float
    counts: BurstCounts


def _refuse_reported(seeds: Sequence[int]) -> None:
    reported = sorted(set(seeds) & set(REPORTED_SEEDS))
    if reported:
        raise ValueError(f"seeds {reported} report figures: they may not tune a default")


def trending_week(mixing: float, seed: int, sigmas: Sequence[float] = SIGMAS) -> list[TrendRow]:
    """Run the product on one independent week, then its content step at each of
    ``sigmas``; one row per sigma (module doc)."""
    from dwt.bench.independent.product import product_store, rerun_content
    from dwt.bench.independent.score import bursts
    from dwt.bench.independent.world import WorldConfig, generate_world
    from dwt.pipeline.spec import Content, Topics

    _refuse_reported([seed])
    if not sigmas:
        raise ValueError("trending_week needs at least one sigma")
    dataset, plan = generate_world(replace(WorldConfig(), mixing=mixing, seed=seed))
    rows = []
    with product_store(dataset) as (store, _):
        for sigma in sigmas:
            # topics read no sigma: off, the reruns take a third less
            content = Content(trend_sigma=sigma, topics=Topics(enabled=False))
            docs = rerun_content(store, dataset.now, content)
            rows.append(TrendRow(mixing, seed, sigma, bursts(plan, docs, "thread")))
    return rows


def totals(rows: Sequence[TrendRow]) -> dict[float, BurstCounts]:
    """The burst counts of every week summed, by sigma (ascending)."""
    out: dict[float, BurstCounts] = {}
    for row in sorted(rows, key=lambda r: r.sigma):
        out[row.sigma] = out.get(row.sigma, BurstCounts()) + row.counts
    return out


def errors(counts: BurstCounts) -> int:
    """Planted bursts missed plus trending conversations that hold no planted burst."""
    return (counts.planted - counts.found) + (counts.trending - counts.trending_with_burst)


def best_run(rows: Sequence[TrendRow]) -> tuple[float, float]:
    """The first and last sigma of the longest run of sigmas with the fewest errors."""
    if not rows:
        raise ValueError("trend_sigma needs rows from at least one tuning week")
    _refuse_reported([r.seed for r in rows])
    by_sigma = totals(rows)
    fewest = min(errors(c) for c in by_sigma.values())
    runs: list[list[float]] = []
    previous_best = False
    for sigma, counts in by_sigma.items():
        best = errors(counts) == fewest
        if best and previous_best:
            runs[-1].append(sigma)
        elif best:
            runs.append([sigma])
        previous_best = best
    run = max(runs, key=len)  # the first (lowest) of the longest
    return run[0], run[-1]


def from_below_only(rows: Sequence[TrendRow]) -> bool:
    """Whether no sigma tried misses a burst: the error-free run reaches the grid's top."""
    high = best_run(rows)[1]
    return high == max(r.sigma for r in rows) and errors(totals(rows)[high]) == 0


def trend_sigma(rows: Sequence[TrendRow]) -> float:
    """The threshold the module doc describes, from ``rows``."""
    low, high = best_run(rows)
    if from_below_only(rows):
        return low + MARGIN
    return math.floor((low + high) + 0.5) / 2  # the midpoint to 0.5, halves up


def tune_trending(
    seeds: Sequence[int] = TUNING_SEEDS["trending"],
    mixings: Sequence[float] = MIXINGS,
    sigmas: Sequence[float] = SIGMAS,
    echo: Callable[[str], None] = print,
) -> float:
    """Rebuild the tuning weeks, print their table and return the derived threshold."""
    _refuse_reported(seeds)
    start = time.perf_counter()
    rows = [row for m in mixings for s in seeds for row in trending_week(m, s, sigmas)]
    echo(f"trending threshold: independent weeks at mixings {list(mixings)}, tuning seeds "
         f"{list(seeds)}, {time.perf_counter() - start:.0f} s")  # fmt: skip
    echo(f"{'sigma':>5} {'planted':>7} {'found':>5} {'trending':>8} {'with burst':>10} "
         f"{'errors':>6}")  # fmt: skip
    for sigma, c in totals(rows).items():
        echo(
            f"{sigma:>5.1f} {c.planted:>7} {c.found:>5} {c.trending:>8} "
            f"{c.trending_with_burst:>10} {errors(c):>6}"
        )
    low, high = best_run(rows)
    echo(f"fewest errors from {low:.1f} to {high:.1f}")
    if from_below_only(rows):
        echo(f"no sigma up to {high:.1f} misses a planted burst: these weeks bound the "
             f"threshold from below only; it is {low:.1f} + a margin of {MARGIN:.1f}")  # fmt: skip
    return trend_sigma(rows)
