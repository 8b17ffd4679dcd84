"""The insight steps (discover, bonds, cluster, content): the week's partitions fanned out as
tasks (:mod:`dwt.pipeline.tasks`) on an executor (:mod:`dwt.pipeline.executor`). The stages
themselves (``dwt.stages``) never touch the store; the tasks read their partition and write
what they make, in bulk, under the run's id (what an earlier attempt of the run left is
cleared first); the run publishes them once every step succeeded (:mod:`dwt.store.weeks`).

Where the tasks run is chosen by the week's measured size (:func:`choose_executor`): on
Ray, over shards of authors, once the window holds :data:`RAY_MIN_TWEETS` member tweets and
a Ray runtime is up; in this process, as one shard, below it (a Ray task costs ~10 ms and
ships its inputs; a small week is done before a cluster's workers have its data). The run
record says, per step, where it ran, how many tasks and on which nodes (``placement``).

Each step can run alone: cluster reads the bonds shown, content the clusters shown, so
``--steps content`` after a weights change reuses what is there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp

from dwt.pipeline import tasks
from dwt.pipeline.executor import Executor, InProcess, OnRay, StoreRef, placement
from dwt.pipeline.progress import Progress
from dwt.pipeline.spec import MAX_SHARDS, RunSpec
from dwt.stages.bonds import FollowGraph, IndexedWeek, RowInputs, bond_rows, stack_rows
from dwt.stages.cluster import ISOLATED
from dwt.stages.columns import ints
from dwt.stages.weights import BondWeights
from dwt.store import Store
from dwt.store.runs import update_run
from dwt.store.schema import RESULTS


class MissingInputError(RuntimeError):
    """A step needs results of an earlier step that were never stored."""


#: Member tweets in the window from which the steps run on Ray (when a runtime is up).
RAY_MIN_TWEETS = 200_000
#: Member tweets per shard of authors on Ray (a shard's table is ~30 MB at this size).
TWEETS_PER_SHARD = 100_000


def ray_ready() -> bool:
    try:
        import ray
    except ImportError:  # pragma: no cover - ray is a dependency
        return False
    return ray.is_initialized()


def choose_executor(tweets: int, shards: int = 0) -> tuple[Executor, int]:
    """Where the steps run and over how many shards of authors: ``shards`` (≥ 1) forces
    Ray with that many when a runtime is up; otherwise Ray from :data:`RAY_MIN_TWEETS`
    member tweets, with a shard per :data:`TWEETS_PER_SHARD` and at least one per CPU of
    the cluster; this process, as one shard, without Ray or below it."""
    if not ray_ready():
        return InProcess(), 1
    if shards >= 1:
        return OnRay(), min(shards, MAX_SHARDS)
    if tweets < RAY_MIN_TWEETS:
        return InProcess(), 1
    import ray

    cpus = int(ray.cluster_resources().get("CPU", 1))
    wanted = max(cpus, math.ceil(tweets / TWEETS_PER_SHARD))
    return OnRay(), min(wanted, MAX_SHARDS)


@dataclass
class Week:
    """A run's week: its members, where its tasks run, and its partitions, made once."""

    store: Store
    spec: RunSpec
    now: datetime
    shards: int = 0  # 0: chosen by size (choose_executor)
    progress: Progress | None = None
    executor: Executor | None = None
    run_id: str = ""
    #: What the bonds step left for the cluster step: bond blocks and each member's tweets.
    blocks: list[Any] | None = field(default=None, repr=False)
    activity: np.ndarray | None = field(default=None, repr=False)
    labels: np.ndarray | None = field(default=None, repr=False)

    def forget(self) -> None:
        """Drop what was loaded (after collection changed what the store holds)."""
        for name in ("member_table", "members", "tweet_count", "ctx", "parts", "plan"):
            self.__dict__.pop(name, None)
        self.executor = None if self.shards == 0 else self.executor

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
    def tweet_count(self) -> int:
        """Member tweets in the window (counted by the store, nothing read)."""
        return self.store.tweet_span(self.members.to_pylist(), self.since, self.now)[0]

    @cached_property
    def plan(self) -> tuple[Executor, list[np.ndarray]]:
        """The executor and the shards of authors (member indices, interleaved)."""
        executor, shards = self.executor, self.shards or 1
        if executor is None:
            executor, shards = choose_executor(self.tweet_count, self.shards)
            self.executor = executor
        n = len(self.members)
        return executor, [np.arange(i, n, shards) for i in range(min(shards, max(n, 1)))]

    @property
    def ex(self) -> Executor:
        return self.plan[0]

    @property
    def blocks_of_rows(self) -> list[np.ndarray]:
        return self.plan[1]

    @cached_property
    def ctx(self) -> Any:
        """The run's :class:`~dwt.pipeline.tasks.RunContext`, shared once."""
        context = tasks.RunContext(
            StoreRef.of(self.store),
            self.spec.community,
            self.run_id,
            self.spec,
            self.since,
            self.now,
            self.members,
        )
        return self.ex.put(context)

    @cached_property
    def parts(self) -> list[Any]:
        """The week read once: one table of interactions per shard of authors."""
        return [
            self.ex.submit("read", f"read-{s}", tasks.read_shard, self.ctx, rows)
            for s, rows in enumerate(self.blocks_of_rows)
        ]

    def record(self, step: str) -> dict[str, Any]:
        """Record where ``step``'s tasks ran (the run record's ``placement``: per step, and
        ``tasks``: every task so far, with its node, CPU and wall seconds)."""
        every = self.ex.task_records()
        records = [r for r in every if r.step in (step, "read")]
        where = placement(records, self.ex.where)
        if self.run_id:
            fields: dict[str, Any] = {f"placement.{s}": p for s, p in where.items()}
            fields["tasks"] = [r.as_dict() for r in every]
            update_run(self.store, self.run_id, **fields)
        return where


def _fresh(week: Week, kind: str) -> None:
    """What an earlier attempt of this run left of the step's results goes before its tasks
    write theirs (a retry resumes the same run id; the tasks write parts, not a whole set)."""
    for coll in RESULTS[kind]:
        week.store.clear_results(coll, week.spec.community, week.run_id)


def discover(week: Week, run_id: str) -> dict[str, int]:
    week.run_id = run_id
    ex, ctx = week.ex, week.ctx
    parts = [
        ex.submit("discover", f"discover-{s}", tasks.discover_part, ctx, part)
        for s, part in enumerate(week.parts)
    ]
    merged = ex.submit("discover", "discover-merge", tasks.discover_merge, ctx, *parts)
    found = ex.get(merged)
    week.record("discover")
    return {"candidates": int(found)}


def bonds(week: Week, run_id: str) -> dict[str, int]:
    week.run_id = run_id
    _fresh(week, "bonds")
    ex, ctx, rows = week.ex, week.ctx, week.blocks_of_rows
    graph, ages = ex.submit("bonds", "follow-graph", tasks.read_follows, ctx, returns=2)
    handles = ex.put(rows)
    inputs = [
        ex.submit(
            "bonds", f"pairs-{s}", tasks.bond_inputs, ctx, part, handles, returns=2 + len(rows)
        )
        for s, part in enumerate(week.parts)
    ]
    blocks, sizes = [], []
    for b, block_rows in enumerate(rows):
        aimed = [shard[2 + b] for shard in inputs]
        block, size = ex.submit(
            "bonds",
            f"block-{b}",
            tasks.bond_block,
            ctx,
            block_rows,
            graph,
            inputs[b][0],
            inputs[b][1],
            *aimed,
            returns=2,
        )
        blocks.append(block)
        sizes.append(size)
    activity = np.zeros(len(week.members), dtype=np.int64)
    bonds_count = 0
    for block_rows, (count, nnz) in zip(rows, ex.get(sizes), strict=True):
        activity[block_rows] = count
        bonds_count += nnz
    week.blocks, week.activity = blocks, activity
    # The follow lists behind these bonds are read on their own, slower cadence (they are
    # billed per account): say how old they are.
    ages = ex.get(ages)
    update_run(week.store, run_id, follows_used=ages)
    told = {"follow_lists_never_read": int(ages["never_read"])}
    if ages["median"] is not None:
        told |= {
            "follow_lists_median_age_days": float(ages["median"]),
            "follow_lists_max_age_days": float(ages["max"]),
        }
    week.record("bonds")
    return {"tweets": int(activity.sum()), "bonds": int(bonds_count), **told}


def sharded_bond_matrix(
    week: IndexedWeek, weights: BondWeights, shards: int, executor: Executor | None = None
) -> sp.csr_matrix:
    """The bonds stage alone as blocks of rows on ``executor`` (Ray's when a runtime is up,
    else this process), stacked: for benchmarks of the stage without the store."""
    ex = executor or (OnRay() if ray_ready() else InProcess())
    graph = ex.put(week.follow_graph())
    rows = [np.arange(i, week.n, shards) for i in range(min(shards, max(week.n, 1)))]
    blocks = [
        ex.submit("bonds", f"block-{b}", _bond_block, ex.put(week.row_inputs(r)), graph, weights)
        for b, r in enumerate(rows)
    ]
    return stack_rows(week.n, list(zip(rows, ex.get(blocks), strict=True)))


def _bond_block(inputs: RowInputs, graph: FollowGraph, weights: BondWeights) -> sp.csr_matrix:
    return bond_rows(inputs, graph, weights)


def _stored_activity(week: Week) -> np.ndarray:
    """The members' tweets as the last bonds step stored them (MissingInputError: none)."""
    activity = week.member_table.column("activity")
    if activity.null_count == len(activity) and len(activity):
        raise MissingInputError("no bonds stored for this community: run the bonds step first")
    return ints(pc.fill_null(activity, 0))


def cluster(week: Week, run_id: str) -> dict[str, int]:
    week.run_id = run_id
    _fresh(week, "clusters")
    ex, ctx = week.ex, week.ctx
    blocks = week.blocks or []
    if week.blocks is None:
        _stored_activity(week)  # MissingInputError when no bonds step has run
    inputs = [
        ex.submit("cluster", f"inputs-{s}", tasks.cluster_inputs, ctx, part, returns=3)
        for s, part in enumerate(week.parts)
    ]
    parts = [i[0] for i in inputs] + [i[1] for i in inputs] + [i[2] for i in inputs]
    labels, counts = ex.submit(
        "cluster",
        "infomap",
        tasks.cluster_all,
        ctx,
        _previous_labels(week),
        len(inputs),
        *parts,
        *blocks,
        returns=2,
        spread=False,
    )
    week.labels = np.asarray(ex.get(labels))
    week.record("cluster")
    return dict(ex.get(counts))


def _previous_labels(week: Week) -> np.ndarray:
    """The clusters the members carry from the last cluster step (-1: none, or new)."""
    return ints(pc.fill_null(week.member_table.column("cluster"), ISOLATED))


def _stored_labels(week: Week) -> np.ndarray:
    labels = week.member_table.column("cluster")
    if labels.null_count == len(labels) and len(labels):
        raise MissingInputError("no clusters stored for this community: run the cluster step")
    # Members added since the last clustering have no cluster yet: treat them as isolated.
    return ints(pc.fill_null(labels, ISOLATED))


def content(week: Week, run_id: str) -> dict[str, int]:
    week.run_id = run_id
    _fresh(week, "content")
    labels = week.labels if week.labels is not None else _stored_labels(week)
    activity = week.activity
    if activity is None:
        activity = ints(pc.fill_null(week.member_table.column("activity"), 0))
    ex, ctx, parts = week.ex, week.ctx, week.parts
    groups = max(1, min(len(parts), len(np.unique(labels))))
    group_of = tasks.content_groups(labels, activity, groups)
    shared_labels, shared_groups = ex.put(labels), ex.put(group_of)
    pieces = [
        ex.submit(
            "content", f"split-{s}", tasks.split_shard, ctx, part, shared_groups, groups,
            returns=groups,
        )
        for s, part in enumerate(parts)
    ]  # fmt: skip
    if groups == 1:
        pieces = [(p,) for p in pieces]
    prepared = [
        ex.submit(
            "content",
            f"prepare-{g}",
            tasks.content_prepare,
            ctx,
            shared_labels,
            shared_groups,
            g,
            *(shard[g] for shard in pieces),
            returns=2,
        )
        for g in range(groups)
    ]
    totals = ex.submit(
        "content", "totals", tasks.content_totals, ctx, *(p[0] for p in prepared), spread=False
    )
    finished = [
        ex.submit("content", f"finish-{g}", tasks.content_finish, ctx, p[1], totals)
        for g, p in enumerate(prepared)
    ]
    counts: dict[str, int] = {"conversations": 0, "trending": 0}
    if week.spec.content.topics.enabled:
        counts |= {"topics": 0, "trending_topics": 0}
    for part in ex.get(finished):
        for name, value in part.items():
            counts[name] = counts.get(name, 0) + int(value)
    week.record("content")
    return counts
