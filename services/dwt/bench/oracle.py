"""The yardstick for the clusters' NMI (issue 27): community detection on the *true*
relation graph of the same week, which the product never sees.

The product sees follows and tweets, noisy traces of who relates to whom; a generator that
plants a relation graph (the independent family's :class:`~dwt.bench.independent.world.Plan`
keeps it) says what a method could find with perfect knowledge of who relates to whom.
Two methods, so the bar is not one algorithm's quirks: Infomap (this project's own
:class:`~dwt.stages.cluster.InfomapClusters`, undirected flow, unit weights) and Leiden
(igraph's ``community_leiden``, modularity, the best of a few seeded runs). NMI is scored
over the members the product's NMI counts (those that are not silent), so
``nmi_vs_oracle`` = product NMI / Infomap-on-the-true-graph NMI compares like with like.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from sklearn.metrics import normalized_mutual_info_score

from dwt.stages.cluster import InfomapClusters

#: Leiden runs per graph (the best modularity wins), as Infomap keeps its best trial.
LEIDEN_TRIALS = 5


@dataclass(frozen=True)
class OracleScores:
    """NMI of Infomap and Leiden on the true relation graph against the planted truth."""

    infomap: float
    leiden: float


def relation_matrix(n: int, relations: Sequence[Sequence[int]]) -> sp.csr_matrix:
    """The symmetric unit-weight adjacency of ``relations`` (pairs of member indices)."""
    pairs = np.asarray(relations, dtype=np.int64).reshape(-1, 2)
    if len(pairs) and (pairs.min() < 0 or pairs.max() >= n):
        raise ValueError(f"relations must index members 0..{n - 1}")
    src, dst = np.r_[pairs[:, 0], pairs[:, 1]], np.r_[pairs[:, 1], pairs[:, 0]]
    matrix = sp.csr_matrix((np.ones(len(src)), (src, dst)), shape=(n, n))
    matrix.data[:] = 1.0  # a pair listed twice is one relation
    return matrix


def infomap_labels(n: int, relations: Sequence[Sequence[int]], seed: int = 42) -> np.ndarray:
    return (
        InfomapClusters(directed=False, weight_transform="none", seed=seed)
        .fit(relation_matrix(n, relations))
        .labels_
    )


def leiden_labels(n: int, relations: Sequence[Sequence[int]], seed: int = 42) -> np.ndarray:
    """Leiden (modularity) on the relation graph, seeded through igraph's public RNG hook."""
    import igraph

    graph = igraph.Graph(n=n, edges=[tuple(map(int, p)) for p in relations])
    graph.simplify()
    best, quality = np.zeros(n, dtype=np.int64), -np.inf
    igraph.set_random_number_generator(random.Random(seed))
    try:
        for _ in range(LEIDEN_TRIALS):
            found = graph.community_leiden(objective_function="modularity", n_iterations=-1)
            if found.modularity > quality:
                best, quality = np.asarray(found.membership, dtype=np.int64), found.modularity
    finally:
        igraph.set_random_number_generator(random)
    return best


def oracle_scores(
    community: Sequence[int],
    relations: Sequence[Sequence[int]],
    counted: np.ndarray | None = None,
    seed: int = 42,
) -> OracleScores:
    """Both methods' NMI against ``community`` over the ``counted`` members (all: None)."""
    truth = np.asarray(community)
    n = len(truth)
    keep = np.ones(n, dtype=bool) if counted is None else np.asarray(counted, dtype=bool)
    if keep.shape != (n,):
        raise ValueError(f"counted must have one entry per member ({n})")

    def nmi(labels: np.ndarray) -> float:
        return round(float(normalized_mutual_info_score(truth[keep], labels[keep])), 4)

    return OracleScores(
        infomap=nmi(infomap_labels(n, relations, seed)),
        leiden=nmi(leiden_labels(n, relations, seed)),
    )


def ratio(nmi: float | None, oracle: float | None) -> float | None:
    """``nmi / oracle`` to 4 places (None when either is missing or the oracle found nothing)."""
    if nmi is None or not oracle:
        return None
    return round(nmi / oracle, 4)
