"""The insight steps (discover, bonds, cluster, content): load columns, run the stage,
write results in bulk. The stages themselves (``dwt.stages``) never touch the store.

Each step writes its results under the run's id; they are shown only once the whole run
succeeded and published them (:mod:`dwt.store.weeks`). Each step can run alone: cluster
reads the bonds shown, content the clusters shown, so ``--steps content`` after a weights
change reuses what is there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp

from dwt.collect.state import follows_age_days
from dwt.pipeline.parallel import parallel_bond_matrix
from dwt.pipeline.progress import Progress
from dwt.pipeline.spec import RunSpec
from dwt.stages.bonds import BondGraph, IndexedWeek
from dwt.stages.cluster import ISOLATED, InfomapClusters, silent_members
from dwt.stages.columns import ints
from dwt.stages.content import ContentFinder
from dwt.stages.discover import discover_candidates
from dwt.stages.identity import ClusterMatcher
from dwt.stages.layout import MapLayout, map_discs
from dwt.stages.summaries import bond_stats, cluster_profiles
from dwt.stages.topics import TopicFinder
from dwt.store import Coll, Store
from dwt.store.candidates import excluded_accounts, record_candidates
from dwt.store.runs import update_run


class MissingInputError(RuntimeError):
    """A step needs results of an earlier step that were never stored."""


@dataclass
class Week:
    """The columns every insight step reads, loaded once per run."""

    store: Store
    spec: RunSpec
    now: datetime
    shards: int = 1
    progress: Progress | None = None
    graph: BondGraph | None = None
    labels: np.ndarray | None = field(default=None, repr=False)

    def forget(self) -> None:
        """Drop the loaded columns (after collection changed what the store holds)."""
        for name in ("member_table", "members", "interactions", "follows"):
            self.__dict__.pop(name, None)

    @property
    def since(self) -> datetime:
        return self.now - timedelta(days=self.spec.window_days)

    @cached_property
    def member_table(self) -> pa.Table:
        return self.store.members(self.spec.community)

    @cached_property
    def members(self) -> pa.Array:
        return self.member_table.column("account_id").combine_chunks()

    @cached_property
    def interactions(self) -> pa.Table:
        return self.store.interactions(self.members.to_pylist(), self.since, self.now)

    @cached_property
    def follows(self) -> pa.Table:
        return self.store.follows(self.members.to_pylist())


def discover(week: Week, run_id: str) -> dict[str, int]:
    spec = week.spec
    excluded = excluded_accounts(week.store, spec.community, week.now)
    ranked = discover_candidates(week.interactions, week.members, excluded, spec.discover.top)
    record_candidates(week.store, spec.community, run_id, ranked, week.now)
    return {"candidates": ranked.num_rows}


def bonds(week: Week, run_id: str) -> dict[str, int]:
    indexed = IndexedWeek.from_tables(week.members, week.interactions, week.follows)
    estimator = BondGraph(week.spec.weights.bond_weights())
    matrix = parallel_bond_matrix(indexed, estimator.weights, week.shards)
    graph = estimator.fit_indexed(week.members, indexed, matrix)
    week.graph = graph

    csr = graph.matrix_
    ids = np.asarray(graph.members_.to_pylist(), dtype=object)
    # One document per member (its bonds, possibly none, and its activity), kept under the
    # run until the run publishes its week (dwt.store.weeks).
    docs = [
        {
            "source_id": ids[row],
            "targets": ids[csr.indices[csr.indptr[row] : csr.indptr[row + 1]]].tolist(),
            "weights": csr.data[csr.indptr[row] : csr.indptr[row + 1]].tolist(),
            "activity": int(graph.activity_[row]),
        }
        for row in range(len(ids))
    ]
    store, community = week.store, week.spec.community
    store.replace_results(Coll.BONDS, community, run_id, docs)
    # The follow lists behind these bonds are read on their own, slower cadence (they are
    # billed per account): say how old they are.
    ages = follows_age_days(store, ids.tolist(), datetime.now(UTC))
    update_run(store, run_id, follows_used=ages)
    told = {"follow_lists_never_read": int(ages["never_read"])}
    if ages["median"] is not None:
        told |= {
            "follow_lists_median_age_days": float(ages["median"]),
            "follow_lists_max_age_days": float(ages["max"]),
        }
    return {"tweets": int(graph.activity_.sum()), "bonds": int(csr.nnz), **told}


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


def _stored_graph(week: Week) -> BondGraph:
    """The bond graph the last bonds step stored, restricted to the current members."""
    activity = week.member_table.column("activity")
    if activity.null_count == len(activity) and len(activity):
        raise MissingInputError("no bonds stored for this community: run the bonds step first")
    graph = BondGraph(week.spec.weights.bond_weights())
    graph.members_ = week.members
    graph.matrix_ = stored_bonds(week.store, week.spec.community, week.members)
    graph.activity_ = ints(pc.fill_null(activity, 0))
    return graph


def cluster(week: Week, run_id: str) -> dict[str, int]:
    graph = week.graph or _stored_graph(week)
    spec = week.spec.clustering
    model = InfomapClusters(
        trials=spec.trials,
        seed=spec.seed,
        directed=spec.directed,
        weight_transform=spec.weight_transform,
        prefer_modular=spec.prefer_modular,
    )
    # Silent members (no tweet, nothing directed at them) go to ISOLATED, not to a
    # singleton cluster made of their follow-only bonds (dwt.stages.cluster).
    model.fit(graph.matrix_, graph.activity_, silent_members(week.members, week.interactions))
    # Last week's numbers for the same groups (dwt.stages.identity): "cluster 5" stays 5.
    matcher = ClusterMatcher().fit(_previous_labels(week), model.labels_)
    labels = matcher.labels_
    week.labels = labels

    store, community = week.store, week.spec.community
    profiles = cluster_profiles(week.members, labels, graph.matrix_, model.flow_, week.interactions)
    changes = {row.pop("cluster"): row for row in matcher.changes_.to_pylist()}
    # The map's positions, once per analysis (dwt.stages.layout): the dashboard draws them.
    placed = MapLayout(seed=spec.seed).fit(graph.matrix_, labels)
    discs = map_discs(placed)
    store.replace_results(
        Coll.CLUSTERS,
        community,
        run_id,
        (
            _with_change(doc, changes.get(doc["cluster"])) | discs[doc["cluster"]]
            for doc in profiles.to_pylist()
        ),
    )
    stats = bond_stats(
        week.members, labels, graph.matrix_, week.interactions, graph.weights
    ).to_pylist()
    store.replace_results(
        Coll.PLACEMENTS,
        community,
        run_id,
        (
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
        ),
    )
    return {
        "clusters": model.n_clusters_,
        "isolated": int((labels == ISOLATED).sum()),
    }


def _previous_labels(week: Week) -> np.ndarray:
    """The clusters the members carry from the last cluster step (-1: none, or new)."""
    return ints(pc.fill_null(week.member_table.column("cluster"), ISOLATED))


def _with_change(doc: dict, change: dict | None) -> dict:
    """A cluster's doc with how it changed since the last clustering (``change``: kept,
    grew, shrank, split, merged or new; ``size_before``, ``previous``, ``similarity``);
    the isolated group has none."""
    if change is None:
        return doc
    change.pop("size", None)  # the profile has it
    return {**doc, **change}


def _stored_labels(week: Week) -> np.ndarray:
    labels = week.member_table.column("cluster")
    if labels.null_count == len(labels) and len(labels):
        raise MissingInputError("no clusters stored for this community: run the cluster step")
    # Members added since the last clustering have no cluster yet: treat them as isolated.
    return ints(pc.fill_null(labels, ISOLATED))


def content(week: Week, run_id: str) -> dict[str, int]:
    labels = week.labels if week.labels is not None else _stored_labels(week)
    spec = week.spec.content
    finder = ContentFinder(
        bucket=timedelta(minutes=spec.bucket_minutes),
        trend_sigma=spec.trend_sigma,
        trend_min=spec.trend_min,
        eps=spec.eps,
        min_samples=spec.min_samples,
    ).fit(week.interactions, week.members, labels, window=(week.since, week.now))
    conversations = finder.conversations_
    week.store.replace_results(
        Coll.CONVERSATIONS, week.spec.community, run_id, conversations.to_pylist()
    )
    trending = conversations.column("trending").to_pylist()
    counts = {"conversations": conversations.num_rows, "trending": int(sum(trending))}
    if spec.topics.enabled:
        counts |= _topics(week, run_id, labels)
    return counts


#: Where the topics step finds a tweet's text and expanded URLs in a tweet document.
_TEXT_FIELDS = {"tweet_id": "_id", "text": "text", "urls": "entities.urls"}
_TEXT_SCHEMA = pa.schema(
    [
        ("tweet_id", pa.string()),
        ("text", pa.string()),
        ("urls", pa.list_(pa.struct([("expanded_url", pa.string()), ("url", pa.string())]))),
    ]
)


def _with_text(week: Week, interactions: pa.Table, since: datetime, until: datetime) -> pa.Table:
    """``interactions`` with the ``text`` and ``urls`` of its standalone tweets (the only
    ones topics read), in one columnar read of the tweets collection."""
    match = {
        "author_id": {"$in": week.members.to_pylist()},
        "created_at": {"$gte": since, "$lt": until},
        "dwt.kind": {"$in": ["tweet", "quote"]},
    }
    read = week.store.table(Coll.TWEETS, match, [("_id", 1)], _TEXT_FIELDS, _TEXT_SCHEMA)
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


def _topics(week: Week, run_id: str, labels: np.ndarray) -> dict[str, int]:
    """Trending hashtags, terms and URLs of standalone tweets (dwt.stages.topics), each
    against its own baseline: this window and ``historyDays`` before it."""
    spec = week.spec.content.topics
    interactions = _with_text(week, week.interactions, week.since, week.now)
    history = None
    if spec.history_days:
        start = week.since - timedelta(days=spec.history_days)
        earlier = week.store.interactions(week.members.to_pylist(), start, week.since)
        history = _with_text(week, earlier, start, week.since) if earlier.num_rows else None
    finder = TopicFinder(
        bucket=timedelta(minutes=spec.bucket_minutes),
        span=spec.span_buckets,
        min_count=spec.min_count,
        min_members=spec.min_members,
        min_ratio=spec.min_ratio,
        max_p=spec.max_p,
        top=spec.top,
        terms=spec.terms,
    ).fit(interactions, week.members, labels, window=(week.since, week.now), history=history)
    topics = finder.topics_
    week.store.replace_results(Coll.TOPICS, week.spec.community, run_id, topics.to_pylist())
    return {
        "topics": topics.num_rows,
        "trending_topics": int(pc.sum(topics.column("trending")).as_py() or 0),
    }


def default_shards(n_members: int, cpus: int) -> int:
    """Enough shards to use the CPUs on large weeks, one for small ones (Ray overhead)."""
    return max(1, min(cpus, math.ceil(n_members / 2000)))
