"""Re-derive defaults on their named tuning seeds (issue 27).

``python -m dwt.bench.tune`` rebuilds the weeks each default was chosen on and prints the
table behind it, so the numbers in the code can be checked, not trusted (``--only
structure`` or ``--only trending`` runs one part):

* **``MIN_MODULARITY_EXCESS``** (when Infomap finds no structure, how far Leiden's
  modularity must beat a random graph's before its partition is reported). Weeks of the
  independent source (:mod:`dwt.bench.independent`) on the seeds
  :data:`dwt.bench.seeds.TUNING_SEEDS` ``["structure"]``, at mixings where Infomap finds
  one module (0.5 and beyond, follow lists 12 weeks old), each clustered by Leiden on the
  product's flow weights (:func:`dwt.stages.cluster.flow_graph`, default spec) and scored
  against the planted groups. A week *has* structure when Leiden's NMI is at least
  :data:`RECOVERED`; the threshold is the midpoint of the gap between the largest excess
  of a week without and the smallest of a week with (where they overlap: the cut that
  misjudges fewest weeks), to two places.
* **``Content.trend_sigma``** (:mod:`dwt.stages.content`'s trending threshold): see
  :mod:`dwt.bench.tune_trending`.

The reported seeds (:data:`dwt.bench.seeds.REPORTED_SEEDS`) and family 2 are never read.
"""

from __future__ import annotations

import argparse
import os
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from dwt.bench.seeds import REPORTED_SEEDS, TUNING_SEEDS

#: Leiden NMI from which a week counts as having structure Leiden recovers.
RECOVERED = 0.5
#: Mixings of the tuning weeks: Infomap finds one module at each with 12-week-old lists.
MIXINGS = (0.5, 0.63, 0.8)
MODE = "stale_12w"


@dataclass(frozen=True)
class StructureWeek:
    """One tuning week: Leiden's modularity excess over the null and its NMI."""

    mixing: float
    seed: int
    excess: float
    nmi: float


def structure_week(mixing: float, seed: int, members: int = 400) -> StructureWeek:
    """Leiden's excess and NMI on one independent week (module doc)."""
    from sklearn.metrics import normalized_mutual_info_score

    from dwt.bench.follow_modes import mode_week
    from dwt.pipeline.spec import Clustering
    from dwt.stages.cluster import flow_graph, modularity_structure

    if seed in REPORTED_SEEDS:
        raise ValueError(f"seed {seed} reports figures: it may not tune a default")
    bonds, silent, planted, speaking = mode_week(mixing, seed, MODE, members=members)
    clustering = Clustering()
    flow, nodes, _ = flow_graph(bonds, silent, clustering.weight_transform)
    found, excess = modularity_structure(flow, clustering.seed)
    counted = speaking[nodes]
    nmi = normalized_mutual_info_score(planted[nodes][counted], found[counted])
    return StructureWeek(mixing, seed, excess, round(float(nmi), 4))


def min_excess(weeks: Sequence[StructureWeek], recovered: float = RECOVERED) -> float:
    """The threshold the module doc describes, from ``weeks`` (both kinds needed)."""
    has = sorted(w.excess for w in weeks if w.nmi >= recovered)
    lacks = sorted(w.excess for w in weeks if w.nmi < recovered)
    if not has or not lacks:
        raise ValueError("min_excess needs weeks with and without recovered structure")
    if lacks[-1] < has[0]:
        return round((lacks[-1] + has[0]) / 2, 2)
    cuts = sorted(set(has + lacks))
    errors = [sum(e >= c for e in lacks) + sum(e < c for e in has) for c in cuts]
    return round(cuts[int(np.argmin(errors))], 2)


def tune_structure(
    seeds: Sequence[int] = TUNING_SEEDS["structure"],
    mixings: Sequence[float] = MIXINGS,
    members: int = 400,
    echo=print,
) -> float:
    """Rebuild the tuning weeks, print their table and return the derived threshold."""
    weeks = [structure_week(m, s, members) for m in mixings for s in seeds]
    echo(f"structure threshold: independent weeks, {members} members, follows {MODE}, "
         f"tuning seeds {list(seeds)}")  # fmt: skip
    echo(f"{'mixing':>6} {'excess mean':>11} {'min':>6} {'max':>6} {'Leiden NMI':>10}")
    for m in mixings:
        mine = [w for w in weeks if w.mixing == m]
        excess = [w.excess for w in mine]
        echo(
            f"{m:>6.2f} {statistics.mean(excess):>11.3f} {min(excess):>6.3f} "
            f"{max(excess):>6.3f} {statistics.mean(w.nmi for w in mine):>10.3f}"
        )
    return min_excess(weeks)


def main(argv: Sequence[str] | None = None) -> int:
    """Print each part's table and derived-vs-code line; 0 only when every part agrees."""
    from dwt.bench.tune_trending import tune_trending
    from dwt.pipeline.spec import Content
    from dwt.stages.cluster import MIN_MODULARITY_EXCESS

    parser = argparse.ArgumentParser(prog="python -m dwt.bench.tune", description=__doc__)
    parser.add_argument("--only", choices=("structure", "trending"))
    parser.add_argument("--seeds", type=int, nargs="+", help="the part's tuning seeds (--only)")
    parser.add_argument("--members", type=int, default=400, help="structure weeks' members")
    args = parser.parse_args(argv)
    if args.seeds and not args.only:
        parser.error("--seeds needs --only: each part has its own tuning seeds")
    agree = True
    if args.only in (None, "structure"):
        derived = tune_structure(args.seeds or TUNING_SEEDS["structure"], members=args.members)
        _load()
        agree &= _compare("MIN_MODULARITY_EXCESS", derived, MIN_MODULARITY_EXCESS, ".2f")
    if args.only in (None, "trending"):
        sigma = tune_trending(args.seeds or TUNING_SEEDS["trending"])
        _load()
        agree &= _compare("Content.trend_sigma", sigma, Content().trend_sigma, ".1f")
    return 0 if agree else 1


def _load() -> None:
    """The machine's load as the table ends: its seconds depend on it, the values do not."""
    print("load average (1, 5, 15 min): " + ", ".join(f"{v:.2f}" for v in os.getloadavg()))


def _compare(name: str, derived: float, code: float, fmt: str) -> bool:
    same = derived == code
    print(f"{name} derived {derived:{fmt}}; the code uses {code:{fmt}} "
          f"({'same' if same else 'DIFFERS'})")  # fmt: skip
    return same


if __name__ == "__main__":
    raise SystemExit(main())
