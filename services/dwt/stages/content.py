"""The content stage: what each cluster talks about, as ranked conversations per tier.

Every member tweet gets a *tier*: 1 within its cluster (or directed at nobody), 2 with
members of other clusters, 3 with accounts outside the community (a tweet directed at
several kinds of accounts takes the widest tier). Tweets are grouped into conversations:

* by the API's ``conversation_id``; a retweet joins the conversation of the tweet it
  retweets (or, when that tweet is not in the week, groups with the other retweets of it);
* tweets without a conversation id are grouped with DBSCAN over sparse token features
  (participants, hashtags, time bucket) within their cluster; noise stays a singleton.

A *conversation slice* is one conversation's tweets by one cluster's members at one tier:
the unit the dashboard browses ("cluster c, tier t"). Slices are ranked trending first,
then by size, engagement and start.

Trending keeps MISSION.md step 5's test — a time bucket is hot when its count exceeds
mean + k·std over all buckets of the window, per cluster and tier — but counts conversation
*activity* (tweets joining conversations) rather than conversation starts, and a
conversation trends when at least ``trend_min`` of its tweets fall in hot buckets. A burst
is one conversation drawing many replies in an hour or two, which a count of starts barely
sees while the daily rhythm makes every busy hour look hot: on generated weeks (4 seeds,
300 members) counting starts flagged ~450 slices a week with 11% precision; this rule
flags ~6 with 84%, finding every planted burst.
Related slices in a cluster (same participants, hashtags, time, or a quote of the same
conversation) share a ``related`` group, found with DBSCAN over the same sparse features.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Self

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp
from sklearn.cluster import DBSCAN
from sklearn.feature_extraction.text import TfidfTransformer

from dwt.stages.columns import ints

TIER_WITHIN, TIER_ACROSS, TIER_OUTSIDE = 1, 2, 3
_OUTSIDER = -2  # cluster code of an account that is not a member

TWEETS_SCHEMA = pa.schema(
    [
        ("tweet_id", pa.string()),
        ("author_id", pa.string()),
        ("cluster", pa.int64()),
        ("tier", pa.int8()),
        ("conversation_id", pa.string()),
        ("created_at", pa.timestamp("ms", tz="UTC")),
        ("engagement", pa.int64()),
    ]
)
CONVERSATIONS_SCHEMA = pa.schema(
    [
        ("cluster", pa.int64()),
        ("tier", pa.int8()),
        ("conversation_id", pa.string()),
        ("tweet_ids", pa.list_(pa.string())),
        ("size", pa.int64()),
        ("participants", pa.int64()),
        ("engagement", pa.int64()),
        ("started_at", pa.timestamp("ms", tz="UTC")),
        ("last_at", pa.timestamp("ms", tz="UTC")),
        ("trending", pa.bool_()),
        ("related", pa.int64()),  # related group within the cluster; -1 when none
        ("rank", pa.int64()),  # 0 = first to show, within (cluster, tier)
    ]
)


class ContentFinder:
    """Estimator-style content discovery.

    Parameters: ``bucket`` (trend time bucket), ``trend_sigma`` (k in mean + k·std),
    ``trend_min`` (the fewest tweets a hot bucket holds, and the fewest a conversation
    needs in hot buckets to trend: in a quiet week one tweet is already "2σ above" the
    empty hours),
    ``eps`` / ``min_samples`` (DBSCAN, cosine distance over TF-IDF token features),
    ``related_top`` (how many of each cluster's largest slices are compared for
    relatedness: DBSCAN is quadratic, the dashboard shows the top ones).

    Fitted: ``tweets_`` (TWEETS_SCHEMA), ``conversations_`` (CONVERSATIONS_SCHEMA),
    ``buckets_`` (per cluster, tier and bucket: tweets in conversations, hot or not),
    ``window_`` (start, end).
    """

    def __init__(
        self,
        bucket: timedelta = timedelta(hours=1),
        trend_sigma: float = 2.0,
        trend_min: int = 5,
        eps: float = 0.5,
        min_samples: int = 2,
        related_top: int = 500,
    ) -> None:
        if bucket <= timedelta(0):
            raise ValueError(f"bucket must be positive, got {bucket}")
        if trend_sigma < 0:
            raise ValueError(f"trend_sigma must be >= 0, got {trend_sigma}")
        if not 0 < eps <= 1 or min_samples < 1 or related_top < 0:
            raise ValueError("need 0 < eps <= 1, min_samples >= 1 and related_top >= 0")
        self.bucket = bucket
        self.trend_sigma = trend_sigma
        self.trend_min = trend_min
        self.eps = eps
        self.min_samples = min_samples
        self.related_top = related_top

    def fit(
        self,
        interactions: pa.Table,
        members: Sequence[str] | pa.Array,
        labels: np.ndarray,
        window: tuple[datetime, datetime] | None = None,
    ) -> Self:
        """Tier, group and rank the member tweets of ``interactions``.

        ``labels`` is the cluster of each member (same order as ``members``).
        """
        ids = pa.array(members, pa.string())
        labels = np.asarray(labels, dtype=np.int64)
        if labels.shape != (len(ids),):
            raise ValueError(f"labels must have one entry per member ({len(ids)})")
        author = pc.index_in(interactions.column("author_id"), value_set=ids)
        week = interactions.filter(pc.is_valid(author))
        author = ints(author.drop_null())
        cluster = labels[author]
        tier = _tiers(week, ids, labels, cluster)
        self.window_ = window or _span(week.column("created_at"))
        conversation = self._conversations(week, cluster)
        self.tweets_ = pa.table(
            {
                "tweet_id": week.column("tweet_id"),
                "author_id": week.column("author_id"),
                "cluster": pa.array(cluster),
                "tier": pa.array(tier, pa.int8()),
                "conversation_id": conversation,
                "created_at": week.column("created_at"),
                "engagement": pc.fill_null(week.column("engagement"), 0),
            },
            schema=TWEETS_SCHEMA,
        )
        slices = _slices(self.tweets_)
        trending, self.buckets_ = self._trending(slices)
        slices = slices.append_column("trending", pa.array(trending))
        slices = slices.append_column("related", pa.array(self._related(slices, week)))
        self.conversations_ = _rank(slices).select(CONVERSATIONS_SCHEMA.names)
        return self

    # ---- conversations -------------------------------------------------------------------

    def _conversations(self, week: pa.Table, cluster: np.ndarray) -> pa.ChunkedArray:
        conv = week.column("conversation_id")
        # A retweet belongs to the conversation of what it retweets.
        is_rt = pc.fill_null(pc.equal(week.column("kind"), "retweet"), False)
        ref = week.column("referenced_id")
        ref_pos = pc.index_in(ref, value_set=week.column("tweet_id").combine_chunks())
        ref_conv = pc.take(conv, pc.fill_null(ref_pos, 0)) if week.num_rows else conv
        ref_conv = pc.if_else(
            pc.is_valid(ref_pos), ref_conv, pc.binary_join_element_wise("rt", ref, ":")
        )
        conv = pc.if_else(pc.and_(is_rt, pc.is_valid(ref)), ref_conv, conv)

        conv = self._from_reply_chains(week, conv, ref_pos)
        missing = np.flatnonzero(pc.is_null(conv).to_numpy(zero_copy_only=False))
        if len(missing) == 0:
            return conv
        # Rare (tweets fetched without conversation_id): near-duplicates by DBSCAN.
        tokens = _tokens(week.take(pa.array(missing)), self.bucket, self.window_[0])
        group = np.full(len(missing), -1, dtype=np.int64)
        for c in np.unique(cluster[missing]):
            rows = np.flatnonzero(cluster[missing] == c)
            group[rows] = self._dbscan(tokens[rows])
        near = np.char.add(np.char.add("near:", cluster[missing].astype(str)), ":")
        near = np.char.add(near, group.astype(str))
        own = np.char.add(
            "tweet:",
            week.column("tweet_id")
            .take(pa.array(missing))
            .to_numpy(zero_copy_only=False)
            .astype(str),
        )
        filled = pa.array(np.where(group >= 0, near, own), pa.string())
        values = conv.combine_chunks().to_numpy(zero_copy_only=False).astype(object)
        values[missing] = filled.to_numpy(zero_copy_only=False)
        return pa.chunked_array([pa.array(values, pa.string())])

    @staticmethod
    def _from_reply_chains(
        week: pa.Table, conv: pa.ChunkedArray, ref_pos: pa.ChunkedArray
    ) -> pa.ChunkedArray:
        """Fill missing conversation ids the way X defines them: a reply belongs to the
        conversation of what it replies to (followed up the chain within the week, by
        pointer jumping); replies to a tweet outside the week group by that tweet; any
        other tweet of known kind starts its own. Tweets of unknown kind stay missing."""
        if week.num_rows == 0 or conv.null_count == 0:
            return conv
        n = week.num_rows
        kind = week.column("kind")
        is_reply = pc.fill_null(pc.equal(kind, "reply"), False).to_numpy(zero_copy_only=False)
        known = pc.is_valid(kind).to_numpy(zero_copy_only=False)
        parent_of = pc.fill_null(ref_pos, -1).to_numpy(zero_copy_only=False).astype(np.int64)
        missing = pc.is_null(conv).to_numpy(zero_copy_only=False)
        up = missing & is_reply & (parent_of >= 0)
        root = np.where(up, parent_of, np.arange(n))
        for _ in range(64):  # the distance to the root halves each round
            jumped = root[root]
            if np.array_equal(jumped, root):
                break
            root = jumped
        values = conv.combine_chunks().to_numpy(zero_copy_only=False).astype(object)
        ids = week.column("tweet_id").to_numpy(zero_copy_only=False).astype(object)
        refs = week.column("referenced_id")
        has_ref = pc.is_valid(refs).to_numpy(zero_copy_only=False)
        base = values.copy()
        starts = missing & known & ~is_reply  # a non-reply starts its own conversation
        base[starts] = ids[starts]
        orphan = missing & is_reply & (parent_of < 0) & has_ref
        thread = pc.binary_join_element_wise("thread", refs, ":").to_numpy(zero_copy_only=False)
        base[orphan] = thread[orphan]
        values[missing] = base[root][missing]
        return pa.chunked_array([pa.array(values.tolist(), pa.string())])

    def _dbscan(self, features: sp.csr_matrix) -> np.ndarray:
        if features.shape[0] < max(self.min_samples, 2):
            return np.full(features.shape[0], -1)
        # Presence, not counts: a long thread repeats its tokens, a quote of it has them once.
        weighted = TfidfTransformer(sublinear_tf=True).fit_transform(features.sign())
        model = DBSCAN(
            eps=self.eps, min_samples=self.min_samples, metric="cosine", algorithm="brute"
        )
        return model.fit_predict(weighted)

    # ---- trends --------------------------------------------------------------------------

    def _trending(self, slices: pa.Table) -> tuple[np.ndarray, pa.Table]:
        tweets = self.tweets_
        start, end = self.window_
        width = self.bucket.total_seconds()
        n_buckets = max(1, int(np.ceil((end - start).total_seconds() / width)))
        posted = _seconds(tweets.column("created_at")) - start.timestamp()
        bucket = np.clip((posted // width).astype(np.int64), 0, n_buckets - 1)
        keys = np.stack([tweets.column("cluster").to_numpy(), tweets.column("tier").to_numpy()], 1)
        groups, group = (
            np.unique(keys, axis=0, return_inverse=True) if len(keys) else (keys, keys[:, 0])
        )
        group = group.reshape(-1)
        counts = np.bincount(group * n_buckets + bucket, minlength=len(groups) * n_buckets)
        counts = counts.reshape(len(groups), n_buckets).astype(np.float64)
        threshold = counts.mean(axis=1) + self.trend_sigma * counts.std(axis=1)
        hot = (counts > threshold[:, None]) & (counts >= self.trend_min)
        in_hot = hot[group, bucket] if len(group) else np.zeros(0, bool)
        per_slice = np.bincount(
            _slice_index(tweets, slices), weights=in_hot, minlength=slices.num_rows
        )
        buckets = pa.table(
            {
                "cluster": pa.array(
                    np.repeat(groups[:, 0], n_buckets) if len(groups) else [], pa.int64()
                ),
                "tier": pa.array(
                    np.repeat(groups[:, 1], n_buckets) if len(groups) else [], pa.int8()
                ),
                "bucket_start": pa.array(
                    [start + self.bucket * i for i in range(n_buckets)] * len(groups),
                    pa.timestamp("ms", tz="UTC"),
                ),
                "tweets": pa.array(counts.reshape(-1).astype(np.int64)),
                "hot": pa.array(hot.reshape(-1)),
            }
        )
        return per_slice >= self.trend_min, buckets

    # ---- related conversations -----------------------------------------------------------

    def _related(self, slices: pa.Table, week: pa.Table) -> np.ndarray:
        related = np.full(slices.num_rows, -1, dtype=np.int64)
        if self.related_top == 0 or slices.num_rows == 0:
            return related
        tweet_tokens = _tokens(week, self.bucket, self.window_[0])
        # Map each tweet to its slice, then sum token rows into slice rows.
        slice_of_tweet = _slice_index(self.tweets_, slices)
        to_slice = sp.csr_matrix(
            (np.ones(len(slice_of_tweet)), (slice_of_tweet, np.arange(len(slice_of_tweet)))),
            shape=(slices.num_rows, len(slice_of_tweet)),
        )
        features = (to_slice @ tweet_tokens).tocsr()
        cluster = slices.column("cluster").to_numpy()
        size = slices.column("size").to_numpy()
        offset = 0
        for c in np.unique(cluster):
            rows = np.flatnonzero(cluster == c)
            rows = rows[np.argsort(-size[rows], kind="stable")[: self.related_top]]
            labels = self._dbscan(features[rows])
            related[rows] = np.where(labels >= 0, labels + offset, -1)
            offset += max(int(labels.max()) + 1, 0)
        return related


# ---- helpers -------------------------------------------------------------------------------


def _seconds(times: pa.ChunkedArray) -> np.ndarray:
    return pc.cast(times, pa.int64()).to_numpy() / 1000.0


def _span(times: pa.ChunkedArray) -> tuple[datetime, datetime]:
    low, high = pc.min(times).as_py(), pc.max(times).as_py()
    if low is None:
        epoch = datetime.fromtimestamp(0).astimezone()
        return epoch, epoch
    return low, high + timedelta(milliseconds=1)


def tweet_tiers(
    week: pa.Table, ids: pa.Array, labels: np.ndarray, cluster: np.ndarray
) -> np.ndarray:
    """The tier of each tweet of ``week`` (its author's cluster is ``cluster``): the one rule
    conversations and topics (:mod:`dwt.stages.topics`) share."""
    return _tiers(week, ids, labels, cluster)


def _tiers(week: pa.Table, ids: pa.Array, labels: np.ndarray, cluster: np.ndarray) -> np.ndarray:
    directed = pa.chunked_array(week.column("directed_at")).combine_chunks()
    pair_tweet = ints(pc.list_parent_indices(directed))
    target = pc.index_in(pc.list_flatten(directed), value_set=ids)
    target_cluster = np.where(
        pc.is_valid(target).to_numpy(zero_copy_only=False),
        labels[ints(pc.fill_null(target, 0))] if len(labels) else _OUTSIDER,
        _OUTSIDER,
    )
    pair_tier = np.where(
        target_cluster == _OUTSIDER,
        TIER_OUTSIDE,
        np.where(target_cluster == cluster[pair_tweet], TIER_WITHIN, TIER_ACROSS),
    )
    tier = np.full(week.num_rows, TIER_WITHIN, dtype=np.int8)
    np.maximum.at(tier, pair_tweet, pair_tier.astype(np.int8))
    return tier


def _tokens(week: pa.Table, bucket: timedelta, start: datetime | None) -> sp.csr_matrix:
    """Tweets × tokens counts: participants (u:), hashtags (#), 6-bucket time (t:), and the
    conversation a tweet belongs to or quotes (c:)."""
    n = week.num_rows
    rows, tokens = [], []

    def add(parent: np.ndarray, values: pa.Array, prefix: str) -> None:
        keep = pc.is_valid(values).to_numpy(zero_copy_only=False)
        rows.append(parent[keep])
        tokens.append(pc.binary_join_element_wise(prefix, values.filter(keep), ":"))

    every = np.arange(n)
    add(every, week.column("author_id").combine_chunks(), "u")
    for column, prefix in (("directed_at", "u"), ("hashtags", "#")):
        values = pa.chunked_array(week.column(column)).combine_chunks()
        add(ints(pc.list_parent_indices(values)), pc.list_flatten(values), prefix)
    add(every, week.column("conversation_id").combine_chunks(), "c")
    add(every, week.column("referenced_id").combine_chunks(), "c")
    if start is not None and n:
        width = 6 * bucket.total_seconds()
        slot = (_seconds(week.column("created_at")) - start.timestamp()) // width
        add(every, pa.array(np.nan_to_num(slot, nan=-1).astype(np.int64).astype(str)), "t")
    all_rows = np.concatenate(rows) if rows else np.zeros(0, np.int64)
    codes = pc.dictionary_encode(pa.chunked_array(tokens, pa.string())).combine_chunks()
    cols = ints(codes.indices)
    return sp.csr_matrix(
        (np.ones(len(cols)), (all_rows, cols)), shape=(n, max(len(codes.dictionary), 1))
    )


def _slices(tweets: pa.Table) -> pa.Table:
    keys = ["cluster", "tier", "conversation_id"]
    ordered = tweets.sort_by([("created_at", "ascending"), ("tweet_id", "ascending")])
    return (
        ordered.group_by(keys, use_threads=False)
        .aggregate(
            [
                ("tweet_id", "list"),
                ("tweet_id", "count"),
                ("author_id", "count_distinct"),
                ("engagement", "sum"),
                ("created_at", "min"),
                ("created_at", "max"),
            ]
        )
        .rename_columns(
            [*keys, "tweet_ids", "size", "participants", "engagement", "started_at", "last_at"]
        )
    )


def _slice_index(tweets: pa.Table, slices: pa.Table) -> np.ndarray:
    key = ["cluster", "tier", "conversation_id"]
    numbered = slices.select(key).append_column("slice", pa.array(np.arange(slices.num_rows)))
    joined = (
        tweets.select(key)
        .append_column("row", pa.array(np.arange(tweets.num_rows)))
        .join(numbered, key)
        .sort_by("row")
    )
    return ints(joined.column("slice"))


def _rank(slices: pa.Table) -> pa.Table:
    ordered = slices.sort_by(
        [
            ("cluster", "ascending"),
            ("tier", "ascending"),
            ("trending", "descending"),
            ("size", "descending"),
            ("engagement", "descending"),
            ("started_at", "ascending"),
            ("conversation_id", "ascending"),
        ]
    )
    groups = np.stack([ordered.column("cluster").to_numpy(), ordered.column("tier").to_numpy()], 1)
    new_group = np.ones(len(groups), dtype=bool)
    new_group[1:] = (groups[1:] != groups[:-1]).any(axis=1)
    position = np.arange(len(groups))
    group_start = np.maximum.accumulate(np.where(new_group, position, 0))
    return ordered.append_column("rank", pa.array(position - group_start))
