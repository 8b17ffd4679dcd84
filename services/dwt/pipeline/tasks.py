"""The insight steps' tasks: each gets only its partition of the week and writes what it makes.

The week is read once, by shards of authors (:func:`read_shard`, a task per shard streaming
its authors' tweets from the store in record batches); the shards' tables stay where the
executor keeps results (Ray's object store, or this process) and every later task gets
the pieces it needs:

* discover — candidates per shard (:func:`discover_part`), merged and recorded by one task
  (:func:`discover_merge`);
* bonds — the follow graph built once (:func:`read_follows`); each shard splits its
  (tweet, target) pairs by the block of members they are aimed at (:func:`bond_inputs`); a
  block of rows (:func:`bond_block`) gets its members' pairs, the pairs aimed at them and
  the follow graph, computes its rows (:func:`dwt.stages.bonds.bond_rows`) and writes its
  members' bonds and activity;
* cluster — what it needs from the tweets is per author (:func:`cluster_inputs`); one task
  (:func:`cluster_all`) stacks the blocks, runs Infomap (one process: its trials share one
  random stream, so running them apart would change the answer), matches last week's
  clusters, profiles and lays them out, and writes clusters and placements;
* content — the shards' tweets are regrouped by groups of whole clusters
  (:func:`split_shard`); each group finds its conversations and topics
  (:func:`content_prepare`), the community-wide figures they need are summed by one task
  (:func:`content_totals`), and each group ends its own (:func:`content_finish`), writing
  its top conversations as documents and all of them as one columnar table part.

Every figure that crosses partitions is an integer count, and every order inside a
partition is the order of the whole (tweet ids, member indices), so the results do not
depend on how the week was cut: one partition in-process and many on Ray give the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp

from dwt.collect.state import follows_age_days
from dwt.pipeline.executor import StoreRef
from dwt.pipeline.spec import RunSpec
from dwt.stages.bonds import (
    FollowGraph,
    IndexedWeek,
    Pairs,
    RowInputs,
    bond_rows,
    stack_rows,
)
from dwt.stages.cluster import ISOLATED, InfomapClusters, silent_members
from dwt.stages.columns import ints
from dwt.stages.content import ContentFinder, ContentPart, community_peak, context_needed
from dwt.stages.discover import discover_candidates, merge_candidates
from dwt.stages.identity import ClusterMatcher
from dwt.stages.layout import MapLayout, map_discs
from dwt.stages.summaries import (
    bond_stats,
    cluster_profiles,
    member_hashtags,
    outsider_partners,
)
from dwt.stages.topics import TopicCounts, TopicFinder, TopicsPart, TopicVocabulary
from dwt.store import FOLLOWS_SCHEMA, INTERACTIONS_SCHEMA, Coll, Store
from dwt.store.candidates import excluded_accounts, record_candidates

#: Conversations kept as documents per cluster and tier (the dashboard lists them 20 at a
#: time), trending ones always; every conversation is in the run's columnar table.
CONVERSATION_DOCS = 100
#: Rounds of looking up the tweets a partition's replies and retweets point at.
CONTEXT_ROUNDS = 64


@dataclass(frozen=True)
class RunContext:
    """What every task of a run knows: small, shared once."""

    store: StoreRef
    community: str
    run_id: str
    spec: RunSpec
    since: datetime
    now: datetime
    members: pa.Array  # member ids; a member's index is its position here

    @property
    def n(self) -> int:
        return len(self.members)


# ---- the week, read once ---------------------------------------------------------------------


def read_shard(ctx: RunContext, rows: np.ndarray) -> pa.Table:
    """The interactions of the members ``rows`` in the window, by tweet id, streamed from
    the store in record batches."""
    return _interactions(ctx, ctx.members.take(pa.array(rows, pa.int64())), ctx.since, ctx.now)


def _interactions(ctx: RunContext, authors: pa.Array, since: datetime, until: datetime) -> pa.Table:
    store = ctx.store.open()
    read = store.interaction_batches(authors.to_pylist(), since, until)
    table = pa.Table.from_batches(list(read), schema=INTERACTIONS_SCHEMA)
    return table.sort_by("tweet_id") if table.num_rows else table


# ---- discover --------------------------------------------------------------------------------


def discover_part(ctx: RunContext, shard: pa.Table) -> pa.Table:
    """Every outsider the shard's authors interact with, and how much (not yet ranked)."""
    return discover_candidates(shard, ctx.members, (), top=None)


def discover_merge(ctx: RunContext, *parts: pa.Table) -> int:
    """The community's top candidates from every shard's, recorded; how many."""
    store = ctx.store.open()
    excluded = excluded_accounts(store, ctx.community, ctx.now)
    ranked = merge_candidates(parts, excluded, ctx.spec.discover.top)
    record_candidates(store, ctx.community, ctx.run_id, ranked, ctx.now)
    return ranked.num_rows


# ---- bonds -----------------------------------------------------------------------------------


def read_follows(ctx: RunContext) -> tuple[FollowGraph, dict[str, Any]]:
    """The members' follow graph, streamed from the store; and how old its lists are."""
    store = ctx.store.open()
    ids = ctx.members.to_pylist()
    src, dst = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
    for batch in store.follow_list_batches(ids):
        targets = batch.column("targets")
        source = pc.take(batch.column("source_id"), pc.list_parent_indices(targets))
        edges = pa.table({"source_id": source, "target_id": pc.list_flatten(targets)})
        edges = edges.cast(FOLLOWS_SCHEMA)
        s = pc.index_in(edges.column("source_id"), value_set=ctx.members)
        t = pc.index_in(edges.column("target_id"), value_set=ctx.members)
        both = pc.and_(pc.is_valid(s), pc.is_valid(t))
        src.append(ints(s.filter(both)))
        dst.append(ints(t.filter(both)))
    graph = FollowGraph.build(ctx.n, np.concatenate(src), np.concatenate(dst))
    return graph, follows_age_days(store, ids, datetime.now(ctx.now.tzinfo))


def bond_inputs(ctx: RunContext, shard: pa.Table, blocks: list[np.ndarray]) -> tuple[Any, ...]:
    """The shard's tweet counts per member, its (tweet, target) pairs, then for each block
    of members the pairs aimed at them: ``2 + len(blocks)`` values."""
    indexed = IndexedWeek.from_tables(ctx.members, shard, FOLLOWS_SCHEMA.empty_table())
    pairs = indexed.pairs()
    block_of = np.full(ctx.n, -1, dtype=np.int64)
    for b, rows in enumerate(blocks):
        block_of[rows] = b
    aimed = [pairs.take(block_of[pairs.target] == b) for b in range(len(blocks))]
    return (np.bincount(indexed.author, minlength=ctx.n), pairs, *aimed)


def bond_block(
    ctx: RunContext,
    rows: np.ndarray,
    graph: FollowGraph,
    activity: np.ndarray,
    out: Pairs,
    *aimed: Pairs,
) -> tuple[tuple[np.ndarray, sp.csr_matrix], tuple[np.ndarray, int]]:
    """Rows ``rows`` of the bond matrix from their inputs; writes those members' bonds and
    activity under the run (one document per member, bonds or none: the week shown reads
    each member's activity from it). Returns the block (rows, matrix), and the rows'
    activity and bond count."""
    counts = activity[rows]
    inputs = RowInputs(rows, counts, out, Pairs.concat(list(aimed)))
    matrix = bond_rows(inputs, graph, ctx.spec.weights.bond_weights())
    ids = np.asarray(ctx.members.take(pa.array(rows, pa.int64())).to_pylist(), dtype=object)
    every = np.asarray(ctx.members.to_pylist(), dtype=object)
    docs = [
        {
            "source_id": ids[i],
            "targets": every[matrix.indices[matrix.indptr[i] : matrix.indptr[i + 1]]].tolist(),
            "weights": matrix.data[matrix.indptr[i] : matrix.indptr[i + 1]].tolist(),
            "activity": int(counts[i]),
        }
        for i in range(len(ids))
    ]
    ctx.store.open().write_results(Coll.BONDS, ctx.community, ctx.run_id, docs)
    return (rows, matrix), (counts, int(matrix.nnz))


# ---- cluster ---------------------------------------------------------------------------------


def cluster_inputs(ctx: RunContext, shard: pa.Table) -> tuple[np.ndarray, pa.Table, pa.Table]:
    """What clustering needs from the shard's tweets: which members are silent in it, the
    members' hashtag counts and their strongest partners outside the community."""
    weights = ctx.spec.weights.bond_weights()
    return (
        silent_members(ctx.members, shard),
        member_hashtags(ctx.members, shard),
        outsider_partners(ctx.members, shard, weights),
    )


def cluster_all(
    ctx: RunContext,
    previous: np.ndarray,
    shards: int,
    *parts: Any,
) -> tuple[np.ndarray, dict[str, int]]:
    """Cluster the community (module doc) and write clusters and placements. ``parts``:
    ``shards`` silent masks, hashtag tables and outsider tables (:func:`cluster_inputs`),
    then the bond blocks (:func:`bond_block`; none: the bonds stored by the last bonds
    step)."""
    silent_parts = parts[:shards]
    hashtags = pa.concat_tables(list(parts[shards : 2 * shards]))
    outsiders = pa.concat_tables(list(parts[2 * shards : 3 * shards]))
    blocks = parts[3 * shards :]
    store = ctx.store.open()
    if blocks:
        matrix = stack_rows(ctx.n, list(blocks))
    else:
        matrix = stored_bonds(store, ctx.community, ctx.members)
    matrix.sum_duplicates()
    matrix.sort_indices()
    silent = np.logical_and.reduce([np.asarray(s, dtype=bool) for s in silent_parts])
    spec = ctx.spec.clustering
    model = InfomapClusters(
        trials=spec.trials,
        seed=spec.seed,
        directed=spec.directed,
        weight_transform=spec.weight_transform,
        prefer_modular=spec.prefer_modular,
        min_excess=spec.min_modularity_excess,
    )
    # Silent members (no tweet, nothing directed at them) go to ISOLATED, not to a
    # singleton cluster made of their follow-only bonds (dwt.stages.cluster).
    model.fit(matrix, silent=silent)
    # Last week's numbers for the same groups (dwt.stages.identity): "cluster 5" stays 5.
    matcher = ClusterMatcher().fit(previous, model.labels_)
    labels = matcher.labels_
    profiles = cluster_profiles(ctx.members, labels, matrix, model.flow_, hashtags)
    changes = {row.pop("cluster"): row for row in matcher.changes_.to_pylist()}
    # The map's positions, once per analysis (dwt.stages.layout): the dashboard draws them.
    placed = MapLayout(seed=spec.seed).fit(matrix, labels)
    discs = map_discs(placed)
    store.write_results(
        Coll.CLUSTERS,
        ctx.community,
        ctx.run_id,
        [
            _with_change(doc, changes.get(doc["cluster"])) | discs[doc["cluster"]]
            for doc in profiles.to_pylist()
        ],
    )
    stats = bond_stats(ctx.members, labels, matrix, outsiders).to_pylist()
    store.write_results(
        Coll.PLACEMENTS,
        ctx.community,
        ctx.run_id,
        [
            {
                "account_id": row.pop("account_id"),
                "cluster": int(label),
                "flow": float(flow),
                "bond_stats": row,
                "x": round(float(x), 1),
                "y": round(float(y), 1),
            }
            for row, label, flow, (x, y) in zip(
                stats, labels, model.flow_, placed.positions_, strict=True
            )
        ],
    )
    return labels, {
        "clusters": model.n_clusters_,
        "isolated": int((labels == ISOLATED).sum()),
        # 1: neither Infomap nor modularity found groups (dwt.stages.cluster): say so.
        "no_structure": int(model.structure_ == "none"),
    }


def _with_change(doc: dict, change: dict | None) -> dict:
    """A cluster's doc with how it changed since the last clustering (``change``: kept,
    grew, shrank, split, merged or new; ``size_before``, ``previous``, ``similarity``);
    the isolated group has none."""
    if change is None:
        return doc
    change.pop("size", None)  # the profile has it
    return {**doc, **change}


# ---- content ---------------------------------------------------------------------------------


def content_groups(labels: np.ndarray, activity: np.ndarray, groups: int) -> np.ndarray:
    """Each member's content group: whole clusters, binned so that each group gets about
    the same number of tweets (largest clusters first, each to the lightest group)."""
    clusters, member_cluster = np.unique(labels, return_inverse=True)
    tweets = np.bincount(member_cluster.reshape(-1), weights=activity, minlength=len(clusters))
    load = np.zeros(max(1, min(groups, len(clusters))))
    group_of = np.zeros(len(clusters), dtype=np.int64)
    for c in np.lexsort((clusters, -tweets)):
        group_of[c] = int(np.argmin(load))
        load[group_of[c]] += tweets[c]
    return group_of[member_cluster.reshape(-1)]


def split_shard(ctx: RunContext, shard: pa.Table, group_of: np.ndarray, groups: int) -> tuple:
    """The shard's tweets by the content group of their author: ``groups`` tables."""
    author = ints(pc.index_in(shard.column("author_id"), value_set=ctx.members))
    group = group_of[author] if len(author) else np.zeros(0, np.int64)
    parts = tuple(shard.filter(pa.array(group == g)) for g in range(groups))
    return parts[0] if groups == 1 else parts


@dataclass(frozen=True)
class ContentState:
    """A content group between :func:`content_prepare` and :func:`content_finish`."""

    group: int
    labels: np.ndarray
    conversations: ContentPart
    topics: TopicsPart | None


def _finders(spec: RunSpec) -> tuple[ContentFinder, TopicFinder]:
    content, topics = spec.content, spec.content.topics
    return (
        ContentFinder(
            bucket=timedelta(minutes=content.bucket_minutes),
            trend_sigma=content.trend_sigma,
            trend_min=content.trend_min,
            eps=content.eps,
            min_samples=content.min_samples,
        ),
        TopicFinder(
            bucket=timedelta(minutes=topics.bucket_minutes),
            span=topics.span_buckets,
            min_count=topics.min_count,
            min_members=topics.min_members,
            min_ratio=topics.min_ratio,
            max_p=topics.max_p,
            top=topics.top,
            terms=topics.terms,
        ),
    )


def content_prepare(
    ctx: RunContext, labels: np.ndarray, group_of: np.ndarray, group: int, *pieces: pa.Table
) -> tuple[tuple[float, int, TopicCounts | None], ContentState]:
    """A content group's conversations and topics up to the community-wide figures: its
    tweets (from every shard's piece, by tweet id), the tweets they point at in other
    groups (looked up by id), and the group's standalone tweets' text and earlier weeks
    (read for its members: ``group_of`` gives each member's group). Returns what
    :func:`content_totals` sums, and the state."""
    week = pa.concat_tables([INTERACTIONS_SCHEMA.empty_table(), *pieces])
    week = week.sort_by("tweet_id") if week.num_rows else week
    conversations, topics = _finders(ctx.spec)
    part = conversations.prepare(
        week, ctx.members, labels, (ctx.since, ctx.now), _context(ctx, week)
    )
    topic_part = None
    if ctx.spec.content.topics.enabled:
        authors = ctx.members.filter(pa.array(group_of == group))
        text = _with_text(ctx, week, authors, ctx.since, ctx.now)
        history = None
        days = ctx.spec.content.topics.history_days
        if days and len(authors):
            start = ctx.since - timedelta(days=days)
            earlier = _interactions(ctx, authors, start, ctx.since)
            if earlier.num_rows:
                history = _with_text(ctx, earlier, authors, start, ctx.since)
        topic_part = topics.prepare(text, ctx.members, labels, (ctx.since, ctx.now), history)
    totals = (part.peak_sum, part.slices.num_rows, topic_part.counts if topic_part else None)
    return totals, ContentState(group, labels, part, topic_part)


def _context(ctx: RunContext, week: pa.Table) -> pa.Table:
    """The member tweets in the window, outside ``week``, that resolving its conversations
    needs (what its retweets retweet, and the chains of replies without a conversation
    id), looked up by id a round at a time."""
    store = ctx.store.open()
    found = [INTERACTIONS_SCHEMA.empty_table()]
    known = pa.concat_arrays([pa.array([], pa.string()), *week.column("tweet_id").chunks])
    wanted = context_needed(week, known, own=True)
    for _ in range(CONTEXT_ROUNDS):
        if not len(wanted):
            break
        read = store.interactions_by_id(wanted.to_pylist(), ctx.since, ctx.now)
        read = read.filter(pc.is_in(read.column("author_id"), value_set=ctx.members))
        found.append(read)
        known = pa.concat_arrays([known, read.column("tweet_id").combine_chunks(), wanted])
        wanted = context_needed(read, known, own=False)
    context = pa.concat_tables(found)
    return context.sort_by("tweet_id") if context.num_rows else context


def _with_text(
    ctx: RunContext, interactions: pa.Table, authors: pa.Array, since: datetime, until: datetime
) -> pa.Table:
    """``interactions`` with the ``text`` and ``urls`` of its standalone tweets (the only
    ones topics read), read for ``authors`` in one streamed columnar read."""
    store = ctx.store.open()
    read = store.tweet_texts(authors.to_pylist(), since, until, kinds=("tweet", "quote"))
    at = pc.index_in(interactions.column("tweet_id"), value_set=read.column("tweet_id"))
    urls = read.column("urls").combine_chunks()
    expanded = pc.coalesce(
        pc.struct_field(pc.list_flatten(urls), "expanded_url"),
        pc.struct_field(pc.list_flatten(urls), "url"),
    )
    url_lists = pa.ListArray.from_arrays(urls.offsets, expanded, mask=urls.is_null())
    return interactions.append_column("text", pc.take(read.column("text"), at)).append_column(
        "urls", pc.take(url_lists, at)
    )


def content_totals(ctx: RunContext, *totals: tuple) -> tuple[float, TopicVocabulary | None]:
    """The community's mean fastest conversation run and topic vocabulary, from every
    group's counts."""
    peak = community_peak(sum(t[0] for t in totals), sum(t[1] for t in totals))
    counts = [t[2] for t in totals if t[2] is not None]
    vocabulary = _finders(ctx.spec)[1].vocabulary(counts) if counts else None
    return peak, vocabulary


def content_finish(
    ctx: RunContext, state: ContentState, shared: tuple[float, TopicVocabulary | None]
) -> dict[str, int]:
    """End a content group: trends, related groups and ranks; its top conversations (and
    every trending one) as documents, all of them as its part of the run's columnar
    table, its topics as documents. Returns its counts."""
    peak, vocabulary = shared
    finder, topic_finder = _finders(ctx.spec)
    conversations = finder.finish(state.conversations, peak).conversations_
    store = ctx.store.open()
    shown = conversations.filter(
        pc.or_(
            conversations.column("trending"),
            pc.less(conversations.column("rank"), CONVERSATION_DOCS),
        )
    )
    store.write_results(Coll.CONVERSATIONS, ctx.community, ctx.run_id, shown.to_pylist())
    per_tier = conversations.group_by(["cluster", "tier"]).aggregate([("rank", "count")])
    store.put_table(
        ctx.community,
        ctx.run_id,
        "conversations",
        f"{state.group:05d}",
        conversations,
        totals={
            f"{c}/{t}": int(n)
            for c, t, n in zip(
                per_tier.column("cluster").to_pylist(),
                per_tier.column("tier").to_pylist(),
                per_tier.column("rank_count").to_pylist(),
                strict=True,
            )
        },
    )
    trending = int(pc.sum(conversations.column("trending")).as_py() or 0)
    counts = {"conversations": conversations.num_rows, "trending": trending}
    if state.topics is not None and vocabulary is not None:
        topics = topic_finder.finish(state.topics, vocabulary).topics_
        store.write_results(Coll.TOPICS, ctx.community, ctx.run_id, topics.to_pylist())
        counts["topics"] = topics.num_rows
        counts["trending_topics"] = int(pc.sum(topics.column("trending")).as_py() or 0)
    return counts


def stored_bonds(store: Store, community: str, ids: pa.Array) -> sp.csr_matrix:
    """The bonds the last bonds step stored, as a matrix over ``ids`` (row: source, column:
    target, in the order of ``ids``); bonds of accounts not in ``ids`` are left out. The
    clustering and the dashboard's map read the bonds through this one function."""
    lists = store.bond_lists(community)
    targets = lists.column("targets").combine_chunks()
    parent = pc.list_parent_indices(targets)
    src = pc.index_in(lists.column("source_id").take(parent), value_set=ids)
    dst = pc.index_in(pc.list_flatten(targets), value_set=ids)
    weight = pc.list_flatten(lists.column("weights").combine_chunks())
    keep = pc.and_(pc.is_valid(src), pc.is_valid(dst))
    n = len(ids)
    return sp.csr_matrix(
        (
            weight.filter(keep).to_numpy(zero_copy_only=False),
            (ints(src.filter(keep)), ints(dst.filter(keep))),
        ),
        shape=(n, n),
    )
