"""The per-partition setup conversations (:mod:`dwt.stages.content`) and topics
(:mod:`dwt.stages.topics`) share: the members and their clusters, the tweets they wrote with
each author's cluster and each tweet's tier, and the window those tweets span.

One copy, so a tweet has the same cluster, tier and window in both stages (the dashboard
shows a cluster-tier's conversations beside its topics).

A tweet's *tier*: 1 within its author's cluster (or directed at nobody), 2 with members of
other clusters, 3 with accounts outside the community (a tweet directed at several kinds of
accounts takes the widest tier).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dwt.stages.columns import ints, window_of

TIER_WITHIN, TIER_ACROSS, TIER_OUTSIDE = 1, 2, 3
_OUTSIDER = -2  # cluster code of an account that is not a member


@dataclass(frozen=True)
class MemberTweets:
    """The rows of an interactions table written by members: ``author`` (each row's author,
    an index into the members), ``cluster`` (that author's cluster), ``tier`` (int8)."""

    table: pa.Table
    author: np.ndarray
    cluster: np.ndarray
    tier: np.ndarray

    def window(self, given: tuple[datetime, datetime] | None = None) -> tuple[datetime, datetime]:
        """``given``, else the window these tweets span (`window_of`)."""
        return given or window_of(self.table.column("created_at"))


@dataclass(frozen=True)
class Members:
    """One partition's members (``ids``) and their clusters (``labels``, int64)."""

    ids: pa.Array
    labels: np.ndarray

    @classmethod
    def of(cls, members: Sequence[str] | pa.Array, labels: np.ndarray) -> Members:
        """The members as an Arrow string array and their clusters as int64, checked to
        match (a stage fed labels of another member list would silently mislabel everyone)."""
        ids = pa.array(members, pa.string())
        labels = np.asarray(labels, dtype=np.int64)
        if labels.shape != (len(ids),):
            raise ValueError(f"labels must have one entry per member ({len(ids)})")
        return cls(ids, labels)

    def tweets(self, interactions: pa.Table, keep: pa.ChunkedArray | None = None) -> MemberTweets:
        """The rows of ``interactions`` written by these members (and, given ``keep``, a
        boolean column of it, where it is true), with their authors, clusters and tiers."""
        author = pc.index_in(interactions.column("author_id"), value_set=self.ids)
        mask = pc.is_valid(author) if keep is None else pc.and_(pc.is_valid(author), keep)
        table = interactions.filter(mask)
        index = ints(pc.drop_null(author.filter(mask))) if table.num_rows else np.zeros(0, np.int64)
        cluster = self.labels[index]
        return MemberTweets(table, index, cluster, self._tiers(table, cluster))

    def _tiers(self, table: pa.Table, cluster: np.ndarray) -> np.ndarray:
        """Each tweet's tier (module doc); ``cluster`` is its author's."""
        directed = pa.chunked_array(table.column("directed_at")).combine_chunks()
        pair_tweet = ints(pc.list_parent_indices(directed))
        target = pc.index_in(pc.list_flatten(directed), value_set=self.ids)
        target_cluster = np.where(
            pc.is_valid(target).to_numpy(zero_copy_only=False),
            self.labels[ints(pc.fill_null(target, 0))] if len(self.labels) else _OUTSIDER,
            _OUTSIDER,
        )
        pair_tier = np.where(
            target_cluster == _OUTSIDER,
            TIER_OUTSIDE,
            np.where(target_cluster == cluster[pair_tweet], TIER_WITHIN, TIER_ACROSS),
        )
        tier = np.full(table.num_rows, TIER_WITHIN, dtype=np.int8)
        np.maximum.at(tier, pair_tweet, pair_tier.astype(np.int8))
        return tier
