"""The content stage: what each cluster talks about, as ranked conversations per tier.

Every member tweet gets a *tier* (:mod:`dwt.stages.members`, the rule topics share): 1
within its cluster (or directed at nobody), 2 with members of other clusters, 3 with
accounts outside the community (a tweet directed at several kinds of accounts takes the
widest tier). Tweets are grouped into conversations:

* by the API's ``conversation_id``; a retweet joins the conversation of the tweet it
  retweets (or, when that tweet is not in the week, groups with the other retweets of it);
* tweets without a conversation id follow reply chains the way X defines conversations
  (a retweet follows what it retweets, as above; a quote starts its own); tweets of
  unknown kind are grouped with DBSCAN over sparse token features (participants,
  hashtags, time bucket) within their cluster; noise stays a singleton.

A *conversation slice* is one conversation's tweets by one cluster's members at one tier:
the unit the dashboard browses ("cluster c, tier t"). Slices are ranked trending first,
then by size, engagement and start.

A slice *trends* when its growth is unusual against its cluster-tier's own conversations
(the topics stage's test, :mod:`dwt.stages.topics`, applied to conversations): its tweets in
its fastest run of ``trend_span`` consecutive buckets, against a Poisson baseline — the
fastest run of the *other* conversations of the same cluster and tier, on average, shrunk
toward the community's by ``SHRINK`` pseudo-conversations so that a quiet tier has one at
all. It must also reach ``trend_min`` tweets from ``trend_members`` distinct authors and
``TREND_RATIO`` times its baseline. A burst is one conversation drawing many replies in an
hour or two, while an ordinary one grows by a tweet or two at its fastest, busy cluster or
not. MISSION.md step 5's first cut (hot hours at mean + k·std of the cluster-tier's
activity, a conversation trending with ``trend_min`` tweets in them) flagged every modest
conversation that happened to fall in a busy hour: 24 of 35 trending slices were planted
bursts on the independent source; this rule flags only planted bursts there (24 of 24
on its tuning seeds, ``dwt.bench.seeds.TUNING_SEEDS["trending"]``; the report runs on
others) and 31 of 33 on ``dwt generate`` seeds 3-12. ``python -m dwt.bench.tune --only
trending`` re-derives ``trend_sigma`` on those tuning weeks (:mod:`dwt.bench.tune_trending`):
every sigma from 4.0 to 7.0 flags exactly the 24 planted bursts and 3.5 flags two slices
without one, so the weeks bound it from below only: the default is the lowest error-free
sigma plus a chosen 1σ margin (docs/quality.md has the table).

Related slices in a cluster (same participants, hashtags, time, or a quote of the same
conversation) share a ``related`` group (numbered within the cluster), found with DBSCAN over
the same sparse features.

Everything but the trend baseline's community mean is per cluster, so the stage runs on
partitions of whole clusters (:meth:`ContentFinder.prepare`, then :meth:`ContentFinder.finish`
with the community's mean fastest run: a mean of integer peaks, the same summed in any order).
A partition's tweets may point at tweets of another partition (a retweet joins the
conversation of what it retweets; a chain of replies without conversation ids is followed to
its root): those are given as ``context`` (:func:`context_needed` says which), used to
resolve conversations, never counted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Self

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp
from scipy.stats import norm
from sklearn.base import BaseEstimator
from sklearn.cluster import DBSCAN
from sklearn.feature_extraction.text import TfidfTransformer

from dwt.stages.columns import (
    ints,
    poisson_score,
    rank_within_tiers,
    seconds,
    time_buckets,
)
from dwt.stages.members import Members

#: Pseudo-conversations of the community's mean fastest run in a cluster-tier's baseline.
SHRINK = 20.0
#: The fewest times its baseline a trending slice's run holds (as topics' ``min_ratio``).
TREND_RATIO = 3.0

#: Within a cluster and tier: trending first, then the largest, most engaging, earliest.
_RANK_ORDER = (
    ("trending", "descending"),
    ("size", "descending"),
    ("engagement", "descending"),
    ("started_at", "ascending"),
    ("conversation_id", "ascending"),
)

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


@dataclass(frozen=True)
class _Runs:
    """Per (slice, run) key: the slice, the run, its tweets and distinct authors; per
    slice its fastest run's tweets (``peak``)."""

    key_slice: np.ndarray
    key_run: np.ndarray
    count: np.ndarray
    members: np.ndarray
    peak: np.ndarray


@dataclass(frozen=True)
class ContentPart:
    """One partition of whole clusters between :meth:`ContentFinder.prepare` and
    :meth:`ContentFinder.finish`: its member tweets (``week``, TWEETS_SCHEMA ``tweets``),
    conversation ``slices``, their runs, and the sum of its slices' fastest runs."""

    week: pa.Table
    tweets: pa.Table
    slices: pa.Table
    window: tuple[datetime, datetime]
    runs: _Runs
    peak_sum: float


def context_needed(tweets: pa.Table, known: pa.Array, own: bool = True) -> pa.Array:
    """The ids of tweets that resolving the conversations of ``tweets`` needs and ``known``
    lacks: what retweets retweet (``own`` tweets only: a retweet joins that conversation),
    and what replies and retweets without a conversation id point at (their chain)."""
    kind, ref = tweets.column("kind"), tweets.column("referenced_id")
    chained = pc.and_(
        pc.is_null(tweets.column("conversation_id")),
        pc.fill_null(pc.is_in(kind, pa.array(["reply", "retweet"])), False),
    )
    if own:
        chained = pc.or_(chained, pc.fill_null(pc.equal(kind, "retweet"), False))
    wanted = pc.unique(ref.filter(pc.and_(chained, pc.is_valid(ref))))
    wanted = (
        pa.chunked_array([wanted]).combine_chunks() if len(wanted) else pa.array([], pa.string())
    )
    return wanted.filter(pc.invert(pc.is_in(wanted, value_set=known)))


class ContentFinder(BaseEstimator):
    """Estimator-style content discovery.

    Parameters: ``bucket`` (trend time bucket), ``trend_sigma`` (how unusual a trending
    slice's run is, as a normal tail in σ: its Poisson tail probability is at most
    ``norm.sf(trend_sigma)``; 5σ ≈ 3e-7, small because every slice × run is tested),
    ``trend_min`` (the fewest tweets in that run), ``trend_members`` (the fewest distinct
    authors in it), ``trend_span`` (buckets per run: a burst across a bucket edge still
    falls in one run),
    ``eps`` / ``min_samples`` (DBSCAN, cosine distance over TF-IDF token features),
    ``related_top`` (how many of each cluster's largest slices are compared for
    relatedness: DBSCAN is quadratic, the dashboard shows the top ones).

    Fitted: ``tweets_`` (TWEETS_SCHEMA), ``conversations_`` (CONVERSATIONS_SCHEMA),
    ``trends_`` (per slice, in ``conversations_``' order: its fastest run's ``run_start``,
    ``count`` and ``members``, the ``baseline`` it was tested against and its ``score``,
    -log10 of the Poisson tail),
    ``window_`` (start, end).
    """

    def __init__(
        self,
        bucket: timedelta = timedelta(hours=1),
        trend_sigma: float = 5.0,
        trend_min: int = 5,
        trend_members: int = 3,
        trend_span: int = 3,
        eps: float = 0.5,
        min_samples: int = 2,
        related_top: int = 500,
    ) -> None:
        self.bucket = bucket
        self.trend_sigma = trend_sigma
        self.trend_min = trend_min
        self.trend_members = trend_members
        self.trend_span = trend_span
        self.eps = eps
        self.min_samples = min_samples
        self.related_top = related_top

    def _check_params(self) -> None:
        """ValueError for a parameter the stage cannot run with (checked at fit, sklearn's
        way: :meth:`prepare` and :meth:`finish` are fit's two halves)."""
        bucket, trend_sigma, eps = self.bucket, self.trend_sigma, self.eps
        trend_min, trend_members, trend_span = self.trend_min, self.trend_members, self.trend_span
        min_samples, related_top = self.min_samples, self.related_top
        if bucket <= timedelta(0):
            raise ValueError(f"bucket must be positive, got {bucket}")
        if trend_sigma < 0:
            raise ValueError(f"trend_sigma must be >= 0, got {trend_sigma}")
        if trend_min < 1 or trend_members < 1 or trend_span < 1:
            raise ValueError("need trend_min >= 1, trend_members >= 1 and trend_span >= 1")
        if not 0 < eps <= 1 or min_samples < 1 or related_top < 0:
            raise ValueError("need 0 < eps <= 1, min_samples >= 1 and related_top >= 0")

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
        part = self.prepare(interactions, members, labels, window)
        return self.finish(part, community_peak(part.peak_sum, part.slices.num_rows))

    def prepare(
        self,
        interactions: pa.Table,
        members: Sequence[str] | pa.Array,
        labels: np.ndarray,
        window: tuple[datetime, datetime] | None = None,
        context: pa.Table | None = None,
    ) -> ContentPart:
        """The first half of :meth:`fit` on one partition of whole clusters: tiers,
        conversations (``context``: tweets of other partitions these may point at, same
        columns), slices and each slice's fastest run. ``peak_sum`` of every partition,
        over their slices, makes the community's mean for :meth:`finish`."""
        self._check_params()
        own = Members.of(members, labels).tweets(interactions)
        week, cluster = own.table, own.cluster
        window = own.window(window)
        self.window_ = window
        conversation = self._conversations(week, cluster, context)
        tweets = pa.table(
            {
                "tweet_id": week.column("tweet_id"),
                "author_id": week.column("author_id"),
                "cluster": pa.array(cluster),
                "tier": pa.array(own.tier, pa.int8()),
                "conversation_id": conversation,
                "created_at": week.column("created_at"),
                "engagement": pc.fill_null(week.column("engagement"), 0),
            },
            schema=TWEETS_SCHEMA,
        )
        slices = _slices(tweets)
        runs = self._runs(tweets, slices, window)
        return ContentPart(week, tweets, slices, window, runs, float(runs.peak.sum()))

    def finish(self, part: ContentPart, community_peak: float) -> Self:
        """Test each slice of ``part`` for a trend against its cluster-tier's baseline
        (shrunk toward ``community_peak``, :func:`community_peak` of every partition),
        group related slices and rank: sets ``tweets_``, ``conversations_``, ``trends_``."""
        self._check_params()
        self.window_ = part.window
        self.tweets_ = part.tweets
        slices = part.slices
        trends = self._tested(slices, part.runs, community_peak)
        slices = slices.append_column("trending", trends.column("trending"))
        slices = slices.append_column("related", pa.array(self._related(slices, part.week)))
        slices = slices.append_column("slice", pa.array(np.arange(slices.num_rows)))
        ranked = rank_within_tiers(slices, _RANK_ORDER)
        self.trends_ = trends.take(ranked.column("slice"))
        self.conversations_ = ranked.select(CONVERSATIONS_SCHEMA.names)
        return self

    # ---- conversations -------------------------------------------------------------------

    def _conversations(
        self, own: pa.Table, cluster: np.ndarray, context: pa.Table | None = None
    ) -> pa.ChunkedArray:
        """Each tweet's conversation (module doc); ``context`` tweets resolve references."""
        week = own
        if context is not None and context.num_rows:
            week = pa.concat_tables([own, context.select(own.column_names).cast(own.schema)])
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

        conv = self._from_reply_chains(week, conv, ref_pos).slice(0, own.num_rows)
        week = own
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
        conversation of what it replies to, and (the product's rule) a retweet to the
        conversation of what it retweets, both followed up the chain within the week by
        pointer jumping; replies to a tweet outside the week group by that tweet (retweets
        of one already group as ``rt:<id>``); any other tweet of known kind, quotes
        included (X gives a quote its own conversation), starts its own. Tweets of unknown
        kind stay missing."""
        if week.num_rows == 0 or conv.null_count == 0:
            return conv
        n = week.num_rows
        kind = week.column("kind")
        is_reply = pc.fill_null(pc.equal(kind, "reply"), False).to_numpy(zero_copy_only=False)
        is_retweet = pc.fill_null(pc.equal(kind, "retweet"), False).to_numpy(False)
        known = pc.is_valid(kind).to_numpy(zero_copy_only=False)
        parent_of = pc.fill_null(ref_pos, -1).to_numpy(zero_copy_only=False).astype(np.int64)
        missing = pc.is_null(conv).to_numpy(zero_copy_only=False)
        up = missing & (is_reply | is_retweet) & (parent_of >= 0)
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
        starts = missing & known & ~is_reply & ~up  # the rest start their own conversation
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

    def _runs(self, tweets: pa.Table, slices: pa.Table, window: tuple[datetime, datetime]) -> _Runs:
        """Per (slice, run of ``trend_span`` buckets): its tweets and distinct authors; per
        slice its fastest run's count (``peak``). Whole-array: one key per tweet and run."""
        bucket, n_buckets = time_buckets(tweets.column("created_at"), window, self.bucket)
        width = min(self.trend_span, n_buckets)
        n_runs = n_buckets - width + 1
        # Every tweet counts in each run that covers its bucket: run r is r .. r + width - 1.
        run = np.repeat(bucket, width) - np.tile(np.arange(width), len(bucket))
        tweet = np.repeat(np.arange(len(bucket)), width)
        inside = (run >= 0) & (run < n_runs)
        run, tweet = run[inside], tweet[inside]
        key = _slice_index(tweets, slices)[tweet] * n_runs + run
        keys, count = np.unique(key, return_counts=True)
        author = ints(pc.dictionary_encode(tweets.column("author_id")).combine_chunks().indices)
        n_authors = int(author.max()) + 1 if len(author) else 1
        pairs = np.unique(key * n_authors + author[tweet])
        members = np.bincount(np.searchsorted(keys, pairs // n_authors), minlength=len(keys))
        key_slice, key_run = keys // n_runs, keys % n_runs
        peak = np.zeros(slices.num_rows)
        np.maximum.at(peak, key_slice, count)
        return _Runs(key_slice, key_run, count, members, peak)

    def _tested(self, slices: pa.Table, runs: _Runs, community_peak: float) -> pa.Table:
        """Per slice: its fastest run, the baseline and score of the test, and whether it
        trends (see the module doc)."""
        key_slice, key_run, count, members = runs.key_slice, runs.key_run, runs.count, runs.members
        n = slices.num_rows
        baseline = _peak_baseline(slices, runs.peak, community_peak)[key_slice]
        score = poisson_score(count, baseline)
        passed = (
            (count >= self.trend_min)
            & (members >= self.trend_members)
            & (count >= TREND_RATIO * baseline)
            & (score >= -norm.logsf(self.trend_sigma) / np.log(10))
        )
        # Each slice's best run: the highest score, then the earliest.
        order = np.lexsort((key_run, -score, key_slice))
        first = np.ones(len(order), dtype=bool)
        first[1:] = key_slice[order][1:] != key_slice[order][:-1]
        best = order[first]
        trending = np.zeros(n, dtype=bool)
        trending[key_slice[passed]] = True
        columns = {"run_start": np.zeros(n, np.int64), "count": np.zeros(n, np.int64)}
        columns |= {"members": np.zeros(n, np.int64), "baseline": np.zeros(n)}
        columns |= {"score": np.zeros(n)}
        for name, values in (
            ("run_start", key_run),
            ("count", count),
            ("members", members),
            ("baseline", baseline),
            ("score", score),
        ):
            columns[name][key_slice[best]] = values[best]
        start = pa.scalar(self.window_[0], pa.timestamp("ms", tz="UTC")).value
        width_ms = int(self.bucket.total_seconds() * 1000)
        return pa.table(
            {
                "cluster": slices.column("cluster"),
                "tier": slices.column("tier"),
                "conversation_id": slices.column("conversation_id"),
                "run_start": pa.array(start + columns["run_start"] * width_ms).cast(
                    pa.timestamp("ms", tz="UTC")
                ),
                "count": pa.array(columns["count"]),
                "members": pa.array(columns["members"]),
                "baseline": pa.array(np.round(columns["baseline"], 4)),
                "score": pa.array(np.round(columns["score"], 3)),
                "trending": pa.array(trending),
            }
        )

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
        for c in np.unique(cluster):
            rows = np.flatnonzero(cluster == c)
            rows = rows[np.argsort(-size[rows], kind="stable")[: self.related_top]]
            related[rows] = self._dbscan(features[rows])  # groups numbered within the cluster
        return related


# ---- helpers -------------------------------------------------------------------------------


def community_peak(peak_sum: float, slices: int) -> float:
    """The community's mean fastest run, from every partition's ``peak_sum`` and slices."""
    return peak_sum / slices if slices else 0.0


def _peak_baseline(slices: pa.Table, peak: np.ndarray, community: float) -> np.ndarray:
    """Each slice's baseline: the mean fastest run of the *other* slices of its cluster and
    tier (a burst does not raise its own bar), shrunk toward the community's mean
    (``community``) by ``SHRINK`` pseudo-slices."""
    if len(peak) == 0:
        return peak
    group = ints(slices.column("cluster")) * 4 + ints(slices.column("tier"))
    _, group = np.unique(group, return_inverse=True)
    group = group.reshape(-1)
    total = np.bincount(group, weights=peak)[group] - peak
    others = np.bincount(group)[group] - 1
    return (total + SHRINK * community) / (others + SHRINK)


def _tokens(week: pa.Table, bucket: timedelta, start: datetime | None) -> sp.csr_matrix:
    """Tweets × tokens counts: participants (u:), hashtags (#), 6-bucket time (t:), and the
    conversation a tweet belongs to or quotes (c:); a column per token, in token order."""
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
        slot = (seconds(week.column("created_at")) - start.timestamp()) // width
        add(every, pa.array(np.nan_to_num(slot, nan=-1).astype(np.int64).astype(str)), "t")
    all_rows = np.concatenate(rows) if rows else np.zeros(0, np.int64)
    # Columns in token order, not in the order tweets come: a cluster's rows get the same
    # columns, in the same order, whatever other tweets are beside them (their sums, and
    # so DBSCAN's distances at exactly eps, do not depend on the partition).
    every = pa.chunked_array(tokens, pa.string())
    vocabulary = pc.unique(every).sort()
    cols = ints(pc.index_in(every, value_set=vocabulary))
    return sp.csr_matrix((np.ones(len(cols)), (all_rows, cols)), shape=(n, max(len(vocabulary), 1)))


def _slices(tweets: pa.Table) -> pa.Table:
    """One row per (cluster, tier, conversation), its tweet ids oldest first; rows in that
    order by start (Arrow's group order depends on what else the table holds, and the
    related groups' numbers follow the rows' order)."""
    keys = ["cluster", "tier", "conversation_id"]
    ordered = tweets.sort_by([("created_at", "ascending"), ("tweet_id", "ascending")])
    order = [(k, "ascending") for k in ("cluster", "tier", "started_at", "conversation_id")]
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
        .sort_by(order)
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
