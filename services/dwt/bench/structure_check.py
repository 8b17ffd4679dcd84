"""Does the clustering's modularity fallback cost NMI where Infomap needs no help?

``python -m dwt.bench.structure_check`` clusters independent weeks (:mod:`dwt.bench.
independent`, the reported seeds :data:`dwt.bench.seeds.REPORTED_SEEDS`) in each follow mode
of :mod:`dwt.bench.follow_modes`, the stages in process with the default spec, twice:
Infomap alone (``min_excess=None``) and the default (Infomap, then Leiden when Infomap's
answer does not compress the flow, :mod:`dwt.stages.cluster`). It prints NMI mean and
worst seed and how many weeks ended in one cluster, before and after. It chooses nothing:
the threshold comes from :mod:`dwt.bench.tune` on tuning seeds.
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Sequence

from dwt.bench.follow_modes import MODES, mode_week
from dwt.bench.seeds import REPORTED_SEEDS

MIXINGS = (0.2, 0.35, 0.5)


def compare(
    mixings: Sequence[float] = MIXINGS,
    seeds: Sequence[int] = REPORTED_SEEDS,
    modes: Sequence[str] = tuple(MODES),
    members: int = 400,
    echo=print,
) -> dict[str, dict[str, dict[str, float]]]:
    """``{mode: {mixing: {"before", "after", "before_worst", "after_worst", "one_cluster_
    before", "one_cluster_after"}}}``, and the table through ``echo``."""
    from sklearn.metrics import normalized_mutual_info_score

    from dwt.pipeline.spec import Clustering
    from dwt.stages.cluster import InfomapClusters

    spec = Clustering()
    settings = {
        "before": None,  # Infomap alone
        "after": spec.min_modularity_excess,
    }
    echo(f"independent weeks, {members} members, reported seeds {list(seeds)}, default spec")
    echo(f"{'mode':>17} {'mix':>5} {'before':>7} {'worst':>6} {'1-cl':>4}   "
         f"{'after':>6} {'worst':>6} {'1-cl':>4}")  # fmt: skip
    table: dict[str, dict[str, dict[str, float]]] = {}
    for mode in modes:
        for mixing in mixings:
            nmi: dict[str, list[float]] = {k: [] for k in settings}
            single = dict.fromkeys(settings, 0)
            for seed in seeds:
                bonds, silent, planted, speaking = mode_week(mixing, seed, mode, members=members)
                for name, min_excess in settings.items():
                    model = InfomapClusters(
                        trials=spec.trials,
                        seed=spec.seed,
                        directed=spec.directed,
                        weight_transform=spec.weight_transform,
                        prefer_modular=spec.prefer_modular,
                        min_excess=min_excess,
                    ).fit(bonds, silent=silent)
                    labels = model.labels_[speaking]
                    nmi[name].append(normalized_mutual_info_score(planted[speaking], labels))
                    single[name] += model.n_clusters_ <= 1
            row = {
                **{k: round(statistics.mean(v), 4) for k, v in nmi.items()},
                **{f"{k}_worst": round(min(v), 4) for k, v in nmi.items()},
                **{f"one_cluster_{k}": float(v) for k, v in single.items()},
            }
            table.setdefault(mode, {})[f"{mixing:g}"] = row
            echo(
                f"{mode:>17} {mixing:>5.2f} {row['before']:>7.3f} {row['before_worst']:>6.3f} "
                f"{single['before']:>4}   {row['after']:>6.3f} {row['after_worst']:>6.3f} "
                f"{single['after']:>4}"
            )
    return table


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dwt.bench.structure_check", description=__doc__
    )
    parser.add_argument("--mixings", type=float, nargs="+", default=MIXINGS)
    parser.add_argument("--modes", nargs="+", choices=tuple(MODES), default=tuple(MODES))
    parser.add_argument("--members", type=int, default=400)
    args = parser.parse_args(argv)
    compare(args.mixings, modes=args.modes, members=args.members)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
