"""The cluster stage: Infomap over the bond graph.

Directed flow, link weights = bonds, a two-level partition. Members are not weighted by
their activity: Infomap teleports to links (in proportion to their weight), where node
weights change nothing, and teleporting to nodes in proportion to activity instead lowered
NMI on the independent source (:mod:`dwt.bench.activity_flow` measures both). Raw bond
weights (the ``seed`` preset) span four orders of magnitude (0.01 per tweet for a
follower, 100 per reply), so a few heavy pairs carry the whole flow and split
communities along them; the flow therefore uses a compressed weight (square root by
default), which keeps the order of every bond. On generated communities (300 members, 6
planted, 10 seeds) this took NMI from 0.91 to 0.98; on the normalised bonds (the default)
it still helps on the independent source (0.96 against 0.86 at mixing 0.35).

Members without a bond of their own this week cannot be placed by flow: they get the
explicit cluster :data:`ISOLATED` instead of a meaningless singleton each. That covers two
kinds of member:

* members with no bond in or out at all;
* *silent* members (:func:`silent_members`): no tweet in the window and no member's tweet
  directed at them. Such a member still has in-bonds — the base weight every follower gains
  from each tweet of an account it follows — but those say only whom it follows, not that
  it took part in anything; in the flow it is a dead end that Infomap tends to leave as a
  singleton module (4–33 per run on LFR-style weeks). The estimator drops silent members
  (given as a mask to :meth:`InfomapClusters.fit`) from the flow graph, bonds in and out,
  before clustering. A member who never tweets but is replied to, mentioned, quoted or
  retweeted is *not* silent: the interaction places it with its partners.

Infomap's two-level code length can prefer one module holding everyone when the flow
mixes strongly (as at mixing 0.5 on the independent source, where it took NMI to 0 on
some weeks): a grouping that *says nothing* is never what a person browsing clusters
wants, so ``prefer_modular`` (the default) asks Infomap for the best modular solution
even when the one-module code is shorter (``--prefer-modular-solution``).

Directed flow can still find no modular partition at all on a sparse, strongly mixed week
(1 of 62 independent weeks at mixing 0.35–0.5: every trial ends in one module, NMI 0). The
estimator then clusters the undirected flow of the same bonds, and keeps that answer only
if it compresses the flow (code length below the one-module code length): on that week
11 clusters for 10 planted, NMI 0.83. ``flow_model_`` says which flow was used.

The two-level map equation has a detectability limit: on a week whose flow is mixed enough
(mixing 0.5 on the independent source with follow lists 12 weeks old), even the *planted*
partition codes the flow longer than one module, so no Infomap option finds a partition it
would keep (a Markov time below 1 shatters the week into dozens of modules). One cluster for
everyone would then be reported as if it were a finding. When Infomap's answer does not
compress the flow (one module, or a code length no shorter than one module's), the estimator
asks a second criterion whether the bonds have structure: Leiden (igraph, modularity, on the
symmetrised flow weights) finds a partition, and the bonds have structure when its
modularity exceeds that of a random graph with the same degrees and weights (a
configuration-model null, :func:`null_graph`) by at least ``min_excess``. If so, Leiden's
partition replaces one module; modules Infomap did find are kept (where both exist, Leiden's
are no closer to the planted groups on average). A structureless graph still reaches
modularity 0.2 or more (many small random groups), so modularity alone says nothing; the
excess does: on the independent source's tuning weeks (seeds
:data:`dwt.bench.seeds.TUNING_SEEDS` ``["structure"]``, 12-week-old follow lists) it is
0.06–0.09 at mixing 0.5, where Leiden recovers the planted groups (NMI 0.8), and at most
0.025 from mixing 0.63 on, where it does not (NMI ≤ 0.34); the default is the midpoint of
that gap (``python -m dwt.bench.tune`` re-derives it).
``structure_`` says which criterion found structure: ``map_equation``, ``modularity``, or
``none`` (neither did: the labels are Infomap's, usually one cluster, and the run's counts
say ``no_structure``).

Clusters are renumbered by size (0 = largest, ties by smallest member index), so results
are stable for a seed; :mod:`dwt.stages.identity` maps them onto last week's numbers.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Self

import igraph
import infomap
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp
from sklearn.base import BaseEstimator

#: The cluster of members with no bond of their own this week (none at all, or silent).
ISOLATED = -1

#: Leiden runs per graph (best modularity wins) and random graphs in the null.
LEIDEN_RUNS = 3
NULL_GRAPHS = 3
#: Modularity above the null's that counts as structure (module doc; dwt.bench.tune).
MIN_MODULARITY_EXCESS = 0.04
#: What placed the members (``structure_``).
STRUCTURES = ("map_equation", "modularity", "none")

#: How bond weights become flow weights (all keep the order of bonds).
TRANSFORMS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "sqrt": np.sqrt,
    "log1p": np.log1p,
    "none": lambda w: w,
}


class InfomapClusters(BaseEstimator):
    """Estimator-style Infomap clustering.

    Parameters: ``trials`` (Infomap restarts; the best code length wins), ``seed``,
    ``directed`` (directed flow, the default; ``False`` symmetrises the bonds),
    ``teleportation`` (probability, Infomap's default 0.15), ``weight_transform``
    (``sqrt``, ``log1p`` or ``none``: see the module doc), ``prefer_modular`` (never
    answer "one module" when a modular partition exists; see the module doc),
    ``min_excess`` (the modularity above a random graph's that makes Leiden's partition
    structure when Infomap's does not compress the flow; ``None`` turns that fallback off).

    Fitted attributes: ``labels_`` (cluster per member, :data:`ISOLATED` for members without
    bonds and for silent ones), ``flow_`` (stationary flow per member, 0 for isolated),
    ``codelength_``, ``n_clusters_`` (not counting the isolated), ``silent_`` (the silent
    mask used, all False when none was given), ``flow_model_`` (``directed``, or
    ``undirected`` when the directed flow found one module only; see the module doc),
    ``structure_`` (one of :data:`STRUCTURES`), ``modularity_excess_`` (Leiden's modularity
    minus the null's, None when Infomap's partition compressed the flow).
    """

    def __init__(
        self,
        trials: int = 10,
        seed: int = 42,
        directed: bool = True,
        teleportation: float = 0.15,
        weight_transform: str = "sqrt",
        prefer_modular: bool = True,
        min_excess: float | None = MIN_MODULARITY_EXCESS,
    ) -> None:
        self.trials = trials
        self.seed = seed
        self.directed = directed
        self.teleportation = teleportation
        self.weight_transform = weight_transform
        self.prefer_modular = prefer_modular
        self.min_excess = min_excess

    def _check_params(self) -> None:
        """ValueError for a parameter Infomap cannot run with (checked at fit, sklearn's way)."""
        weight_transform, trials, seed = self.weight_transform, self.trials, self.seed
        teleportation = self.teleportation
        if weight_transform not in TRANSFORMS:
            raise ValueError(f"weight_transform must be one of {', '.join(TRANSFORMS)}")
        if trials < 1:
            raise ValueError(f"trials must be >= 1, got {trials}")
        if isinstance(seed, bool) or not isinstance(seed, int) or not 1 <= seed <= 2**32 - 1:
            raise ValueError(f"seed must be an integer in [1, 2^32 - 1] (Infomap's), got {seed!r}")
        if not 0 < teleportation < 1:
            raise ValueError(f"teleportation must be in (0, 1), got {teleportation}")
        if self.min_excess is not None and not 0 <= self.min_excess < 1:
            raise ValueError(f"min_excess must be in [0, 1) or None, got {self.min_excess}")

    def fit(self, bonds: sp.spmatrix, *, silent: np.ndarray | None = None) -> Self:
        """Cluster the members of an n×n bond matrix (flow follows the bonds alone).

        ``silent`` (boolean, one per member; see :func:`silent_members`) marks members
        without an interaction of their own: they are left out of the flow and get
        :data:`ISOLATED`, whatever follow-only bonds they have.
        """
        self._check_params()
        sub, nodes, self.silent_ = flow_graph(bonds, silent, self.weight_transform)
        n = len(self.silent_)
        labels = np.full(n, ISOLATED, dtype=np.int64)
        flow = np.zeros(n)
        self.codelength_ = 0.0
        self.structure_ = "map_equation" if len(nodes) else "none"
        self.modularity_excess_: float | None = None
        self.flow_model_ = "directed" if self.directed else "undirected"
        if len(nodes):
            modules, node_flow, self.codelength_, one = self._run(sub, self.directed)
            if self.directed and len(nodes) > 2 and not modules.any():
                undirected = self._run(sub, directed=False)
                if undirected[0].any() and undirected[2] < undirected[3]:
                    modules, node_flow, self.codelength_, one = undirected
                    self.flow_model_ = "undirected"
            if not modules.any() or self.codelength_ >= one:
                modules = self._modularity_fallback(sub, modules)
            labels[nodes] = _renumber_by_size(modules)
            flow[nodes] = node_flow
        self.labels_ = labels
        self.flow_ = flow
        self.n_clusters_ = int(labels.max() + 1) if len(nodes) else 0
        return self

    def _modularity_fallback(self, flow: sp.csr_matrix, modules: np.ndarray) -> np.ndarray:
        """Leiden's partition in place of one module where it beats the null by
        ``min_excess`` (Infomap's modules, when it found some, are kept); sets
        ``structure_`` and ``modularity_excess_`` (module doc)."""
        self.structure_ = "none"
        if self.min_excess is None or flow.shape[0] < 3:
            return modules
        found, self.modularity_excess_ = modularity_structure(flow, self.seed)
        if self.modularity_excess_ < self.min_excess or not found.any():
            return modules
        self.structure_ = "modularity"
        return modules if modules.any() else found

    def _run(
        self, bonds: sp.csr_matrix, directed: bool
    ) -> tuple[np.ndarray, np.ndarray, float, float]:
        """Modules (from 0) and flow per node, the code length and the one-module one."""
        im = infomap.Infomap(
            two_level=True,
            directed=directed,
            num_trials=self.trials,
            seed=self.seed,
            teleportation_probability=self.teleportation,
            silent=True,
        )
        im.add_scipy_sparse_matrix(bonds, directed=directed)
        result = im.run(options=infomap.Options(prefer_modular_solution=bool(self.prefer_modular)))
        modules = np.zeros(bonds.shape[0], dtype=np.int64)
        flow = np.zeros(bonds.shape[0])
        for node in result.nodes():
            modules[node.node_id] = node.module_id
            flow[node.node_id] = node.flow
        modules -= modules.min()
        return modules, flow, float(result.codelength), float(result.one_level_codelength)


def _undirected(weights: sp.spmatrix) -> igraph.Graph:
    """The weighted undirected graph of ``weights`` (each pair's two directions summed)."""
    pairs = sp.triu(weights + weights.T, k=1).tocoo()
    graph = igraph.Graph(n=weights.shape[0], edges=np.c_[pairs.row, pairs.col].tolist())
    graph.es["weight"] = pairs.data.tolist()
    return graph


def leiden(weights: sp.spmatrix, runs: int) -> tuple[np.ndarray, float]:
    """Leiden (modularity) on the undirected ``weights``: the best of ``runs`` partitions
    and its modularity (igraph's global random generator: seed it for a repeatable answer)."""
    graph = _undirected(weights)
    best, quality = np.zeros(weights.shape[0], dtype=np.int64), -np.inf
    if not graph.ecount():  # no edge: one group, modularity 0 by convention
        return best, 0.0
    for _ in range(runs):
        found = graph.community_leiden(
            objective_function="modularity", weights="weight", n_iterations=-1
        )
        if found.modularity > quality:
            best, quality = np.asarray(found.membership, dtype=np.int64), found.modularity
    return best, float(quality)


def flow_graph(
    bonds: sp.spmatrix, silent: np.ndarray | None, transform: str
) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
    """The flow weights Infomap clusters (module doc): the bonds among members with a bond
    of their own, silent members' bonds dropped, ``transform`` applied; with the members
    kept (indices) and the silent mask. ValueError for bonds or a mask that cannot be."""
    bonds = sp.csr_matrix(bonds, dtype=np.float64)
    n = bonds.shape[0]
    if bonds.shape != (n, n):
        raise ValueError(f"bonds must be square, got {bonds.shape}")
    if bonds.nnz and (bonds.data.min() < 0 or not np.isfinite(bonds.data).all()):
        raise ValueError("bonds must be finite and non-negative")
    bonds.setdiag(0)
    bonds.eliminate_zeros()
    silent = np.zeros(n, dtype=bool) if silent is None else np.asarray(silent, dtype=bool)
    if silent.shape != (n,):
        raise ValueError(f"silent must have one entry per member ({n})")
    if silent.any():  # out of the flow graph: no bond in or out
        keep = sp.diags((~silent).astype(np.float64))
        bonds = (keep @ bonds @ keep).tocsr()
        bonds.eliminate_zeros()
    connected = (np.diff(bonds.indptr) > 0) | (np.bincount(bonds.indices, minlength=n) > 0)
    nodes = np.flatnonzero(connected)
    flow = bonds[nodes][:, nodes].tocsr()
    flow.data = TRANSFORMS[transform](flow.data)
    return flow, nodes, silent


def modularity_structure(flow: sp.spmatrix, seed: int) -> tuple[np.ndarray, float]:
    """Leiden's partition of ``flow`` (undirected) and its modularity minus the mean of
    :data:`NULL_GRAPHS` random graphs' (:func:`null_graph`), to 4 places; repeatable for a
    ``seed``."""
    rng = np.random.default_rng(seed)
    igraph.set_random_number_generator(random.Random(seed))
    try:
        found, quality = leiden(flow, LEIDEN_RUNS)
        null = [leiden(null_graph(flow, rng), LEIDEN_RUNS)[1] for _ in range(NULL_GRAPHS)]
    finally:
        igraph.set_random_number_generator(random)
    return found, round(quality - float(np.mean(null)), 4)


def null_graph(weights: sp.spmatrix, rng: np.random.Generator) -> sp.csr_matrix:
    """A random graph with the undirected ``weights``' degrees and weights (configuration
    model: edge ends shuffled and paired, the weights shuffled over the new edges; self-loops
    dropped, repeated pairs merged)."""
    pairs = sp.triu(weights + weights.T, k=1).tocoo()
    ends = rng.permutation(np.r_[pairs.row, pairs.col]).reshape(2, -1)
    weight = rng.permutation(pairs.data)
    keep = ends[0] != ends[1]
    n = weights.shape[0]
    null = sp.coo_matrix((weight[keep], (ends[0][keep], ends[1][keep])), shape=(n, n)).tocsr()
    null.sum_duplicates()
    return null


def _renumber_by_size(modules: np.ndarray) -> np.ndarray:
    """Relabel modules 0..k-1 by decreasing size, ties by first member index."""
    ids, first, inverse, counts = np.unique(
        modules, return_index=True, return_inverse=True, return_counts=True
    )
    order = np.lexsort((first, -counts))
    rank = np.empty(len(ids), dtype=np.int64)
    rank[order] = np.arange(len(ids))
    return rank[inverse]


def silent_members(members: Sequence[str] | pa.Array, interactions: pa.Table) -> np.ndarray:
    """True for each member without an interaction of its own in ``interactions``.

    A member is *silent* when it wrote none of the week's tweets and no member's tweet is
    directed at it (no mention, reply, quote or retweet by a member). Its only bonds, if
    any, are the follow-only base weights from the tweets of accounts it follows. Tweets by
    non-members and ids that are not members are ignored, as the bonds stage ignores them.
    """
    ids = pa.array(members, pa.string()) if not isinstance(members, pa.Array) else members
    if len(ids) == 0:
        return np.zeros(0, dtype=bool)
    week = interactions.select(["author_id", "directed_at"])
    by_member = week.filter(pc.is_in(week.column("author_id"), value_set=ids))
    directed = pa.chunked_array(by_member.column("directed_at")).combine_chunks()
    engaged = pa.chunked_array(
        [
            pa.chunked_array(by_member.column("author_id")).combine_chunks(),
            pc.list_flatten(directed).cast(pa.string()),
        ]
    ).combine_chunks()
    active = pc.is_in(ids, value_set=pc.unique(engaged.drop_null()))
    return ~active.to_numpy(zero_copy_only=False)
