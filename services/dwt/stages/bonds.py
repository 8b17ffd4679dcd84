"""The bonds stage: the weighted, directed member graph of MISSION.md step 3, with sparse
matrices.

For each tweet by member u in the window, every member v following u gains
``weights.tweet`` on u→v, and every member v the tweet is directed at gains the weight of
the tweet's kind on u→v. Both parts are sparse products over index arrays:

* follow part:   diag(activity) · Fᵀ · weights.tweet, with F[v, u] = 1 when v follows u;
* directed part: one COO entry (author, target, weight of kind) per (tweet, target) pair.

Nothing loops over tweets or members in Python. Rows are independent, so the work can be
split by author shards (see :func:`shard_authors`) and the partial matrices summed.
"""

from __future__ import annotations

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

    def select_authors(self, authors: np.ndarray) -> IndexedWeek:
        """The part of the week whose tweets are by ``authors`` (a shard); follows kept."""
        mine = np.isin(self.author, authors)
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
        )


def bond_matrix(week: IndexedWeek, weights: BondWeights) -> sp.csr_matrix:
    """The n×n bond matrix (row = source u, column = target v), diagonal zero."""
    n = week.n
    activity = np.bincount(week.author, minlength=n).astype(np.float64)
    # F[v, u] = 1 when v follows u, so (diag(a) · Fᵀ)[u, v] = a[u] for each follower v of u.
    follows = sp.csr_matrix(
        (np.ones(len(week.follow_src)), (week.follow_src, week.follow_dst)), shape=(n, n)
    )
    follows.data[:] = 1.0  # a follow edge listed twice is still one follow
    total = (sp.diags(activity * weights.tweet) @ follows.T).tocsr()

    kind_weight = np.array([weights.for_kind()[k] for k in KINDS])
    directed = sp.csr_matrix(
        (
            kind_weight[week.kind[week.pair_tweet]],
            (week.author[week.pair_tweet], week.pair_target),
        ),
        shape=(n, n),
    )  # duplicate (u, v) entries are summed
    total = total + directed
    total.setdiag(0)
    total.eliminate_zeros()
    return total.tocsr()


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
