"""Stable cluster identities across weeks: this week's clusters renumbered to last week's.

Infomap numbers its modules by size every run, so "cluster 5" is whatever happens to be
the sixth largest this week. :class:`ClusterMatcher` maps this week's clusters onto last
week's, member by member:

1. the contingency table ``C[i, j]`` = members in old cluster ``i`` and new cluster ``j``
   (a sparse matrix over the members clustered in both weeks);
2. the similarity of each pair, Jaccard by default (``|i ∩ j| / |i ∪ j|``, sizes counted
   over all members clustered that week) or overlap (``|i ∩ j| / min(|i|, |j|)``);
3. one-to-one matching by maximum total similarity (``linear_sum_assignment``); a matched
   pair under ``min_similarity`` counts as unmatched;
4. a matched new cluster takes the old id; unmatched ones get fresh ids above the largest
   id seen last week, largest first (ties: by first member). Negative labels (the
   isolated, :data:`dwt.stages.cluster.ISOLATED`) stay as they are.

Each new cluster is described by one ``change`` (first rule that applies):

* ``merged`` — at least two old clusters each sent a significant share of their members
  into it (at least ``min_share`` of the old cluster and ``min_members`` members);
* ``split`` — it holds a significant share of exactly one old cluster, which also sent a
  significant share into another new cluster (the matched piece keeps the old id, the
  others get new ids);
* ``grew`` / ``shrank`` / ``kept`` — matched; its size changed by more than ``tolerance``
  (relative to the old size), or not;
* ``new`` — nothing above.

Old clusters without a match are ``gone`` (``gone_``: their ids; where their members went
shows in the ``previous`` lists of the clusters that received them).

Last week's labels are what the members carry now: members who left the community since
are not counted, members added since have no old cluster (pass a negative label).
"""

from __future__ import annotations

from typing import Self

import numpy as np
import pyarrow as pa
import scipy.sparse as sp
from scipy.optimize import linear_sum_assignment
from sklearn.base import BaseEstimator

CHANGES = ("kept", "grew", "shrank", "split", "merged", "new")

CHANGES_SCHEMA = pa.schema(
    [
        ("cluster", pa.int64()),  # the stable id
        ("change", pa.string()),  # one of CHANGES
        ("size", pa.int64()),
        ("size_before", pa.int64()),  # the matched old cluster's size; null when unmatched
        ("previous", pa.list_(pa.int64())),  # old clusters that sent a significant share
        ("similarity", pa.float64()),  # with the matched old cluster; null when unmatched
    ]
)

SIMILARITIES = ("jaccard", "overlap")


class ClusterMatcher(BaseEstimator):
    """Estimator-style matching of this week's clusters to last week's.

    Parameters: ``similarity`` (``jaccard`` or ``overlap``), ``min_similarity`` (a matched
    pair below it is left unmatched), ``min_share`` (the share of an old cluster's members
    that makes its overlap with a new cluster significant, for ``split`` and ``merged``),
    ``min_members`` (and the fewest members: one member moving is never a split or merge),
    ``tolerance`` (relative size change still reported as ``kept``).

    ``fit(previous, current)`` takes two label arrays aligned by member (negative: no
    cluster that week). Fitted attributes: ``labels_`` (``current`` renumbered),
    ``mapping_`` (dict: this week's raw cluster → stable id; ``stable_`` the same as an
    array over ``new_ids_``), ``changes_`` (a table of :data:`CHANGES_SCHEMA`, one row per
    cluster, by stable id), ``gone_`` (old ids without a match), ``contingency_`` (sparse
    old × new member counts, rows and columns as ``old_ids_`` and ``new_ids_``).
    Deterministic: no randomness; the stable ids do not depend on the raw numbering of
    ``current`` (fresh ids go by size, then first member).
    """

    def __init__(
        self,
        similarity: str = "jaccard",
        min_similarity: float = 0.1,
        min_share: float = 0.2,
        min_members: int = 2,
        tolerance: float = 0.1,
    ) -> None:
        self.similarity = similarity
        self.min_similarity = min_similarity
        self.min_share = min_share
        self.min_members = min_members
        self.tolerance = tolerance

    def _check_params(self) -> None:
        """ValueError for a parameter matching cannot run with (checked at fit)."""
        similarity, min_members = self.similarity, self.min_members
        min_similarity, min_share, tolerance = self.min_similarity, self.min_share, self.tolerance
        if min_members < 1:
            raise ValueError(f"min_members must be >= 1, got {min_members}")
        if similarity not in SIMILARITIES:
            raise ValueError(f"similarity must be one of {', '.join(SIMILARITIES)}")
        for name, value in (
            ("min_similarity", min_similarity),
            ("min_share", min_share),
            ("tolerance", tolerance),
        ):
            if not 0 <= value <= 1:
                raise ValueError(f"{name} must be in [0, 1], got {value}")

    def fit(self, previous: np.ndarray, current: np.ndarray) -> Self:
        self._check_params()
        previous = np.asarray(previous, dtype=np.int64)
        current = np.asarray(current, dtype=np.int64)
        if previous.shape != current.shape or previous.ndim != 1:
            raise ValueError(
                f"previous and current must be 1-d and aligned, got {previous.shape} "
                f"and {current.shape}"
            )
        old_ids, old_of, old_size, _ = _index(previous)
        new_ids, new_of, new_size, new_first = _index(current)
        both = (old_of >= 0) & (new_of >= 0)
        table = sp.coo_matrix(
            (np.ones(int(both.sum()), dtype=np.int64), (old_of[both], new_of[both])),
            shape=(len(old_ids), len(new_ids)),
        ).tocsr()  # duplicates summed
        coo = table.tocoo()
        inter = coo.data.astype(np.float64)
        if self.similarity == "jaccard":
            score = inter / (old_size[coo.row] + new_size[coo.col] - inter)
        else:
            score = inter / np.minimum(old_size[coo.row], new_size[coo.col])
        # The assignment only over clusters that overlap at all (the rest cannot match).
        touched_old, row_in = np.unique(coo.row, return_inverse=True)
        touched_new, col_in = np.unique(coo.col, return_inverse=True)
        dense = np.zeros((len(touched_old), len(touched_new)))
        dense[row_in.reshape(-1), col_in.reshape(-1)] = score
        rows, cols = linear_sum_assignment(dense, maximize=True)
        similarity = dense[rows, cols]
        ok = similarity >= max(self.min_similarity, np.finfo(float).tiny)
        rows, cols, similarity = touched_old[rows[ok]], touched_new[cols[ok]], similarity[ok]
        matched_old = np.full(len(new_ids), -1, dtype=np.int64)
        matched_old[cols] = rows
        matched_similarity = np.zeros(len(new_ids))
        matched_similarity[cols] = similarity

        # Stable ids: the matched old id, else fresh ids above last week's largest, largest
        # cluster first (ties: the one whose first member comes first), so they do not
        # depend on this week's raw numbering either.
        fresh_base = int(old_ids.max()) + 1 if len(old_ids) else 0
        unmatched = matched_old < 0
        stable = np.empty(len(new_ids), dtype=np.int64)
        stable[~unmatched] = old_ids[matched_old[~unmatched]]
        fresh = np.flatnonzero(unmatched)
        fresh = fresh[np.lexsort((new_first[fresh], -new_size[fresh]))]
        stable[fresh] = fresh_base + np.arange(len(fresh))

        # Significant flows: a share >= min_share of the old cluster went to the new one.
        significant = (inter >= self.min_share * old_size[coo.row]) & (inter >= self.min_members)
        sig_row, sig_col = coo.row[significant], coo.col[significant]
        sources = np.bincount(sig_col, minlength=len(new_ids))
        targets = np.bincount(sig_row, minlength=len(old_ids))
        single_source = np.full(len(new_ids), -1, dtype=np.int64)
        single_source[sig_col] = sig_row  # meaningful where sources == 1
        split = (sources == 1) & (np.append(targets, 0)[single_source] >= 2)  # -1: 0

        size_before = np.append(old_size, 0)[matched_old]  # unmatched (-1): 0
        change = np.full(len(new_ids), "new", dtype=object)
        grown = new_size - size_before
        band = self.tolerance * size_before
        change[~unmatched] = "kept"
        change[~unmatched & (grown > band)] = "grew"
        change[~unmatched & (grown < -band)] = "shrank"
        change[split] = "split"
        change[sources >= 2] = "merged"

        order = np.lexsort((sig_row, sig_col))  # previous lists by new cluster, old id order
        bounds = np.searchsorted(sig_col[order], np.arange(len(new_ids) + 1))
        previous_lists = [
            np.sort(old_ids[sig_row[order][bounds[j] : bounds[j + 1]]]).tolist()
            for j in range(len(new_ids))
        ]
        by_id = np.argsort(stable, kind="stable")
        self.changes_ = pa.table(
            {
                "cluster": stable[by_id],
                "change": change[by_id].tolist(),
                "size": new_size[by_id],
                "size_before": pa.array(size_before[by_id], mask=unmatched[by_id]),
                "previous": [previous_lists[j] for j in by_id],
                "similarity": pa.array(matched_similarity[by_id], mask=unmatched[by_id]),
            },
            schema=CHANGES_SCHEMA,
        )
        self.labels_ = np.where(new_of >= 0, np.append(stable, 0)[new_of], current)
        self.stable_ = stable
        self.mapping_ = dict(zip(new_ids.tolist(), stable.tolist(), strict=True))
        gone = np.ones(len(old_ids), dtype=bool)
        gone[rows] = False
        self.gone_ = old_ids[gone]
        self.contingency_ = table
        self.old_ids_ = old_ids
        self.new_ids_ = new_ids
        return self

    def transform(self, current: np.ndarray) -> np.ndarray:
        """Renumber labels in this week's raw numbering (as given to :meth:`fit`)."""
        current = np.asarray(current, dtype=np.int64)
        clustered = current >= 0
        pos = np.searchsorted(self.new_ids_, current[clustered])
        if (pos >= len(self.new_ids_)).any() or (self.new_ids_[pos] != current[clustered]).any():
            raise ValueError("labels hold clusters the matcher was not fitted on")
        renumbered = current.copy()
        renumbered[clustered] = self.stable_[pos]
        return renumbered


def _index(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Cluster ids (ascending, non-negative only), each member's position among them (-1
    for none), each cluster's size and the index of its first member."""
    clustered = np.flatnonzero(labels >= 0)
    ids, first, inverse, sizes = np.unique(
        labels[clustered], return_index=True, return_inverse=True, return_counts=True
    )
    position = np.full(len(labels), -1, dtype=np.int64)
    position[clustered] = inverse.reshape(-1)
    return ids.astype(np.int64), position, sizes.astype(np.int64), clustered[first]
