"""The topics stage: trending hashtags, terms and URLs beside trending threads.

Conversations group tweets by ``conversation_id``; every v2 tweet has one, so fifty members
posting seventy *standalone* tweets with a new hashtag in three hours make seventy one-tweet
conversations and never trend. This stage groups standalone tweets (plain tweets and
quotes; never replies or retweets, which belong to the thread or tweet they point at) by
*topic* within a cluster and tier (the tier rule conversations use,
:mod:`dwt.stages.members`):

* hashtags (``#tag``, lowercased, from the entities collection stored),
* URLs (the expanded url of ``entities.urls`` when stored, else a URL written in the text),
* salient terms: scikit-learn's ``CountVectorizer`` over the text with English stop words,
  hashtags, mentions and URLs removed, keeping terms in at least ``min_count`` tweets.

A topic *bursts* when, in some run of ``span`` consecutive buckets, it is far above its
**own** baseline: its share of the cluster-tier's standalone tweets everywhere else (the
rest of the window, plus the previous weeks when ``history`` is given), times the
cluster-tier's standalone tweets in that run. Scaling by the cluster-tier's own traffic
means a topic that rides the daily rhythm never looks hot at the busy hours. The test is
Poisson's upper tail (``max_p``) with a minimum count, a minimum number of distinct authors
and a minimum ratio to the baseline; the burst's tweets are the topic's tweets over the
union of the runs that pass.

Everything is whole-array work: a sparse tweets × topics matrix, then ``np.unique`` /
``bincount`` group-bys over (cluster-tier, topic, run) keys; no per-tweet Python.

Only the vocabulary (terms common enough in the whole community, every hashtag and URL) and
each topic's community-wide counts are not per cluster, and they are counts: the stage runs
on partitions of whole clusters (:meth:`TopicFinder.prepare`), their :class:`TopicCounts`
summed into one :class:`TopicVocabulary` (:meth:`TopicFinder.vocabulary`), then each
partition finishes on its own (:meth:`TopicFinder.finish`). Topics are ordered by kind and
text, never by the order tweets were read in.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Self

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp
from sklearn.base import BaseEstimator
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, CountVectorizer

from dwt.stages.columns import (
    cumulative,
    ints,
    poisson_score,
    rank_within_tiers,
    run_sums,
    time_buckets,
)
from dwt.stages.members import Members, MemberTweets

KIND_HASHTAG, KIND_TERM, KIND_URL = "hashtag", "term", "url"
TOPIC_KINDS = (KIND_HASHTAG, KIND_TERM, KIND_URL)
#: Tweet kinds that stand alone (unknown kinds count when they reference nothing).
STANDALONE_KINDS = ("tweet", "quote")

TIMESTAMP = pa.timestamp("ms", tz="UTC")
TOPICS_SCHEMA = pa.schema(
    [
        ("cluster", pa.int64()),
        ("tier", pa.int8()),
        ("topic", pa.string()),  # "#tag", a lowercased term, or a URL
        ("kind", pa.string()),  # hashtag | term | url
        ("tweet_ids", pa.list_(pa.string())),  # the tweets that make it, oldest first
        ("count", pa.int64()),
        ("members", pa.int64()),  # distinct authors
        ("baseline", pa.float64()),  # expected count from the topic's own history
        ("score", pa.float64()),  # -log10 of the Poisson upper tail
        ("trending", pa.bool_()),
        ("rank", pa.int64()),  # 0 = first to show, within (cluster, tier)
        ("first_at", TIMESTAMP),
        ("last_at", TIMESTAMP),
        ("also", pa.list_(pa.string())),  # topics trending on the same tweets, folded in
    ]
)

#: Words that say nothing on X besides the usual English ones.
STOP_WORDS = sorted(ENGLISH_STOP_WORDS | {"amp", "rt", "http", "https", "via", "just"})
_NOT_WORDS = r"[#@][\w]+|https?://\S+"
#: Words of three or more letters or digits, starting with a letter.
_TOKEN = r"(?u)\b[^\W\d_][^\W_]{2,}\b"
_URL_START = r"^https?://"
_URL_TRAIL = ".,;:!?)]}\"'…"
#: Pseudo-count of a topic never seen before (its share is this over the rest's tweets).
_PRIOR = 0.5
#: Pseudo-tweets of the community's share in a cluster-tier's share (see _Totals).
SHRINK = 20.0


class TopicFinder(BaseEstimator):
    """Estimator-style trending topics.

    Parameters: ``bucket`` (time bucket), ``span`` (buckets per run tested: a burst of two
    hours across a bucket edge still falls in one run), ``min_count`` (fewest tweets in a
    burst, and fewest a term needs in the week to be a topic), ``min_members`` (fewest
    distinct authors), ``min_ratio`` (fewest times its baseline), ``max_p`` (Poisson
    upper-tail probability at most this; many topics × runs are tested, so it is small),
    ``top`` (non-trending topics kept per cluster and tier, best first, so the dashboard
    can say what a cluster talks about), ``terms`` (find terms in the text at all).

    Fitted: ``topics_`` (TOPICS_SCHEMA, ranked within cluster and tier), ``window_``.
    """

    def __init__(
        self,
        bucket: timedelta = timedelta(hours=1),
        span: int = 3,
        min_count: int = 5,
        min_members: int = 3,
        min_ratio: float = 3.0,
        max_p: float = 1e-6,
        top: int = 10,
        terms: bool = True,
    ) -> None:
        self.bucket = bucket
        self.span = span
        self.min_count = min_count
        self.min_members = min_members
        self.min_ratio = min_ratio
        self.max_p = max_p
        self.top = top
        self.terms = terms

    def _check_params(self) -> None:
        """ValueError for a parameter the stage cannot run with (checked at fit, sklearn's
        way: :meth:`prepare`, :meth:`vocabulary` and :meth:`finish` are fit's parts)."""
        bucket, span, min_count, min_members = (
            self.bucket,
            self.span,
            self.min_count,
            self.min_members,
        )
        min_ratio, max_p, top = self.min_ratio, self.max_p, self.top
        if bucket <= timedelta(0):
            raise ValueError(f"bucket must be positive, got {bucket}")
        if span < 1 or min_count < 1 or min_members < 1 or top < 0:
            raise ValueError("need span >= 1, min_count >= 1, min_members >= 1 and top >= 0")
        if not min_ratio >= 1 or not 0 < max_p <= 1:
            raise ValueError(f"need min_ratio >= 1 and 0 < max_p <= 1, got {min_ratio}, {max_p}")

    def fit(
        self,
        interactions: pa.Table,
        members: Sequence[str] | pa.Array,
        labels: np.ndarray,
        window: tuple[datetime, datetime] | None = None,
        history: pa.Table | None = None,
    ) -> Self:
        """Find each cluster-tier's topics in the member tweets of ``interactions``.

        ``interactions`` has the store's interaction columns, plus ``text`` (string) and
        ``urls`` (list of expanded URLs, null when the tweet came without entities) when
        known: without ``text`` only hashtags and stored URLs are topics. ``labels`` is the
        cluster of each member. ``history`` holds earlier tweets (same columns): their
        topic counts join each topic's baseline, counted in the authors' current clusters.
        """
        part = self.prepare(interactions, members, labels, window, history)
        return self.finish(part, self.vocabulary([part.counts]))

    def prepare(
        self,
        interactions: pa.Table,
        members: Sequence[str] | pa.Array,
        labels: np.ndarray,
        window: tuple[datetime, datetime] | None = None,
        history: pa.Table | None = None,
    ) -> TopicsPart:
        """The standalone tweets of one partition of whole clusters (arguments as
        :meth:`fit`'s) and their :class:`TopicCounts`."""
        self._check_params()
        partition = Members.of(members, labels)
        own = partition.tweets(interactions, _is_standalone(interactions))
        window = own.window(window)
        week = _Standalone(own)
        old = None
        if history is not None and history.num_rows:
            old = _Standalone(partition.tweets(history, _is_standalone(history)))
        terms = self.terms and self.min_count > 0
        found = _Terms.of(week.table) if terms else _Terms.none()
        past = _Terms.of(old.table) if terms and old is not None else _Terms.none()
        counts = TopicCounts(
            entities=_entity_counts(week.table),
            terms=found.counts(),
            past_entities=_entity_counts(old.table) if old is not None else _empty_counts(),
            past_terms=past.counts(),
            tweets=week.table.num_rows,
            past_tweets=old.table.num_rows if old is not None else 0,
        )
        return TopicsPart(week, old, window, found, past, counts)

    def vocabulary(self, counts: Sequence[TopicCounts]) -> TopicVocabulary:
        """The community's topics and their counts, from every partition's counts."""
        self._check_params()
        return TopicVocabulary.of(TopicCounts.merge(counts), self.min_count if self.terms else 0)

    def finish(self, part: TopicsPart, vocabulary: TopicVocabulary) -> Self:
        """Test the topics of one partition against their baselines: sets ``topics_``."""
        self._check_params()
        self.window_ = part.window
        week = part.week
        bucket, n_buckets = time_buckets(week.table.column("created_at"), self.window_, self.bucket)
        rows, topic = vocabulary.occurrences(week.table, part.terms)
        past = None
        if part.history is not None:
            past = (part.history, *vocabulary.occurrences(part.history.table, part.past_terms))
        self.topics_ = self._bursts(week, bucket, n_buckets, vocabulary, rows, topic, past)
        return self

    # ---- bursts --------------------------------------------------------------------------

    def _bursts(
        self,
        week: _Standalone,
        bucket: np.ndarray,
        n_buckets: int,
        vocabulary: TopicVocabulary,
        rows: np.ndarray,
        topic: np.ndarray,
        past: tuple[_Standalone, np.ndarray, np.ndarray] | None,
    ) -> pa.Table:
        n_topics = max(len(vocabulary.topics), 1)
        group_keys, tweet_group = np.unique(week.group_key, return_inverse=True)
        tweet_group = tweet_group.reshape(-1)
        n_groups = len(group_keys)
        pair_key = tweet_group[rows] * n_topics + topic
        pairs, occ_pair = np.unique(pair_key, return_inverse=True)
        occ_pair = occ_pair.reshape(-1)
        n_pairs = len(pairs)
        if n_pairs == 0:
            return TOPICS_SCHEMA.empty_table()
        pair_group = pairs // n_topics
        pair_total = np.bincount(occ_pair, minlength=n_pairs).astype(np.float64)
        per_bucket = np.bincount(
            tweet_group * n_buckets + bucket, minlength=n_groups * n_buckets
        ).reshape(n_groups, n_buckets)
        group_total = per_bucket.sum(axis=1).astype(np.float64)
        pair_topic = pairs % n_topics
        # The community's counts (every partition, earlier weeks included).
        topic_all = np.zeros(n_topics)
        topic_all[: len(vocabulary.topic_all)] = vocabulary.topic_all
        all_total = float(vocabulary.all_total)
        # Earlier weeks: their counts join both sides of each topic's share.
        past_pair = np.zeros(n_pairs)
        past_group = np.zeros(n_groups)
        if past is not None:
            old, old_rows, old_topic = past
            pos = np.searchsorted(group_keys, old.group_key)
            known = (pos < n_groups) & (group_keys[np.minimum(pos, n_groups - 1)] == old.group_key)
            past_group = np.bincount(pos[known], minlength=n_groups).astype(np.float64)
            key = pos[old_rows] * n_topics + old_topic
            at = np.searchsorted(pairs, key)
            hit = known[old_rows] & (at < n_pairs) & (pairs[np.minimum(at, n_pairs - 1)] == key)
            past_pair = np.bincount(at[hit], minlength=n_pairs).astype(np.float64)

        # Runs of `span` buckets: run s covers buckets s .. s + span - 1.
        width = min(self.span, n_buckets)
        n_runs = n_buckets - width + 1
        occ_bucket = bucket[rows]
        back = np.repeat(np.arange(width)[None, :], len(rows), axis=0).ravel()
        run = np.repeat(occ_bucket, width) - back
        valid = (run >= 0) & (run < n_runs)
        occ_of = np.repeat(np.arange(len(rows)), width)[valid]
        run = run[valid]
        keys, counts = np.unique(occ_pair[occ_of] * n_runs + run, return_counts=True)
        n_authors = int(week.author.max()) + 1
        by_author = np.unique(
            (occ_pair[occ_of] * n_runs + run) * n_authors + week.author[rows[occ_of]]
        )
        authors = np.bincount(np.searchsorted(keys, by_author // n_authors), minlength=len(keys))
        key_pair, key_run = keys // n_runs, keys % n_runs
        run_tweets = run_sums(per_bucket, width)  # (groups, runs)
        g = pair_group[key_pair]
        inside = run_tweets[g, key_run].astype(np.float64)
        totals = _Totals(
            pair_total + past_pair, group_total + past_group, topic_all[pair_topic], all_total
        )
        baseline = totals.baseline(counts, inside, key_pair, g)
        score = poisson_score(counts, baseline)
        passed = self._passes(counts, authors, baseline, score)

        # Per topic: the union of the runs that pass, else its best run.
        hot = np.zeros(n_pairs, dtype=bool)
        hot[key_pair[passed]] = True
        lo = np.full(n_pairs, n_runs, dtype=np.int64)
        hi = np.full(n_pairs, -1, dtype=np.int64)
        np.minimum.at(lo, key_pair[passed], key_run[passed])
        np.maximum.at(hi, key_pair[passed], key_run[passed])
        order = np.lexsort((key_run, -score, key_pair))
        first = np.ones(len(order), dtype=bool)
        first[1:] = key_pair[order][1:] != key_pair[order][:-1]
        best = order[first]
        best_score = np.zeros(n_pairs)
        best_score[key_pair[best]] = score[best]
        best_count = np.zeros(n_pairs, dtype=np.int64)
        best_count[key_pair[best]] = counts[best]
        cold = ~hot
        lo[key_pair[best]] = np.where(cold[key_pair[best]], key_run[best], lo[key_pair[best]])
        hi[key_pair[best]] = np.where(cold[key_pair[best]], key_run[best], hi[key_pair[best]])
        keep = hot | self._top_cold(pair_group, best_score, best_count, hot)
        return self._table(
            week,
            bucket,
            rows,
            occ_pair,
            keep,
            hot,
            lo,
            hi + width,
            pairs,
            n_topics,
            group_keys,
            vocabulary,
            per_bucket,
            totals,
        )

    def _passes(
        self, count: np.ndarray, authors: np.ndarray, baseline: np.ndarray, score: np.ndarray
    ) -> np.ndarray:
        return (
            (count >= self.min_count)
            & (authors >= self.min_members)
            & (count >= self.min_ratio * baseline)
            & (score >= -math.log10(self.max_p))
        )

    def _top_cold(
        self, group: np.ndarray, score: np.ndarray, count: np.ndarray, hot: np.ndarray
    ) -> np.ndarray:
        """The ``top`` best non-trending topics of each cluster-tier (at least two tweets)."""
        candidates = np.flatnonzero(~hot & (count >= 2))
        order = candidates[np.lexsort((-count[candidates], -score[candidates], group[candidates]))]
        new = np.ones(len(order), dtype=bool)
        new[1:] = group[order][1:] != group[order][:-1]
        start = np.maximum.accumulate(np.where(new, np.arange(len(order)), 0))
        keep = np.zeros(len(group), dtype=bool)
        keep[order[np.arange(len(order)) - start < self.top]] = True
        return keep

    def _table(
        self,
        week: _Standalone,
        bucket: np.ndarray,
        rows: np.ndarray,
        occ_pair: np.ndarray,
        keep: np.ndarray,
        hot: np.ndarray,
        lo: np.ndarray,
        hi: np.ndarray,
        pairs: np.ndarray,
        n_topics: int,
        group_keys: np.ndarray,
        vocabulary: TopicVocabulary,
        per_bucket: np.ndarray,
        totals: _Totals,
    ) -> pa.Table:
        """One row per kept topic: its tweets over its burst (or best run), with the count,
        authors, baseline and score recomputed over exactly that span."""
        selected = np.flatnonzero(keep)
        slot = np.full(len(pairs), -1, dtype=np.int64)
        slot[selected] = np.arange(len(selected))
        occ_bucket = bucket[rows]
        mine = (slot[occ_pair] >= 0) & (occ_bucket >= lo[occ_pair]) & (occ_bucket < hi[occ_pair])
        occ = np.flatnonzero(mine)
        which = slot[occ_pair[occ]]
        tweet = rows[occ]
        millis = week.millis[tweet]
        order = np.lexsort((week.tweet_id_rank[tweet], millis, which))
        which, tweet, millis = which[order], tweet[order], millis[order]
        n = len(selected)
        count = np.bincount(which, minlength=n)
        n_authors = int(week.author.max()) + 1 if len(week.author) else 1
        distinct = np.unique(which * n_authors + week.author[tweet]) // n_authors
        members = np.bincount(distinct, minlength=n)
        offsets = np.concatenate(([0], np.cumsum(count)))
        first_at = millis[np.minimum(offsets[:-1], max(len(millis) - 1, 0))]
        last_at = millis[np.maximum(offsets[1:] - 1, 0)] if len(millis) else first_at
        group = pairs[selected] // n_topics
        cum = cumulative(per_bucket)
        inside = (cum[group, hi[selected]] - cum[group, lo[selected]]).astype(np.float64)
        baseline = totals.baseline(count, inside, selected, group)
        score = poisson_score(count, baseline)
        topic_index = pairs[selected] % n_topics
        table = pa.table(
            {
                "cluster": pa.array(group_keys[group] // 4, pa.int64()),
                "tier": pa.array(group_keys[group] % 4, pa.int8()),
                "topic": vocabulary.topics.take(pa.array(topic_index)),
                "kind": vocabulary.kinds.take(pa.array(topic_index)),
                "tweet_ids": pa.ListArray.from_arrays(
                    pa.array(offsets.astype(np.int32)),
                    week.table.column("tweet_id").combine_chunks().take(pa.array(tweet)),
                ),
                "count": pa.array(count, pa.int64()),
                "members": pa.array(members, pa.int64()),
                "baseline": pa.array(np.round(baseline, 4)),
                "score": pa.array(np.round(score, 3)),
                "trending": pa.array(hot[selected]),
                "first_at": pa.array(first_at, pa.int64()).cast(TIMESTAMP),
                "last_at": pa.array(last_at, pa.int64()).cast(TIMESTAMP),
            }
        )
        ranked = rank_within_tiers(_merge_echoes(table), _RANK_ORDER)
        return ranked.select(TOPICS_SCHEMA.names).cast(TOPICS_SCHEMA)


class _Totals:
    """What a topic's baseline is made of: its count and its cluster-tier's standalone
    tweets (per topic row), the topic's count in the whole community and all tweets; earlier
    weeks included."""

    def __init__(
        self,
        pair_total: np.ndarray,
        group_total: np.ndarray,
        topic_all: np.ndarray,
        all_total: float,
    ) -> None:
        self.pair_total = pair_total
        self.group_total = group_total
        self.topic_all = topic_all
        self.all_total = all_total

    def baseline(
        self, count: np.ndarray, inside: np.ndarray, pair: np.ndarray, group: np.ndarray
    ) -> np.ndarray:
        """Expected count in a run: the topic's share of its cluster-tier's tweets outside
        the run, times the cluster-tier's tweets inside it. The share is shrunk toward the
        topic's share in the whole community by ``SHRINK`` pseudo-tweets, so that a
        cluster-tier with little traffic outside the run (tier 3 of a small cluster) has a
        baseline at all; a topic never seen has ``_PRIOR`` tweets."""
        community = (self.topic_all[pair] - count + _PRIOR) / (self.all_total - inside + 1.0)
        share = (self.pair_total[pair] - count + SHRINK * community) / (
            self.group_total[group] - inside + SHRINK
        )
        return share * inside


# ---- inputs ----------------------------------------------------------------------------------


class _Standalone:
    """The standalone member tweets of a table, with author, cluster-tier and time columns."""

    def __init__(self, tweets: MemberTweets) -> None:
        table = tweets.table
        self.table = table
        self.author = tweets.author
        self.group_key = tweets.cluster * 4 + tweets.tier.astype(np.int64)  # tiers are 1..3
        self.millis = pc.cast(table.column("created_at"), pa.int64()).to_numpy()
        ranks = pc.rank(table.column("tweet_id").combine_chunks(), sort_keys="ascending")
        self.tweet_id_rank = ints(ranks) if table.num_rows else np.zeros(0, np.int64)


def _is_standalone(interactions: pa.Table) -> pa.ChunkedArray:
    """Which rows stand alone: plain tweets and quotes, and rows of unknown kind that
    reference nothing."""
    kind = interactions.column("kind")
    return pc.or_(
        pc.fill_null(pc.is_in(kind, pa.array(STANDALONE_KINDS)), False),
        pc.and_(pc.is_null(kind), pc.is_null(interactions.column("referenced_id"))),
    )


#: In how many tweets each topic appears.
_COUNTS_SCHEMA = pa.schema([("topic", pa.string()), ("tweets", pa.int64())])


def _empty_counts() -> pa.Table:
    return _COUNTS_SCHEMA.empty_table()


@dataclass(frozen=True)
class TopicCounts:
    """What the community's vocabulary needs from one partition: in how many standalone
    tweets each hashtag and URL (``entities``) and each term appears, in the window and
    before it (``past_…``), and how many standalone tweets there are. Counts: summed in
    any order, the same."""

    entities: pa.Table
    terms: pa.Table
    past_entities: pa.Table
    past_terms: pa.Table
    tweets: int
    past_tweets: int

    @classmethod
    def merge(cls, parts: Sequence[TopicCounts]) -> TopicCounts:
        def summed(tables: list[pa.Table]) -> pa.Table:
            table = pa.concat_tables([_empty_counts(), *tables])
            grouped = table.group_by("topic", use_threads=False).aggregate([("tweets", "sum")])
            return grouped.rename_columns(["topic", "tweets"]).cast(_COUNTS_SCHEMA)

        return cls(
            summed([p.entities for p in parts]),
            summed([p.terms for p in parts]),
            summed([p.past_entities for p in parts]),
            summed([p.past_terms for p in parts]),
            sum(p.tweets for p in parts),
            sum(p.past_tweets for p in parts),
        )


class _Terms:
    """The terms of a table's standalone tweets: a tweets × terms 0/1 matrix over its own
    ``names`` (every term at least once; the vocabulary keeps the common ones)."""

    def __init__(self, matrix: sp.csr_matrix | None, names: pa.Array) -> None:
        self.matrix = matrix
        self.names = names

    @classmethod
    def none(cls) -> _Terms:
        return cls(None, pa.array([], pa.string()))

    @classmethod
    def of(cls, table: pa.Table) -> _Terms:
        text = _clean_text(table)
        if not text:
            return cls.none()
        vectorizer = CountVectorizer(stop_words=STOP_WORDS, token_pattern=_TOKEN, binary=True)
        try:
            matrix = vectorizer.fit_transform(text).tocsr()
        except ValueError:  # scikit-learn's "empty vocabulary": only stop words
            return cls.none()
        return cls(matrix, pa.array(vectorizer.get_feature_names_out().tolist(), pa.string()))

    def counts(self) -> pa.Table:
        if self.matrix is None:
            return _empty_counts()
        tweets = np.asarray(self.matrix.sum(axis=0)).ravel().astype(np.int64)
        return pa.table({"topic": self.names, "tweets": tweets}, schema=_COUNTS_SCHEMA)


def _entity_counts(table: pa.Table) -> pa.Table:
    """In how many of ``table``'s tweets each hashtag and URL appears."""
    (tag_rows, tags), (url_rows, urls) = _hashtags(table), _urls(table)
    found = pa.table(
        {
            "row": pa.array(np.concatenate([tag_rows, url_rows]), pa.int64()),
            "topic": pa.concat_arrays([tags, urls]).cast(pa.string()),
        }
    ).filter(pc.is_valid(pa.concat_arrays([tags, urls])))
    once = found.group_by(["row", "topic"], use_threads=False).aggregate([])
    counted = once.group_by("topic", use_threads=False).aggregate([("row", "count")])
    return counted.rename_columns(["topic", "tweets"]).cast(_COUNTS_SCHEMA)


@dataclass(frozen=True)
class TopicsPart:
    """One partition between :meth:`TopicFinder.prepare` and :meth:`TopicFinder.finish`."""

    week: _Standalone
    history: _Standalone | None
    window: tuple[datetime, datetime]
    terms: _Terms
    past_terms: _Terms
    counts: TopicCounts


class TopicVocabulary:
    """The community's topics (hashtags and URLs in kind-then-text order, then the terms in
    at least ``min_df`` standalone tweets, in text order), the tweets each appears in
    (``topic_all``, earlier weeks included) and all standalone tweets (``all_total``)."""

    def __init__(self, topics: pa.Array, kinds: pa.Array, n_entities: int,
                 topic_all: np.ndarray, all_total: int) -> None:  # fmt: skip
        self.topics = topics
        self.kinds = kinds
        self.n_entities = n_entities
        self.topic_all = topic_all
        self.all_total = all_total

    @classmethod
    def of(cls, counts: TopicCounts, min_df: int) -> TopicVocabulary:
        terms = pa.array([], pa.string())
        if min_df and counts.tweets >= min_df:
            common = counts.terms.filter(pc.greater_equal(counts.terms.column("tweets"), min_df))
            terms = common.column("topic").combine_chunks().sort()
        entities = counts.entities.column("topic").combine_chunks().sort()
        is_tag = pc.starts_with(entities, "#")
        entities = pa.concat_arrays([entities.filter(is_tag), entities.filter(pc.invert(is_tag))])
        topics = pa.concat_arrays([entities, terms])
        kinds = pa.concat_arrays(
            [
                pc.if_else(pc.starts_with(entities, "#"), KIND_HASHTAG, KIND_URL),
                pa.array([KIND_TERM] * len(terms), pa.string()),
            ]
        )
        topic_all = np.zeros(len(topics))
        for table, offset, size in (
            (counts.entities, 0, len(entities)),
            (counts.past_entities, 0, len(entities)),
            (counts.terms, len(entities), len(terms)),
            (counts.past_terms, len(entities), len(terms)),
        ):
            at = pc.index_in(table.column("topic"), value_set=topics.slice(offset, size))
            known = pc.is_valid(at).to_numpy(zero_copy_only=False)
            tweets = table.column("tweets").to_numpy()[known]
            np.add.at(topic_all, ints(pc.drop_null(at)) + offset, tweets)
        return cls(topics, kinds, len(entities), topic_all, counts.tweets + counts.past_tweets)

    def occurrences(self, table: pa.Table, terms: _Terms) -> tuple[np.ndarray, np.ndarray]:
        """(tweet row, topic index) of every topic a tweet of ``table`` carries, once per
        tweet; ``terms``: the table's own terms (:class:`_Terms`)."""
        parts_rows, parts_topic = [], []
        entities = self.topics.slice(0, self.n_entities)
        for rows, values in (_hashtags(table), _urls(table)):
            at = pc.index_in(values, value_set=entities)
            known = pc.is_valid(at).to_numpy(zero_copy_only=False)
            parts_rows.append(rows[known])
            parts_topic.append(ints(pc.drop_null(at)) if len(values) else np.zeros(0, np.int64))
        if terms.matrix is not None and len(self.topics) > self.n_entities:
            known_terms = self.topics.slice(self.n_entities)
            column = pc.index_in(terms.names, value_set=known_terms)
            column = ints(pc.fill_null(column, -1))
            matrix = sp.coo_matrix(terms.matrix)
            keep = column[matrix.col] >= 0
            parts_rows.append(matrix.row[keep].astype(np.int64))
            parts_topic.append(column[matrix.col[keep]] + self.n_entities)
        rows = np.concatenate(parts_rows)
        topic = np.concatenate(parts_topic)
        n = max(len(self.topics), 1)
        pair = np.unique(rows * n + topic)
        return pair // n, pair % n


def _hashtags(table: pa.Table) -> tuple[np.ndarray, pa.Array]:
    tags = pa.chunked_array(table.column("hashtags")).combine_chunks()
    rows = ints(pc.list_parent_indices(tags)) if len(tags) else np.zeros(0, np.int64)
    values = pc.binary_join_element_wise("#", pc.utf8_lower(pc.list_flatten(tags)), "")
    return rows, values.cast(pa.string())


def _urls(table: pa.Table) -> tuple[np.ndarray, pa.Array]:
    """Stored expanded URLs; for tweets stored without them, URLs written in the text."""
    rows, values = [], []
    stored = None
    if "urls" in table.column_names:
        stored = pa.chunked_array(table.column("urls")).combine_chunks()
        rows.append(ints(pc.list_parent_indices(stored)) if len(stored) else np.zeros(0, int))
        values.append(pc.list_flatten(stored).cast(pa.string()))
    if "text" in table.column_names and table.num_rows:
        text = pc.fill_null(table.column("text").combine_chunks(), "")
        if stored is not None:
            text = pc.if_else(pc.is_null(stored), text, "")
        words = pc.split_pattern_regex(text, r"\s+")
        flat = pc.list_flatten(words)
        is_url = pc.match_substring_regex(flat, _URL_START)
        rows.append(ints(pc.list_parent_indices(words).filter(is_url)))
        values.append(pc.utf8_rtrim(flat.filter(is_url), characters=_URL_TRAIL))
    if not rows:
        return np.zeros(0, np.int64), pa.array([], pa.string())
    merged = pa.concat_arrays(values)
    keep = pc.and_(pc.is_valid(merged), pc.match_substring_regex(merged, _URL_START))
    keep = pc.fill_null(keep, False)
    return np.concatenate(rows)[keep.to_numpy(zero_copy_only=False)], merged.filter(keep)


def _clean_text(table: pa.Table) -> list[str] | None:
    """The text without hashtags, mentions and URLs (those are topics of their own)."""
    if "text" not in table.column_names:
        return None
    text = pc.fill_null(table.column("text").combine_chunks(), "")
    return pc.replace_substring_regex(text, _NOT_WORDS, " ").to_pylist()


# ---- helpers ---------------------------------------------------------------------------------


#: A trending topic whose burst tweets lie mostly (this share) inside a better topic's
#: burst in the same cluster and tier is the same burst said differently: folded in.
ECHO_SHARE = 0.8
_KIND_ORDER = {KIND_HASHTAG: 0, KIND_URL: 1, KIND_TERM: 2}
#: Within a cluster and tier: trending first, then the most unusual, the largest.
_RANK_ORDER = (
    ("trending", "descending"),
    ("score", "descending"),
    ("count", "descending"),
    ("topic", "ascending"),
)


def _merge_echoes(table: pa.Table) -> pa.Table:
    """Fold trending topics that echo a better one (the other words of a burst's tweets,
    the link its hashtag rides with) into that topic's ``also``. Better: hashtag, then URL,
    then term; then higher score. Only trending rows are compared (a few per week), by a
    sparse rows × tweets product."""
    n = table.num_rows
    also: list[list[str]] = [[] for _ in range(n)]
    hot = np.flatnonzero(table.column("trending").to_numpy(zero_copy_only=False))
    dropped = np.zeros(n, dtype=bool)
    if len(hot) > 1:
        sub = table.take(pa.array(hot))
        ids = sub.column("tweet_ids").combine_chunks()
        codes = ints(pc.dictionary_encode(pc.list_flatten(ids)).indices)
        rows = ints(pc.list_parent_indices(ids))
        incidence = sp.csr_matrix(
            (np.ones(len(codes)), (rows, codes)), shape=(len(hot), int(codes.max()) + 1)
        )
        shared = (incidence @ incidence.T).toarray()
        size = np.diag(shared).copy()
        kind = np.array([_KIND_ORDER[k] for k in sub.column("kind").to_pylist()])
        score = sub.column("score").to_numpy()
        group = sub.column("cluster").to_numpy() * 4 + sub.column("tier").to_numpy()
        topics = sub.column("topic").to_pylist()
        order = np.lexsort((topics, -score, kind))  # best first
        for position, j in enumerate(order):
            for i in order[:position]:
                if dropped[hot[i]] or group[i] != group[j]:
                    continue
                if shared[i, j] >= ECHO_SHARE * size[j]:
                    dropped[hot[j]] = True
                    also[hot[i]].append(topics[j])
                    break
    table = table.append_column("also", pa.array(also, pa.list_(pa.string())))
    return table.filter(pa.array(~dropped))
