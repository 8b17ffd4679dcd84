"""Does weighting members by activity help the clusters? The measurement behind
:mod:`dwt.stages.cluster` leaving activity out of the flow (issue 27).

Infomap's flow teleports to *links* in proportion to their weight unless told to teleport
to *nodes* (``to_nodes``); only then do node weights change the flow. This compares, on
independent weeks (:mod:`dwt.bench.independent`, bonds + cluster stages in process):

* ``links``: the product (teleportation to links; node weights play no part);
* ``activity``: teleportation to nodes in proportion to 1 + the member's tweets;
* ``sqrt_activity``: to nodes in proportion to 1 + the square root of its tweets.

The decision is taken on ``TUNING_SEEDS["activity_teleportation"]`` and checked on the
reported seeds (:mod:`dwt.bench.seeds`). On both, neither activity variant beat links.

    python -m dwt.bench.activity_flow [--seeds 1,2] [--mixings 0.35,0.5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections.abc import Sequence

import infomap
import numpy as np
import scipy.sparse as sp

from dwt.stages.cluster import InfomapClusters

#: Node weight (teleportation share) per member from its tweets, per variant.
VARIANTS = {
    "activity": lambda tweets: tweets + 1.0,
    "sqrt_activity": lambda tweets: np.sqrt(tweets) + 1.0,
}


class ActivityTeleportation(InfomapClusters):
    """The product's clustering with directed flow teleporting to nodes in proportion to
    ``node_weight(activity)`` (the undirected fallback is left as the product runs it)."""

    def __init__(
        self,
        activity: np.ndarray | None = None,
        variant: str = "activity",
        trials: int = 10,
        seed: int = 42,
        teleportation: float = 0.15,
        weight_transform: str = "sqrt",
        prefer_modular: bool = True,
    ) -> None:
        super().__init__(
            trials=trials,
            seed=seed,
            teleportation=teleportation,
            weight_transform=weight_transform,
            prefer_modular=prefer_modular,
        )
        self.activity = activity
        self.variant = variant

    def fit(self, bonds: sp.spmatrix, *, silent: np.ndarray | None = None) -> ActivityTeleportation:
        if self.variant not in VARIANTS:
            raise ValueError(f"variant must be one of {', '.join(VARIANTS)}")
        n = bonds.shape[0]
        activity = np.zeros(n) if self.activity is None else np.asarray(self.activity, float)
        if activity.shape != (n,):
            raise ValueError(f"activity must have one entry per member ({n})")
        # The nodes the product keeps in the flow: not silent, with a bond in or out.
        kept = sp.csr_matrix(bonds, dtype=np.float64)
        kept.setdiag(0)
        if silent is not None:
            keep = sp.diags((~np.asarray(silent, dtype=bool)).astype(np.float64))
            kept = (keep @ kept @ keep).tocsr()
        kept.eliminate_zeros()
        connected = (np.diff(kept.indptr) > 0) | (np.bincount(kept.indices, minlength=n) > 0)
        self._node_weights = VARIANTS[self.variant](activity[connected])
        return super().fit(bonds, silent=silent)

    def _run(
        self, bonds: sp.csr_matrix, directed: bool
    ) -> tuple[np.ndarray, np.ndarray, float, float]:
        if not directed:
            return super()._run(bonds, directed)
        im = infomap.Infomap(
            two_level=True,
            directed=True,
            num_trials=self.trials,
            seed=self.seed,
            teleportation_probability=self.teleportation,
            silent=True,
        )
        im.add_nodes([(i, "", float(w)) for i, w in enumerate(self._node_weights)])
        im.add_scipy_sparse_matrix(bonds, directed=True)
        options = infomap.Options(prefer_modular_solution=self.prefer_modular, to_nodes=True)
        result = im.run(options=options)
        modules, flow = np.zeros(bonds.shape[0], np.int64), np.zeros(bonds.shape[0])
        for node in result.nodes():
            modules[node.node_id] = node.module_id
            flow[node.node_id] = node.flow
        return modules - modules.min(), flow, result.codelength, result.one_level_codelength


def compare(
    seeds: Sequence[int], mixings: Sequence[float], members: int = 400
) -> dict[str, dict[str, tuple[float, float]]]:
    """Mean and worst NMI (members not silent) per mixing and variant, ``links`` first."""
    from sklearn.metrics import normalized_mutual_info_score

    from dwt.bench.independent.world import WorldConfig, generate_world
    from dwt.bench.truth import stage_inputs
    from dwt.pipeline.spec import RunSpec
    from dwt.stages.bonds import BondGraph
    from dwt.stages.cluster import silent_members

    weights = RunSpec(community="bench").weights.bond_weights()
    out: dict[str, dict[str, tuple[float, float]]] = {}
    for mixing in mixings:
        scores: dict[str, list[float]] = {"links": [], **{v: [] for v in VARIANTS}}
        for seed in seeds:
            dataset, plan = generate_world(WorldConfig(members=members, mixing=mixing, seed=seed))
            inputs = stage_inputs(dataset)
            truth = dict(zip(plan.members, plan.community, strict=True))
            ids = inputs.members.to_pylist()
            planted = np.array([truth[m] for m in ids])
            speaking = ~np.isin(ids, plan.silent)
            graph = BondGraph(weights).fit(inputs.members, inputs.interactions, inputs.follows)
            silent = silent_members(inputs.members, inputs.interactions)
            models = {"links": InfomapClusters()} | {
                v: ActivityTeleportation(graph.activity_, v) for v in VARIANTS
            }
            for name, model in models.items():
                labels = model.fit(graph.matrix_, silent=silent).labels_
                scores[name].append(
                    float(normalized_mutual_info_score(planted[speaking], labels[speaking]))
                )
        out[f"{mixing:g}"] = {
            k: (round(statistics.mean(v), 4), round(min(v), 4)) for k, v in scores.items()
        }
    return out


def main(argv: list[str]) -> int:
    from dwt.bench.seeds import REPORTED_SEEDS, TUNING_SEEDS

    parser = argparse.ArgumentParser(prog="python -m dwt.bench.activity_flow")
    parser.add_argument("--seeds", help="comma-separated; default: tuning, then reported")
    parser.add_argument("--mixings", default="0.2,0.35,0.5")
    args = parser.parse_args(argv)
    mixings = [float(m) for m in args.mixings.split(",")]
    runs = (
        [("seeds", [int(s) for s in args.seeds.split(",")])]
        if args.seeds
        else [
            ("tuning", list(TUNING_SEEDS["activity_teleportation"])),
            ("reported", list(REPORTED_SEEDS)),
        ]
    )
    for label, seeds in runs:
        print(f"{label} seeds {seeds}: NMI mean / worst by mixing")
        for mixing, row in compare(seeds, mixings).items():
            cells = "  ".join(f"{k} {m:.4f}/{w:.4f}" for k, (m, w) in row.items())
            print(f"  mixing {mixing}: {cells}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
