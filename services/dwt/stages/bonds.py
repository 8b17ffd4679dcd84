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

Nothing loops over tweets or members in Python. Rows are independent once a row's inputs
are there, so the work can be split by author shards (see :func:`shard_authors`): a shard
(:meth:`IndexedWeek.select_authors`) keeps its authors' tweets and the tweets aimed at them,
computes only its own rows, and the partial matrices are summed.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Self

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp

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
    ``rows`` are the member rows this week computes (a shard's authors); None: all.
    """

    n: int
    author: np.ndarray
    kind: np.ndarray  # index into KINDS; unknown kinds count as plain tweets
    pair_tweet: np.ndarray
    pair_target: np.ndarray
    follow_src: np.ndarray
    follow_dst: np.ndarray
    rows: np.ndarray | None = None

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

    def select_authors(self, authors: np.ndarray) -> IndexedWeek:
        """The part of the week a shard of ``authors`` needs for its rows: their tweets and
        the tweets directed at them (an interaction is in both sides' rows when bonds are
        normalised); follows kept. Only the authors' rows are computed from it."""
        aimed = np.zeros(len(self.author), dtype=bool)
        aimed[self.pair_tweet[np.isin(self.pair_target, authors)]] = True
        mine = np.isin(self.author, authors) | aimed
        renumber = np.cumsum(mine) - 1
        pair_keep = mine[self.pair_tweet]
        return IndexedWeek(
            n=self.n,
            author=self.author[mine],
            kind=self.kind[mine],
            pair_tweet=renumber[self.pair_tweet[pair_keep]],
            pair_target=self.pair_target[pair_keep],
            follow_src=self.follow_src,
            follow_dst=self.follow_dst,
            rows=np.asarray(authors, dtype=np.int64),
        )


def bond_matrix(week: IndexedWeek, weights: BondWeights) -> sp.csr_matrix:
    """The n×n bond matrix (row = source u, column = target v), diagonal zero; only
    ``week.rows`` are filled when the week is a shard."""
    n = week.n
    activity = np.bincount(week.author, minlength=n).astype(np.float64)
    # F[v, u] = 1 when v follows u, so (diag(a) · Fᵀ)[u, v] = a[u] for each follower v of u.
    follows = sp.csr_matrix(
        (np.ones(len(week.follow_src)), (week.follow_src, week.follow_dst)), shape=(n, n)
    )
    follows.data[:] = 1.0  # a follow edge listed twice is still one follow
    # (diag(a) · Fᵀ)[u, v] = a[u] for each follower v of u: the base weight per tweet.
    base = (sp.diags(activity * weights.tweet) @ follows.T).tocsr()

    kind_weight = np.array([weights.for_kind()[k] for k in KINDS])
    directed = sp.csr_matrix(
        (
            kind_weight[week.kind[week.pair_tweet]],
            (week.author[week.pair_tweet], week.pair_target),
        ),
        shape=(n, n),
    )  # duplicate (u, v) entries are summed
    if weights.normalize:
        total = _normalised(follows, base, directed + directed.T, weights, week.rows)
    else:
        follow_part = base + weights.follow * follows.multiply(follows.T)
        total = (follow_part + directed).tocsr()
        total.setdiag(0)
    if week.rows is not None:
        owned = np.zeros(n)
        owned[week.rows] = 1.0
        total = sp.diags(owned) @ total
    total = sp.csr_matrix(total)
    total.eliminate_zeros()
    return total


def _normalised(
    follows: sp.csr_matrix,
    base: sp.csr_matrix,
    interactions: sp.spmatrix,
    weights: BondWeights,
    rows: np.ndarray | None,
) -> sp.csr_matrix:
    """The normalised rule's two parts, weighted by embeddedness, then mixed (module doc).

    ``follows`` F (F[v, u] = 1: v follows u); ``base`` the per-tweet base weight of the
    raw rule (zero at the defaults), added to the follow part as it is; only ``rows``
    (all when None) need be right."""
    mutual = follows.multiply(follows.T).tocsr()
    either = ((follows + follows.T) > 0).astype(np.float64).tocsr()
    either.setdiag(0)  # following oneself is no contact
    either.eliminate_zeros()
    one_way = (either - mutual).tocsr()
    follow_part = base + weights.follow * mutual
    interaction_part = sp.csr_matrix(interactions, dtype=np.float64)
    k = weights.embeddedness
    if k:
        overlap = shared_contacts(either, rows)
        follow_part = follow_part + k * (
            weights.follow * mutual.multiply(overlap)
            + weights.follow * weights.one_way * one_way.multiply(overlap)
        )
        interaction_part = interaction_part + k * interaction_part.multiply(overlap)
    return _mix(follow_part, interaction_part, weights.follow_share)


def shared_contacts(
    contacts: sp.csr_matrix, rows: np.ndarray | None = None, budget: int = 1 << 24
) -> sp.csr_matrix:
    """J[u, v] = |N(u) ∩ N(v)| / |N(u) ∪ N(v)| for every pair (u, v) that is an entry of the
    symmetric 0/1 ``contacts`` matrix (zero elsewhere), for ``rows`` only (all when None).

    Computed as (C[rows] · C) ∘ C[rows], a block of rows at a time. The work and the memory
    of a block's product grow with its two-hop paths (Σ over a row's contacts of their
    degree: a member who follows a celebrity walks the celebrity's whole neighbourhood), so
    blocks are cut at ``budget`` paths, not at a number of rows: the common-neighbour
    counts held at once stay bounded (~12 bytes a path) however dense the follow graph
    gets, and sparse rows still go in large blocks. Counts are exact in float32 (< 2²⁴).
    At 10,000 generated members (1.2 M contact pairs, Σ degree² 2·10⁸) this is ~2 s of
    the bonds step's ~6 s, and ~80 MB at its peak (row blocks of 2,048 held ~160 MB)."""
    contacts = sp.csr_matrix(contacts, dtype=np.float32)
    contacts.eliminate_zeros()
    contacts.data[:] = 1.0
    n = contacts.shape[0]
    degree = np.diff(contacts.indptr).astype(np.float64)
    if budget < 1:
        raise ValueError(f"budget must be >= 1, got {budget}")
    wanted = np.arange(n) if rows is None else np.asarray(rows, dtype=np.int64)
    if not len(wanted):
        return sp.csr_matrix((n, n))
    paths = np.cumsum(contacts[wanted] @ degree)  # two-hop paths up to each wanted row
    ends = np.searchsorted(paths, budget * np.arange(1, int(paths[-1] // budget) + 1)) + 1
    bounds = np.unique(np.concatenate([[0], ends, [len(wanted)]]).clip(0, len(wanted)))
    pieces = []
    for start, stop in itertools.pairwise(bounds):
        these = wanted[start:stop]
        mine = contacts[these]
        common = (mine @ contacts).multiply(mine).tocoo()
        u = these[common.row]
        both = common.data.astype(np.float64)
        union = degree[u] + degree[common.col] - both
        pieces.append((u, common.col, both / np.maximum(union, 1.0)))
    u, v, value = (np.concatenate(p) for p in zip(*pieces, strict=True))
    overlap = sp.csr_matrix((value, (u, v)), shape=(n, n))
    overlap.setdiag(0)
    overlap.eliminate_zeros()
    return overlap


def _mix(follows: sp.spmatrix, interactions: sp.spmatrix, follow_share: float) -> sp.csr_matrix:
    """``follow_share`` of each row from its follows, the rest from its interactions, each
    part scaled to sum 1 over the row first; a row with one part only gets it whole."""
    parts = []
    for part in (follows, interactions):
        part = sp.csr_matrix(part, dtype=np.float64)
        part.setdiag(0)
        part.eliminate_zeros()
        parts.append(part)
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


class BondGraph:
    """Estimator-style bonds: parameters in, fitted graph out.

    >>> graph = BondGraph(BondWeights()).fit(members, interactions, follows)
    >>> graph.matrix_, graph.activity_, graph.edges()
    """

    def __init__(self, weights: BondWeights | None = None) -> None:
        self.weights = weights or BondWeights()

    def fit(
        self,
        members: Sequence[str] | pa.Array,
        interactions: pa.Table,
        follows: pa.Table,
    ) -> Self:
        week = IndexedWeek.from_tables(members, interactions, follows)
        return self.fit_indexed(members, week)

    def fit_indexed(
        self,
        members: Sequence[str] | pa.Array,
        week: IndexedWeek,
        matrix: sp.spmatrix | None = None,
    ) -> Self:
        """Fit from an indexed week, or adopt a ``matrix`` summed from shard results."""
        self.members_ = pa.array(members, pa.string())
        self.activity_ = np.bincount(week.author, minlength=week.n)
        self.matrix_ = bond_matrix(week, self.weights) if matrix is None else sp.csr_matrix(matrix)
        # Canonical form: a matrix summed from shards or built in one go stores the same
        # adjacency lists, in the same order.
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
