"""What an export reads from the store: typed Arrow tables of one community's results.

:class:`dwt.store.Store`'s own columnar reads serve the pipeline and carry only the columns
it needs; an export wants every result field a run leaves (flow, bond stats, status), so
these reads name them here and :meth:`Store.table` builds the columns, with missing fields
as nulls.
"""

from __future__ import annotations

import pyarrow as pa

from dwt.store import Coll, Store
from dwt.store.weeks import shown_run

TIERS = (1, 2, 3)

#: One row per member: identity, the fields the pipeline steps set, and the strongest
#: partner per tier (an account id, possibly an outsider) with its bond weight.
MEMBER_DETAILS_SCHEMA = pa.schema(
    [
        ("account_id", pa.string()),
        ("username", pa.string()),
        ("core", pa.bool_()),
        ("status", pa.string()),  # null unless collection found the account unreachable
        ("cluster", pa.int64()),  # null until a cluster step ran
        ("activity", pa.int64()),  # null until a bonds step ran
        ("flow", pa.float64()),  # null until a cluster step ran
        *(
            field
            for tier in TIERS
            for field in (
                (f"tier{tier}_partner", pa.string()),
                (f"tier{tier}_weight", pa.float64()),
            )
        ),
    ]
)
CLUSTERS_SCHEMA = pa.schema(
    [
        ("cluster", pa.int64()),
        ("size", pa.int64()),
        ("label", pa.string()),
        ("hashtags", pa.list_(pa.string())),
        ("central", pa.list_(pa.string())),  # account ids, most central first
        ("internal_weight", pa.float64()),
        ("external_weight", pa.float64()),
        ("members", pa.list_(pa.string())),  # account ids, by flow
        ("run_id", pa.string()),
    ]
)
CONVERSATIONS_SCHEMA = pa.schema(
    [
        ("cluster", pa.int64()),
        ("tier", pa.int64()),
        ("rank", pa.int64()),
        ("conversation_id", pa.string()),
        ("trending", pa.bool_()),
        ("size", pa.int64()),
        ("participants", pa.int64()),
        ("engagement", pa.int64()),
        ("started_at", pa.timestamp("ms", tz="UTC")),
        ("last_at", pa.timestamp("ms", tz="UTC")),
        ("related", pa.int64()),
        ("tweet_ids", pa.list_(pa.string())),
        ("run_id", pa.string()),
    ]
)

#: The topics the last content step stored (see dwt.stages.topics), as a reader wants them.
TOPICS_SCHEMA = pa.schema(
    [
        ("cluster", pa.int64()),
        ("tier", pa.int64()),
        ("rank", pa.int64()),
        ("topic", pa.string()),
        ("kind", pa.string()),
        ("trending", pa.bool_()),
        ("count", pa.int64()),
        ("members", pa.int64()),
        ("baseline", pa.float64()),
        ("score", pa.float64()),
        ("first_at", pa.timestamp("ms", tz="UTC")),
        ("last_at", pa.timestamp("ms", tz="UTC")),
        ("also", pa.list_(pa.string())),
        ("tweet_ids", pa.list_(pa.string())),
        ("run_id", pa.string()),
    ]
)


def _table(
    store: Store, coll: Coll, community: str, sort: dict[str, int], schema: pa.Schema
) -> pa.Table:
    """The community's results shown (the week its last complete run published)."""
    return store.table(coll, store.shown(coll, community), list(sort.items()), {}, schema)


def member_details(store: Store, community: str) -> pa.Table:
    """The community's members with every result field (MEMBER_DETAILS_SCHEMA), by id."""
    stats = {
        f"tier{tier}_{part}": f"bond_stats.tier{tier}_{part}"
        for tier in TIERS
        for part in ("partner", "weight")
    }
    return store.member_results(community, MEMBER_DETAILS_SCHEMA, stats)


def clusters(store: Store, community: str) -> pa.Table:
    """The clusters the last cluster step stored (CLUSTERS_SCHEMA), by cluster number."""
    return _table(store, Coll.CLUSTERS, community, {"cluster": 1}, CLUSTERS_SCHEMA)


def conversations(store: Store, community: str) -> pa.Table:
    """Every conversation the last content step found (CONVERSATIONS_SCHEMA), in rank order
    within each cluster and tier: its columnar table (the documents hold the top ones)."""
    run = shown_run(store, Coll.TABLES, community)
    schema = pa.schema([f for f in CONVERSATIONS_SCHEMA if f.name != "run_id"])
    found = store.result_table(community, "conversations", run, schema) if run else None
    if found is None:
        return CONVERSATIONS_SCHEMA.empty_table()
    found = found.sort_by([("cluster", "ascending"), ("tier", "ascending"), ("rank", "ascending")])
    return found.append_column("run_id", pa.array([run] * found.num_rows, pa.string()))


def topics(store: Store, community: str) -> pa.Table:
    """The topics the last content step stored (TOPICS_SCHEMA), trending first within each
    cluster and tier."""
    return _table(
        store, Coll.TOPICS, community, {"cluster": 1, "tier": 1, "rank": 1}, TOPICS_SCHEMA
    )


def content_ran(store: Store, community: str) -> bool:
    """Whether a content step's results are shown for the community: tells "no
    conversations this week" (write empty files) from "never looked" (say which step to
    run)."""
    return shown_run(store, Coll.CONVERSATIONS, community) is not None
