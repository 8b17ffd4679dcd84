"""The map stage: 2-D positions of the members, computed once per analysis on the server.

The dashboard draws the bond graph with these positions as they are (a *preset* layout):
laying out thousands of nodes in the browser blocked its main thread for 10–30 s.

The map is built in two levels, so that clusters read as separate islands:

1. the *cluster graph* (one node per cluster, edges = summed bonds between clusters) is laid
   out with igraph's Fruchterman–Reingold, weighted, from seeded starting positions;
   clusters are then spread apart until no two of their discs (area ∝ members) overlap;
2. the members of each cluster are laid out on their own induced, symmetrised bond graph,
   kept to each member's :data:`MAP_DEGREE` strongest bonds (Fruchterman–Reingold again,
   igraph's grid variant on large clusters), normalised into the cluster's disc. The full
   graph made a 2,000-member cluster take minutes (DrL: 279 s at 10k members in 5
   clusters); the strongest bonds draw the same islands in seconds.

Members without a cluster (:data:`dwt.stages.cluster.ISOLATED`) have no bond to place them
by: they fill their own disc on a sunflower spiral. Everything is deterministic for a seed.
The loops run over clusters (igraph does the per-node work in C), never over members.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Self

import igraph as ig
import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator

from dwt.stages.cluster import ISOLATED

#: Bonds per member a cluster's layout keeps (its strongest; an edge stays when it is among
#: the strongest of either end).
MAP_DEGREE = 10

#: Golden angle, for the sunflower spiral of members without bonds.
_GOLDEN = np.pi * (3 - np.sqrt(5))


@contextmanager
def _igraph_seed(seed: int) -> Iterator[None]:
    """igraph draws from Python's ``random`` by default: give it a private, seeded one."""
    ig.set_random_number_generator(random.Random(seed))
    try:
        yield
    finally:
        ig.set_random_number_generator(random)


def sunflower(n: int) -> np.ndarray:
    """``n`` points spread evenly over the unit disc (Vogel's spiral), centre first."""
    k = np.arange(n, dtype=np.float64)
    radius = np.sqrt((k + 0.5) / max(n, 1))
    angle = k * _GOLDEN
    return np.column_stack([radius * np.cos(angle), radius * np.sin(angle)])


def _unit_disc(xy: np.ndarray) -> np.ndarray:
    """Centre ``xy`` on its mean and scale it so the farthest point lies on the unit circle."""
    xy = xy - xy.mean(axis=0)
    reach = np.sqrt((xy**2).sum(axis=1)).max() if len(xy) else 0.0
    return xy / reach if reach > 0 else xy


def _layout(
    n: int, rows: np.ndarray, cols: np.ndarray, weights: np.ndarray, seed: int
) -> np.ndarray:
    """Positions of a weighted undirected graph of ``n`` nodes, in the unit disc."""
    if n == 1:
        return np.zeros((1, 2))
    if len(rows) == 0:
        return sunflower(n)
    graph = ig.Graph(n=n, edges=np.column_stack([rows, cols]).tolist())
    # Bonds span 0.01..100s: compress them so that one reply does not pull like 10⁴ follows.
    w = np.log1p(weights / np.median(weights))
    start = np.random.default_rng(seed).uniform(-1, 1, size=(n, 2)) * np.sqrt(n)
    with _igraph_seed(seed):
        coords = graph.layout_fruchterman_reingold(
            weights=w.tolist(), seed=start.tolist(), niter=300
        )
    return _unit_disc(np.asarray(coords.coords, dtype=np.float64))


def strongest_bonds(matrix: sp.spmatrix, k: int) -> sp.coo_matrix:
    """Each row's ``k`` largest entries of a symmetric matrix (ties by column), kept
    symmetric: an entry stays when it is among the strongest of its row or of its column."""
    coo = sp.coo_matrix(matrix)
    order = np.lexsort((coo.col, -coo.data, coo.row))
    row = coo.row[order]
    rank = np.arange(len(row)) - np.searchsorted(row, row, side="left")
    keep = order[rank < k]
    kept = sp.coo_matrix((coo.data[keep], (coo.row[keep], coo.col[keep])), shape=coo.shape)
    return kept.maximum(kept.T).tocoo()


def _separate(centres: np.ndarray, radii: np.ndarray, gap: float) -> np.ndarray:
    """Scale the cluster layout up until no two discs overlap (``gap``: spacing between
    discs, relative to their radii); then push the rest apart, pair by pair, a few rounds."""
    k = len(centres)
    if k < 2:
        return np.zeros_like(centres)
    centres = centres - centres.mean(axis=0)
    diff = centres[:, None, :] - centres[None, :, :]
    dist = np.sqrt((diff**2).sum(axis=2))
    need = (radii[:, None] + radii[None, :]) * (1 + gap)
    iu = np.triu_indices(k, 1)
    positive = dist[iu] > 0
    if positive.any():
        # Scale to satisfy the median pair: the graph's shape is kept, islands come apart.
        centres = centres * np.median(need[iu][positive] / dist[iu][positive])
    for _ in range(50):  # resolve what scaling left overlapping (k ≤ a few hundred)
        diff = centres[:, None, :] - centres[None, :, :]
        dist = np.sqrt((diff**2).sum(axis=2))
        np.fill_diagonal(dist, np.inf)
        overlap = np.clip(need - dist, 0, None)
        np.fill_diagonal(overlap, 0)
        if not overlap.any():
            break
        safe = np.where(np.isfinite(dist) & (dist > 0), dist, 1.0)
        unit = diff / safe[:, :, None]
        unit[dist == 0] = [1.0, 0.0]  # coincident centres: push along x
        centres = centres + 0.5 * (overlap[:, :, None] * unit).sum(axis=1)
    return centres


class MapLayout(BaseEstimator):
    """Estimator-style map layout of a clustered bond graph.

    Parameters: ``seed`` (every random choice), ``scale`` (radius of a one-member disc, in
    map units; a cluster's disc has radius ``scale·√size``), ``gap`` (space between discs,
    relative to their radii).

    Fitted attributes: ``positions_`` (n×2, per member), ``clusters_`` (cluster numbers, in
    the order of the next two), ``centres_`` (k×2), ``radii_`` (k), ``cluster_weights_``
    (k×k symmetric sparse: summed bonds between clusters, zero diagonal).
    """

    def __init__(self, seed: int = 42, scale: float = 16.0, gap: float = 0.25) -> None:
        self.seed = seed
        self.scale = scale
        self.gap = gap

    def fit(self, bonds: sp.spmatrix, labels: np.ndarray) -> Self:
        """Lay out the members of an n×n bond matrix clustered by ``labels`` (one per member;
        :data:`ISOLATED` for members without a cluster)."""
        if self.scale <= 0:
            raise ValueError(f"scale must be positive, got {self.scale}")
        if self.gap < 0:
            raise ValueError(f"gap must be >= 0, got {self.gap}")
        bonds = sp.csr_matrix(bonds, dtype=np.float64)
        labels = np.asarray(labels, dtype=np.int64)
        n = len(labels)
        if bonds.shape != (n, n):
            raise ValueError(f"bonds must be {n}×{n} (one row per label), got {bonds.shape}")
        if bonds.nnz and (bonds.data.min() < 0 or not np.isfinite(bonds.data).all()):
            raise ValueError("bonds must be finite and non-negative")
        clusters, index = np.unique(labels, return_inverse=True)
        k = len(clusters)
        sizes = np.bincount(index, minlength=k)

        sym = (bonds + bonds.T).tocoo()
        off = sym.row != sym.col
        rows, cols, data = sym.row[off], sym.col[off], sym.data[off]
        crow, ccol = index[rows], index[cols]
        between = crow != ccol
        isolated = clusters == ISOLATED
        linked = between & ~isolated[crow] & ~isolated[ccol]
        weights = sp.coo_matrix((data[linked], (crow[linked], ccol[linked])), shape=(k, k)).tocsr()
        self.cluster_weights_ = weights
        self.clusters_ = clusters
        self.radii_ = self.scale * np.sqrt(sizes)

        upper = sp.triu(weights, 1).tocoo()
        centres = _layout(k, upper.row, upper.col, upper.data, self.seed) if k else np.zeros((0, 2))
        self.centres_ = _separate(centres * np.sqrt(k), self.radii_, self.gap)

        # Members, cluster by cluster: each cluster's induced graph kept to every member's
        # strongest bonds (pairs inside it, once).
        same = crow == ccol
        strong = strongest_bonds(
            sp.coo_matrix((data[same], (rows[same], cols[same])), shape=(n, n)), MAP_DEGREE
        )
        rows, cols, data = strong.row, strong.col, strong.data
        crow = index[rows]
        inside = rows < cols
        order = np.argsort(index, kind="stable")
        starts = np.searchsorted(index[order], np.arange(k))
        local = np.empty(n, dtype=np.int64)
        local[order] = np.arange(n) - np.repeat(starts, sizes)
        edge_cluster = crow[inside]
        edge_order = np.argsort(edge_cluster, kind="stable")
        edge_bounds = np.searchsorted(edge_cluster[edge_order], np.arange(k + 1))
        er, ec, ew = rows[inside][edge_order], cols[inside][edge_order], data[inside][edge_order]
        positions = np.zeros((n, 2))
        for c in range(k):
            members = order[starts[c] : starts[c] + sizes[c]]
            lo, hi = edge_bounds[c], edge_bounds[c + 1]
            if isolated[c]:
                disc = sunflower(sizes[c])
            else:
                disc = _layout(
                    int(sizes[c]), local[er[lo:hi]], local[ec[lo:hi]], ew[lo:hi], self.seed + c
                )
            positions[members] = self.centres_[c] + disc * self.radii_[c]
        self.positions_ = positions
        return self


def map_discs(layout: MapLayout) -> dict[int, dict[str, float]]:
    """Each cluster's disc on the map (centre ``x``, ``y`` and ``radius``), by cluster number:
    the fields the cluster step adds to the cluster documents."""
    return {
        int(c): {"x": round(float(x), 1), "y": round(float(y), 1), "radius": round(float(r), 1)}
        for c, (x, y), r in zip(layout.clusters_, layout.centres_, layout.radii_, strict=True)
    }
