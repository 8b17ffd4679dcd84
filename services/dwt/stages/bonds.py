"""The bonds stage: the weighted, directed member graph of MISSION.md step 3, with sparse
matrices.

Raw rule (``weights.normalize`` false, the prototype's): for each tweet by member u in the
window, every member v following u gains ``weights.tweet`` on u→v, and every member v the
tweet is directed at gains the weight of the tweet's kind on u→v; a mutual follow adds
``weights.follow``. All parts are sparse products over index arrays:

* follow part:   diag(activity) · Fᵀ · weights.tweet (+ follow · (F ∘ Fᵀ)), with F[v, u] = 1
  when v follows u;
* directed part: one COO entry (author, target, weight of kind) per (tweet, target) pair.

Normalised rule (the default, see :mod:`dwt.stages.weights`): with J the Jaccard overlap
of follow neighbourhoods (:func:`shared_contacts`), M the mutual follows, O the one-way
ones (either direction) and I the interactions (directed part plus its transpose: an
interaction binds both sides),

* follow part:      follow · M ∘ (1 + k·J) + follow · one_way · k · O ∘ J;
* interaction part: I ∘ (1 + k·J),  k = ``embeddedness``;

each scaled to sum 1 per member row, then mixed ``follow_share : 1 - follow_share`` (a
member with only one of them keeps it whole). On the independent source
(:mod:`dwt.bench.independent`, noisy one-way follows) the mix alone took NMI at mixing 0.35
from 0.49 to 0.96 and at 0.5 from 0.42 to 0.80; embeddedness and one-way follows took the
0.5 case further (0.67 → 0.88 on the tuning seeds 10–12).

Nothing loops over tweets or members in Python. Every part of a member's row depends only on
that member's tweets, the tweets aimed at it and the follow graph, so the matrix is computed
a *block of rows* at a time (:func:`bond_rows`): a block gets its members' tweet counts, the
(tweet, target) pairs they wrote and the pairs aimed at them (:class:`RowInputs`), plus the
follow graph built once per run (:class:`FollowGraph`, shared read-only), and computes only
its own rows. Duplicate (source, target) pairs are summed in tweet order and every row's
sparse operations see its entries in the same order however the rows are blocked, so the
blocks stacked (:func:`stack_rows`) equal the whole matrix bit for bit — the pipeline runs
blocks as Ray tasks on large weeks and one block in-process on small ones.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Self

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp
from sklearn.base import BaseEstimator

from dwt.stages.columns import ints
from dwt.stages.weights import BondWeights

KINDS = ("tweet", "retweet", "quote", "reply")
EDGES_SCHEMA = pa.schema(
    [("source_id", pa.string()), ("target_id", pa.string()), ("weight", pa.float64())]
)


@dataclass(frozen=True, slots=True)
class IndexedWeek:
    """A week's interactions as integer arrays over a member index (the stage's input).

    ``author`` and ``kind`` have one entry per member tweet; ``pair_tweet`` / ``pair_target``
    one per (tweet, directed-at member) pair; ``follow_src`` follows ``follow_dst``.
    """

    n: int
    author: np.ndarray
    kind: np.ndarray  # index into KINDS; unknown kinds count as plain tweets
    pair_tweet: np.ndarray
    pair_target: np.ndarray
    follow_src: np.ndarray
    follow_dst: np.ndarray

    @classmethod
    def from_tables(
        cls, members: Sequence[str] | pa.Array, interactions: pa.Table, follows: pa.Table
    ) -> IndexedWeek:
        """Index member ids; tweets by non-members, pairs and follows to non-members drop out."""
        ids = pa.array(members, pa.string()) if not isinstance(members, pa.Array) else members
        if pc.count_distinct(ids).as_py() != len(ids):
            raise ValueError("member ids must be unique")
        author = pc.index_in(interactions.column("author_id"), value_set=ids)
        keep = pc.is_valid(author)
        tweets = interactions.filter(keep)
        author = ints(author.filter(keep))
        kind = pc.index_in(tweets.column("kind"), value_set=pa.array(KINDS))
        kind = ints(pc.fill_null(kind, 0))

        directed = pa.chunked_array(tweets.column("directed_at")).combine_chunks()
        pair_tweet = ints(pc.list_parent_indices(directed))
        pair_target = pc.index_in(pc.list_flatten(directed), value_set=ids)
        valid = pc.is_valid(pair_target).to_numpy(zero_copy_only=False)
        pair_tweet, pair_target = pair_tweet[valid], ints(pair_target.filter(valid))

        src = pc.index_in(follows.column("source_id"), value_set=ids)
        dst = pc.index_in(follows.column("target_id"), value_set=ids)
        both = pc.and_(pc.is_valid(src), pc.is_valid(dst))
        return cls(
            n=len(ids),
            author=author,
            kind=kind,
            pair_tweet=pair_tweet,
            pair_target=pair_target,
            follow_src=ints(src.filter(both)),
            follow_dst=ints(dst.filter(both)),
        )

    def pairs(self) -> Pairs:
        """Every (tweet, directed-at member) pair as (author, target, kind), in tweet order."""
        return Pairs(self.author[self.pair_tweet], self.pair_target, self.kind[self.pair_tweet])

    def row_inputs(self, rows: np.ndarray | None = None) -> RowInputs:
        """What the block of member ``rows`` (all when None) needs from this week."""
        rows = np.arange(self.n) if rows is None else np.asarray(rows, dtype=np.int64)
        pairs = self.pairs()
        mine = np.zeros(self.n, dtype=bool)
        mine[rows] = True
        return RowInputs(
            rows=rows,
            activity=np.bincount(self.author, minlength=self.n)[rows],
            out=pairs.take(mine[pairs.author]),
            into=pairs.take(mine[pairs.target]),
        )

    def follow_graph(self) -> FollowGraph:
        return FollowGraph.build(self.n, self.follow_src, self.follow_dst)


@dataclass(frozen=True, slots=True)
class Pairs:
    """(tweet, directed-at member) pairs: the tweet's author, the target and the tweet's
    kind (index into :data:`KINDS`), as member indices, in tweet order."""

    author: np.ndarray
    target: np.ndarray
    kind: np.ndarray

    @classmethod
    def empty(cls) -> Pairs:
        return cls(*(np.zeros(0, np.int64) for _ in range(3)))

    @classmethod
    def concat(cls, parts: Sequence[Pairs]) -> Pairs:
        if not parts:
            return cls.empty()
        return cls(*(np.concatenate(columns) for columns in zip(*parts, strict=True)))

    def __iter__(self) -> Iterator[np.ndarray]:
        """The three columns (author, target, kind)."""
        return iter((self.author, self.target, self.kind))

    def take(self, keep: np.ndarray) -> Pairs:
        return Pairs(self.author[keep], self.target[keep], self.kind[keep])

    def __len__(self) -> int:
        return len(self.author)


@dataclass(frozen=True, slots=True)
class RowInputs:
    """What a block of rows needs: its members (``rows``, member indices), their tweets in
    the window (``activity``), the pairs they wrote (``out``) and the pairs aimed at them
    (``into``, by any author), each in tweet order."""

    rows: np.ndarray
    activity: np.ndarray
    out: Pairs
    into: Pairs


@dataclass(frozen=True, slots=True)
class FollowGraph:
    """The members' follow graph, built once per run and shared by every block of rows:
    ``follows`` F (F[v, u] = 1 when v follows u), ``followers`` Fᵀ, the symmetric 0/1
    ``contacts`` (F + Fᵀ > 0, no diagonal; float32) and each member's contact ``degree``."""

    n: int
    follows: sp.csr_matrix
    followers: sp.csr_matrix
    contacts: sp.csr_matrix
    degree: np.ndarray

    @classmethod
    def build(cls, n: int, src: np.ndarray, dst: np.ndarray) -> FollowGraph:
        """From follow edges (``src`` follows ``dst``, member indices; repeats count once)."""
        follows = sp.csr_matrix((np.ones(len(src)), (src, dst)), shape=(n, n))
        follows.data[:] = 1.0  # a follow edge listed twice is still one follow
        followers = follows.T.tocsr()
        contacts = sp.csr_matrix(follows + followers > 0, dtype=np.float32)
        contacts.setdiag(0)  # following oneself is no contact
        contacts.eliminate_zeros()
        contacts.sort_indices()
        degree = np.diff(contacts.indptr).astype(np.float64)
        return cls(n, follows, followers, contacts, degree)


def bond_matrix(week: IndexedWeek, weights: BondWeights) -> sp.csr_matrix:
    """The n×n bond matrix (row = source u, column = target v), diagonal zero: the whole
    week as one block of rows."""
    return bond_rows(week.row_inputs(), week.follow_graph(), weights)


def bond_rows(inputs: RowInputs, graph: FollowGraph, weights: BondWeights) -> sp.csr_matrix:
    """Rows ``inputs.rows`` of the bond matrix, as a len(rows)×n matrix (module doc)."""
    rows, n = inputs.rows, graph.n
    m = len(rows)
    follows = graph.follows[rows]  # whom each row member follows
    followers = graph.followers[rows]  # who follows each row member
    # (diag(a) · Fᵀ)[u, v] = a[u] for each follower v of u: the base weight per tweet.
    base = (sp.diags(inputs.activity.astype(np.float64) * weights.tweet) @ followers).tocsr()
    kind_weight = np.array([weights.for_kind()[k] for k in KINDS])
    local = np.full(n, -1, dtype=np.int64)
    local[rows] = np.arange(m)
    out, into = inputs.out, inputs.into
    directed = _summed(local[out.author], out.target, kind_weight[out.kind], (m, n))
    if weights.normalize:
        aimed = _summed(local[into.target], into.author, kind_weight[into.kind], (m, n))
        total = _normalised(follows, followers, base, directed + aimed, weights, graph, rows)
    else:
        follow_part = base + weights.follow * follows.multiply(followers)
        total = _without_self((follow_part + directed).tocsr(), rows)
    total = sp.csr_matrix(total)
    total.eliminate_zeros()
    return total


def stack_rows(n: int, blocks: Sequence[tuple[np.ndarray, sp.csr_matrix]]) -> sp.csr_matrix:
    """The n×n matrix whose rows are the blocks' (``(rows, matrix)`` pairs); rows no block
    holds are empty."""
    if not blocks:
        return sp.csr_matrix((n, n))
    rows = np.concatenate([r for r, _ in blocks])
    stacked = sp.vstack([m for _, m in blocks], format="csr")
    where = np.full(n, len(rows), dtype=np.int64)  # one past the end: an empty row
    where[rows] = np.arange(len(rows))
    padded = sp.vstack([stacked, sp.csr_matrix((1, n))], format="csr")
    return padded[where]


def _summed(row: np.ndarray, col: np.ndarray, weight: np.ndarray, shape: tuple[int, int]):
    """A CSR matrix of ``weight`` at (``row``, ``col``), repeats summed in the order given
    (a stable sort keeps it), so the sums do not depend on what else the block holds."""
    order = np.lexsort((col, row))
    row, col, weight = row[order], col[order], weight[order].astype(np.float64)
    first = np.ones(len(row), dtype=bool)
    first[1:] = (row[1:] != row[:-1]) | (col[1:] != col[:-1])
    starts = np.flatnonzero(first)
    sums = np.add.reduceat(weight, starts) if len(starts) else weight
    return sp.csr_matrix((sums, (row[starts], col[starts])), shape=shape)


def _without_self(matrix: sp.csr_matrix, rows: np.ndarray) -> sp.csr_matrix:
    """``matrix`` (rows of members ``rows``) without each member's bond to itself."""
    matrix = sp.csr_matrix(matrix)
    own = np.repeat(rows, np.diff(matrix.indptr))
    matrix.data[matrix.indices == own] = 0.0
    matrix.eliminate_zeros()
    return matrix


def _normalised(
    follows: sp.csr_matrix,
    followers: sp.csr_matrix,
    base: sp.csr_matrix,
    interactions: sp.spmatrix,
    weights: BondWeights,
    graph: FollowGraph,
    rows: np.ndarray,
) -> sp.csr_matrix:
    """The normalised rule's two parts for ``rows``, weighted by embeddedness, then mixed
    (module doc). ``follows`` / ``followers``: the rows of F and Fᵀ; ``base`` the per-tweet
    base weight of the raw rule (zero at the defaults), added to the follow part as is."""
    mutual = follows.multiply(followers).tocsr()
    either = sp.csr_matrix(graph.contacts[rows], dtype=np.float64)
    one_way = (either - mutual).tocsr()
    follow_part = base + weights.follow * mutual
    interaction_part = sp.csr_matrix(interactions, dtype=np.float64)
    k = weights.embeddedness
    if k:
        overlap = shared_contact_rows(graph.contacts, graph.degree, rows)
        follow_part = follow_part + k * (
            weights.follow * mutual.multiply(overlap)
            + weights.follow * weights.one_way * one_way.multiply(overlap)
        )
        interaction_part = interaction_part + k * interaction_part.multiply(overlap)
    return _mix(follow_part, interaction_part, weights.follow_share, rows)


def shared_contacts(
    contacts: sp.csr_matrix, rows: np.ndarray | None = None, budget: int = 1 << 24
) -> sp.csr_matrix:
    """J[u, v] = |N(u) ∩ N(v)| / |N(u) ∪ N(v)| for every pair (u, v) that is an entry of the
    symmetric 0/1 ``contacts`` matrix (zero elsewhere), for ``rows`` only (all when None),
    as an n×n matrix (see :func:`shared_contact_rows`)."""
    contacts = sp.csr_matrix(contacts, dtype=np.float32)
    contacts.eliminate_zeros()
    contacts.data[:] = 1.0
    n = contacts.shape[0]
    wanted = np.arange(n) if rows is None else np.asarray(rows, dtype=np.int64)
    degree = np.diff(contacts.indptr).astype(np.float64)
    part = shared_contact_rows(contacts, degree, wanted, budget).tocoo()
    return sp.csr_matrix((part.data, (wanted[part.row], part.col)), shape=(n, n))


def shared_contact_rows(
    contacts: sp.csr_matrix, degree: np.ndarray, rows: np.ndarray, budget: int = 1 << 24
) -> sp.csr_matrix:
    """The rows ``rows`` of J (see :func:`shared_contacts`) as a len(rows)×n matrix, from
    the 0/1 float32 ``contacts`` (no diagonal) and their ``degree``.

    Computed as (C[rows] · C) ∘ C[rows], a block of rows at a time. The work and the memory
    of a block's product grow with its two-hop paths (Σ over a row's contacts of their
    degree: a member who follows a celebrity walks the celebrity's whole neighbourhood), so
    blocks are cut at ``budget`` paths, not at a number of rows: the common-neighbour
    counts held at once stay bounded (~12 bytes a path) however dense the follow graph
    gets, and sparse rows still go in large blocks. Counts are exact in float32 (< 2²⁴),
    and each row's product is computed alone, so a row's values do not depend on the
    blocks. At 10,000 generated members (1.2 M contact pairs, Σ degree² 2·10⁸) this is
    ~2 s of the bonds step's ~6 s, and ~80 MB at its peak (row blocks of 2,048 held
    ~160 MB)."""
    if budget < 1:
        raise ValueError(f"budget must be >= 1, got {budget}")
    n = contacts.shape[0]
    wanted = np.asarray(rows, dtype=np.int64)
    if not len(wanted):
        return sp.csr_matrix((0, n))
    paths = np.cumsum(contacts[wanted] @ degree)  # two-hop paths up to each wanted row
    ends = np.searchsorted(paths, budget * np.arange(1, int(paths[-1] // budget) + 1)) + 1
    bounds = np.unique(np.concatenate([[0], ends, [len(wanted)]]).clip(0, len(wanted)))
    pieces = [(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0))]
    for start, stop in itertools.pairwise(bounds):
        these = wanted[start:stop]
        mine = contacts[these]
        common = (mine @ contacts).multiply(mine).tocoo()
        both = common.data.astype(np.float64)
        union = degree[these[common.row]] + degree[common.col] - both
        pieces.append((common.row + start, common.col, both / np.maximum(union, 1.0)))
    local, v, value = (np.concatenate(p) for p in zip(*pieces, strict=True))
    keep = (wanted[local] != v) & (value != 0)
    return sp.csr_matrix((value[keep], (local[keep], v[keep])), shape=(len(wanted), n))


def _mix(
    follows: sp.spmatrix, interactions: sp.spmatrix, follow_share: float, rows: np.ndarray
) -> sp.csr_matrix:
    """``follow_share`` of each row from its follows, the rest from its interactions, each
    part scaled to sum 1 over the row first; a row with one part only gets it whole."""
    parts = [
        _without_self(sp.csr_matrix(part, dtype=np.float64), rows)
        for part in (follows, interactions)
    ]
    sums = [np.asarray(p.sum(axis=1), dtype=np.float64).ravel() for p in parts]
    share = np.array([follow_share, 1.0 - follow_share])[:, None] * np.array(
        [s > 0 for s in sums], dtype=np.float64
    )
    share_total = share.sum(axis=0)
    share = np.divide(share, share_total, out=np.zeros_like(share), where=share_total > 0)
    scale = [np.divide(share[i], s, out=np.zeros_like(s), where=s > 0) for i, s in enumerate(sums)]
    return (sp.diags(scale[0]) @ parts[0] + sp.diags(scale[1]) @ parts[1]).tocsr()


def shard_authors(n: int, shards: int) -> list[np.ndarray]:
    """Split member indices ``0..n-1`` into ``shards`` interleaved groups (balanced when
    activity is heavy-tailed and members are in arbitrary order)."""
    if shards < 1:
        raise ValueError(f"shards must be >= 1, got {shards}")
    return [np.arange(i, n, shards) for i in range(min(shards, max(n, 1)))]


class BondGraph(BaseEstimator):
    """Estimator-style bonds: parameters in, fitted graph out.

    >>> graph = BondGraph(BondWeights()).fit(members, interactions, follows)
    >>> graph.matrix_, graph.activity_, graph.edges()
    """

    def __init__(self, weights: BondWeights | None = None) -> None:
        self.weights = weights  # None: the default BondWeights()

    def fit(
        self,
        members: Sequence[str] | pa.Array,
        interactions: pa.Table,
        follows: pa.Table,
    ) -> Self:
        week = IndexedWeek.from_tables(members, interactions, follows)
        return self.fit_indexed(members, week)

    def fit_indexed(self, members: Sequence[str] | pa.Array, week: IndexedWeek) -> Self:
        """Fit from an already indexed week."""
        weights = BondWeights() if self.weights is None else self.weights
        if not isinstance(weights, BondWeights):
            raise ValueError(f"weights must be BondWeights or None, got {type(weights).__name__}")
        self.members_ = pa.array(members, pa.string())
        self.activity_ = np.bincount(week.author, minlength=week.n)
        self.matrix_ = bond_matrix(week, weights)
        # Canonical form: the same adjacency lists, in the same order, however it was built.
        self.matrix_.sum_duplicates()
        self.matrix_.sort_indices()
        return self

    def edges(self) -> pa.Table:
        """Non-zero bonds as a table (source_id, target_id, weight), sorted by source, target."""
        coo = self.matrix_.tocoo()
        order = np.lexsort((coo.col, coo.row))
        ids = self.members_
        return pa.table(
            {
                "source_id": ids.take(pa.array(coo.row[order])),
                "target_id": ids.take(pa.array(coo.col[order])),
                "weight": pa.array(coo.data[order], pa.float64()),
            },
            schema=EDGES_SCHEMA,
        )
