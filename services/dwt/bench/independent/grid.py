"""The grid of ``dwt bench insights``' independent section: mixing × seeds at the default
noise and activity, plus a few noisier / quieter cases, each run as the product runs.

    python -m dwt.bench.independent.grid [--quick]   # prints the table, then one JSON line
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, replace
from typing import Any

from dwt.bench.independent.product import run_product
from dwt.bench.independent.score import BurstCounts, RunScore, score_run
from dwt.bench.independent.world import WorldConfig, generate_world
from dwt.bench.seeds import REPORTED_SEEDS

Echo = Callable[[str], None]

MIXINGS = (0.1, 0.2, 0.35, 0.5)
#: (follow noise, activity) cases beside the base one, at the middle mixing.
VARIANTS = ((0.6, 20.0), (0.3, 8.0))


def grid_cases(
    mixings: Sequence[float],
    seeds: Sequence[int],
    variants: Sequence[tuple[float, float]],
    base: WorldConfig,
    variant_seeds: Sequence[int] | None = None,
) -> list[WorldConfig]:
    """Every mixing × seed at ``base``'s noise and activity, then each (noise, activity)
    variant × ``variant_seeds`` (default: ``seeds``) at the middle mixing."""
    cases = [replace(base, mixing=m, seed=s) for m in mixings for s in seeds]
    middle = sorted(mixings)[len(mixings) // 2] if mixings else base.mixing
    cases += [
        replace(base, mixing=middle, noise=noise, activity=activity, seed=s)
        for noise, activity in variants
        for s in (seeds if variant_seeds is None else variant_seeds)
    ]
    return cases


def run_grid(cases: Iterable[WorldConfig], echo: Echo = print) -> list[RunScore]:
    echo(
        f"{'mix':>4} {'real':>5} {'noise':>5} {'act':>4} {'seed':>4} {'NMI':>6} {'NMI all':>7} "
        f"{'clusters':>8} {'silent':>6} {'1-silent':>8} {'threads':>8} {'topics':>8} "
        f"{'ARI':>6} {'ARI noid':>8} {'oracle IM/LD':>12} {'vs oracle':>9} {'s':>5}"
    )
    rows = []
    for cfg in cases:
        start = time.perf_counter()
        dataset, plan = generate_world(cfg)
        reading = run_product(dataset)
        row = score_run(plan, reading, time.perf_counter() - start)
        rows.append(row)
        echo(
            f"{row.mixing:>4.2f} {row.realised_mixing:>5.3f} {row.noise:>5.2f} "
            f"{row.activity:>4.0f} {row.seed:>4} {row.nmi:>6.3f} {row.nmi_all:>7.3f} "
            f"{f'{row.clusters}/{row.planted}':>8} {row.silent:>6} {row.singleton_silent:>8} "
            f"{_found(row.threads):>8} {_found(row.topics):>8} {_num(row.ari):>6} "
            f"{_num(row.ari_without_ids):>8} "
            f"{f'{_num(row.oracle_infomap)}/{_num(row.oracle_leiden)}':>12} "
            f"{_num(row.nmi_vs_oracle):>9} {row.seconds:>5.1f}"
        )
    echo(
        "NMI: members not silent; NMI all: silent members too (isolated = one label); "
        "threads/topics: found/planted (trending docs holding a burst/all trending); oracle: "
        "NMI of Infomap / Leiden on the planted relation graph (the product never sees it); "
        "vs oracle: NMI / Infomap's"
    )
    return rows


def _found(counts: BurstCounts | None) -> str:
    if counts is None:
        return "-"
    return f"{counts.found}/{counts.planted}({counts.trending_with_burst}/{counts.trending})"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


# ---- the summary's keys (issue 15) -----------------------------------------------------------


def _default_cases(rows: Sequence[RunScore]) -> list[RunScore]:
    """The runs at the grid's base noise and activity (the variants' own keys are apart)."""
    if not rows:
        return []
    base = _mode([(r.noise, r.activity) for r in rows])
    return [r for r in rows if (r.noise, r.activity) == base]


def _mode(values: list[tuple[float, float]]) -> tuple[float, float]:
    """The most common (noise, activity): the grid's base (most runs are at it)."""
    return max(set(values), key=values.count)


def nmi_by_mixing(rows: Sequence[RunScore]) -> dict[str, float]:
    """Mean NMI over seeds, by aimed mixing, at the base noise and activity."""
    return _by_mixing(_default_cases(rows), lambda r: r.nmi)


def worst_nmi_by_mixing(rows: Sequence[RunScore]) -> dict[str, float]:
    """The lowest NMI of any seed, by aimed mixing: a mean can hide one bad week."""
    return _by_mixing(_default_cases(rows), lambda r: r.nmi, min)


def clusters_by_mixing(rows: Sequence[RunScore]) -> dict[str, float]:
    """Mean clusters / planted communities, by aimed mixing."""
    return _by_mixing(_default_cases(rows), lambda r: r.clusters / r.planted)


def realised_mixing(rows: Sequence[RunScore]) -> dict[str, float]:
    return _by_mixing(_default_cases(rows), lambda r: r.realised_mixing)


def variants(rows: Sequence[RunScore]) -> list[dict[str, Any]]:
    """Every run that is not at the base noise and activity, as it was scored."""
    base = set(map(id, _default_cases(rows)))
    return [_row_dict(r) for r in rows if id(r) not in base]


def oracle_by_mixing(rows: Sequence[RunScore]) -> dict[str, dict[str, float]]:
    """Mean NMI of Infomap and Leiden on the true relation graph, by aimed mixing."""
    cases = [r for r in _default_cases(rows) if r.oracle_infomap is not None]
    infomap = _by_mixing(cases, lambda r: r.oracle_infomap or 0.0)
    leiden = _by_mixing(cases, lambda r: r.oracle_leiden or 0.0)
    return {m: {"infomap": infomap[m], "leiden": leiden[m]} for m in infomap}


def vs_oracle_by_mixing(
    rows: Sequence[RunScore], field: str = "nmi_vs_oracle"
) -> dict[str, dict[str, float]]:
    """Product NMI / oracle NMI by aimed mixing: the mean and the worst seed."""
    cases = [r for r in _default_cases(rows) if getattr(r, field) is not None]
    mean = _by_mixing(cases, lambda r: getattr(r, field))
    worst = _by_mixing(cases, lambda r: getattr(r, field), min)
    return {m: {"mean": mean[m], "worst": worst[m]} for m in mean}


def singleton_silent(rows: Sequence[RunScore]) -> int:
    return sum(r.singleton_silent for r in rows)


def burst_counts(rows: Sequence[RunScore]) -> dict[str, BurstCounts | None]:
    threads = sum((r.threads for r in rows), BurstCounts())
    topics = [r.topics for r in rows if r.topics is not None]
    return {
        "threads": threads,
        "topics": sum(topics, BurstCounts()) if topics else None,
    }


def ari_means(rows: Sequence[RunScore]) -> dict[str, float | None]:
    return {
        "with_ids": _mean(r.ari for r in rows),
        "without_ids": _mean(r.ari_without_ids for r in rows),
    }


def _by_mixing(
    rows: Sequence[RunScore],
    value: Callable[[RunScore], float],
    summary: Callable[[list[float]], float] = statistics.mean,
) -> dict[str, float]:
    """``summary`` (the mean by default) of ``value`` over the runs of each aimed mixing."""
    out: dict[str, list[float]] = {}
    for r in rows:
        out.setdefault(f"{r.mixing:g}", []).append(value(r))
    return {k: round(summary(v), 4) for k, v in out.items()}


def _mean(values: Iterable[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return round(statistics.mean(kept), 4) if kept else None


def _row_dict(row: RunScore) -> dict[str, Any]:
    return asdict(row)


def main(argv: list[str]) -> int:
    quick = "--quick" in argv
    cases = grid_cases(
        MIXINGS,
        (1,) if quick else REPORTED_SEEDS,
        () if quick else VARIANTS,
        WorldConfig(),
        variant_seeds=REPORTED_SEEDS[:2],
    )
    rows = run_grid(cases)
    print(
        json.dumps(
            {
                "nmi_independent": nmi_by_mixing(rows),
                "nmi_independent_worst": worst_nmi_by_mixing(rows),
                "clusters_independent": clusters_by_mixing(rows),
                "singleton_silent": singleton_silent(rows),
                "bursts": {k: v and asdict(v) for k, v in burst_counts(rows).items()},
                "ari": ari_means(rows),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
