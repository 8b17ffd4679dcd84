"""Re-derive the clustering's structure threshold on its named tuning seeds (issue 27).

``python -m dwt.bench.tune`` rebuilds the weeks the default was chosen on and prints the
table behind it, so the number in :mod:`dwt.stages.cluster` can be checked, not trusted:

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

The reported seeds (:data:`dwt.bench.seeds.REPORTED_SEEDS`) and family 2 are never read.
"""

from __future__ import annotations

import argparse
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
    from dwt.stages.cluster import MIN_MODULARITY_EXCESS

    parser = argparse.ArgumentParser(prog="python -m dwt.bench.tune", description=__doc__)
    parser.add_argument("--seeds", type=int, nargs="+", default=TUNING_SEEDS["structure"])
    parser.add_argument("--members", type=int, default=400)
    args = parser.parse_args(argv)
    derived = tune_structure(args.seeds, members=args.members)
    same = "same" if derived == MIN_MODULARITY_EXCESS else "DIFFERS"
    print(f"MIN_MODULARITY_EXCESS derived {derived:.2f}; the code uses "
          f"{MIN_MODULARITY_EXCESS:.2f} ({same})")  # fmt: skip
    return 0 if derived == MIN_MODULARITY_EXCESS else 1


if __name__ == "__main__":
    raise SystemExit(main())
