"""The 2020 prototype's bond rule, written the way it was: the baseline of ``dwt bench insights``.

Per member u, a pure-Python loop over u's tweets and, for each tweet, over every other
member v: v gains the base weight on u→v if v follows u, and the weight of the tweet's kind
if the tweet is directed at v. Dicts and sets only, no numpy: its cost is
(u's tweets) × (members) per author, which is what MISSION.md calls the quadratic loop
this product must not repeat. It stays here as a reference: the bonds stage must give the
same numbers, much faster. :func:`plain_row` is the fair baseline beside it: the same rule
as the plain per-author loop a person would write first (u's followers once, then each
tweet's targets), linear in the author's tweets and followers.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import scipy.sparse as sp

from dwt.stages.weights import BondWeights


@dataclass(frozen=True, slots=True)
class OriginalWeek:
    """The week as the prototype held it: tweets per author, followers per member."""

    members: list[str]
    tweets: dict[str, list[tuple[str | None, frozenset[str]]]]  # author → (kind, directed at)
    followers: dict[str, set[str]]  # u → members following u

    @classmethod
    def from_tables(
        cls, members: Sequence[str] | pa.Array, interactions: pa.Table, follows: pa.Table
    ) -> OriginalWeek:
        """Python dicts from the stages' tables (not part of the timed loop)."""
        ids = members.to_pylist() if isinstance(members, pa.Array) else list(members)
        known = set(ids)
        tweets: dict[str, list[tuple[str | None, frozenset[str]]]] = {u: [] for u in ids}
        for author, kind, directed in zip(
            interactions.column("author_id").to_pylist(),
            interactions.column("kind").to_pylist(),
            interactions.column("directed_at").to_pylist(),
            strict=True,
        ):
            if author in known:
                tweets[author].append((kind, frozenset(directed or ())))
        followers: dict[str, set[str]] = {u: set() for u in ids}
        for source, target in zip(
            follows.column("source_id").to_pylist(),
            follows.column("target_id").to_pylist(),
            strict=True,
        ):
            if source in known and target in known:
                followers[target].add(source)
        return cls(members=ids, tweets=tweets, followers=followers)

    def tweet_count(self, authors: Iterable[str]) -> int:
        return sum(len(self.tweets[u]) for u in authors)


def plain_row(
    week: OriginalWeek, u: str, weights: BondWeights, known: frozenset[str]
) -> dict[str, float]:
    """The bonds u→v of one author by a plain loop (``known``: the members as a set): each
    follower gains the base weight once per tweet of u, each member a tweet is aimed at
    the weight of its kind — what :func:`original_row` gives, without its inner loop over
    every member."""
    kind_weight = weights.for_kind()
    plain = kind_weight["tweet"]
    tweets = week.tweets[u]
    row: dict[str, float] = {}
    if tweets and weights.tweet:
        base = weights.tweet * len(tweets)
        for v in week.followers[u]:
            if v != u:
                row[v] = base
    for kind, directed in tweets:
        weight = kind_weight.get(kind, plain) if kind is not None else plain
        for v in directed:
            if v != u and v in known:
                row[v] = row.get(v, 0.0) + weight
    return row


def original_row(week: OriginalWeek, u: str, weights: BondWeights) -> dict[str, float]:
    """The bonds u→v of one author, by the prototype's loop (one task per user, as it ran)."""
    kind_weight = weights.for_kind()
    plain = kind_weight["tweet"]  # unknown kinds count as plain tweets, as in the stage
    base = weights.tweet
    followers = week.followers[u]
    row: dict[str, float] = {}
    for kind, directed in week.tweets[u]:
        weight = kind_weight.get(kind, plain) if kind is not None else plain
        for v in week.members:
            if v == u:
                continue
            if v in followers:
                row[v] = row.get(v, 0.0) + base
            if v in directed:
                row[v] = row.get(v, 0.0) + weight
    return row


def rows_matrix(rows: dict[str, dict[str, float]], members: Sequence[str]) -> sp.csr_matrix:
    """The given authors' rows as an n×n sparse matrix over ``members`` (zeros dropped)."""
    index = {u: i for i, u in enumerate(members)}
    src, dst, weight = [], [], []
    for u, row in rows.items():
        for v, w in row.items():
            if w != 0:
                src.append(index[u])
                dst.append(index[v])
                weight.append(w)
    n = len(members)
    return sp.csr_matrix(
        (np.asarray(weight, dtype=np.float64), (np.asarray(src, int), np.asarray(dst, int))),
        shape=(n, n),
    )


def compare_rows(
    original: sp.csr_matrix, stage: sp.csr_matrix, rows: np.ndarray, rtol: float = 1e-12
) -> tuple[bool, float]:
    """Do the stage's ``rows`` equal the original's: same non-zero pairs, same weights?

    Equal up to floating-point summation order (the prototype adds 0.01 once per tweet,
    the stage multiplies activity by 0.01), hence ``rtol`` per weight. Returns
    (agree, largest relative difference).
    """
    keep = sp.diags(np.isin(np.arange(stage.shape[0]), rows).astype(np.float64))
    mine, theirs = ((keep @ m).tocsr() for m in (stage, original))
    for matrix in (mine, theirs):
        matrix.eliminate_zeros()
        matrix.sort_indices()
    if not (
        np.array_equal(mine.indptr, theirs.indptr) and np.array_equal(mine.indices, theirs.indices)
    ):
        return False, float("inf")
    if not mine.nnz:
        return True, 0.0
    relative = float(np.max(np.abs(mine.data - theirs.data) / np.abs(theirs.data)))
    return relative <= rtol, relative
