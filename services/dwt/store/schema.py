"""The one place that names MongoDB collections, their natural keys and their indexes.

Every document's ``_id`` is made from its natural key (see :data:`NATURAL_KEYS` and
:func:`doc_id`), so every write is an upsert by ``_id``: writing the same data twice leaves
one copy, concurrent writers cannot create duplicates, and both engines (a MongoDB server and
the embedded SQLite store) find the document in O(1). The key fields
are kept in the document too, for queries. X API v2 objects keep the API's own field names.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any, Literal

from pymongo import ASCENDING, DESCENDING, IndexModel


class Coll(enum.StrEnum):
    """Collection names."""

    COMMUNITIES = "communities"
    MEMBERS = "members"
    CANDIDATES = "candidates"
    ACCOUNTS = "accounts"
    FOLLOWS = "follows"
    TWEETS = "tweets"
    RUNS = "runs"
    BONDS = "bonds"
    CLUSTERS = "clusters"
    CONVERSATIONS = "conversations"
    TOPICS = "topics"  # trending hashtags, terms and URLs per cluster and tier
    COLLECT_STATE = "collect_state"  # per account: collection checkpoints
    SESSIONS = "dashboard_sessions"  # the dashboard's logins (id: a digest of the cookie's)
    PLACEMENTS = "placements"  # per member and cluster step: cluster, flow, position, stats
    WEEKS = "weeks"  # per community: the runs whose results are shown (dwt.store.weeks)
    LEASES = "run_leases"  # per community: the one run allowed to go on (dwt.store.leases)
    CHARGES = "charges"  # what X billed: one document per collection attempt or lookup
    API_LIMITS = "api_limits"  # per API key and endpoint: the limit X's headers reported
    TABLES = "result_tables"  # a run's large results as Parquet parts (all conversations)


#: The fields that identify a document; ``_id`` is made from them by :func:`doc_id`.
NATURAL_KEYS: dict[Coll, tuple[str, ...]] = {
    Coll.COMMUNITIES: ("_id",),
    Coll.MEMBERS: ("community", "account_id"),
    Coll.CANDIDATES: ("community", "account_id"),
    Coll.ACCOUNTS: ("_id",),
    Coll.FOLLOWS: ("_id",),  # the source account: one follow list per account
    Coll.TWEETS: ("_id",),
    Coll.RUNS: ("_id",),
    # A step's results are kept under the run that made them: a week's results become
    # visible together when the run publishes them (dwt.store.weeks).
    Coll.BONDS: ("community", "run_id", "source_id"),  # one adjacency list per member
    Coll.CLUSTERS: ("community", "run_id", "cluster"),
    Coll.PLACEMENTS: ("community", "run_id", "account_id"),
    Coll.CONVERSATIONS: ("community", "run_id", "cluster", "tier", "conversation_id"),
    # topic last: a URL's "/" is safe
    Coll.TOPICS: ("community", "run_id", "cluster", "tier", "topic"),
    Coll.COLLECT_STATE: ("_id",),  # the account id
    Coll.SESSIONS: ("_id",),  # sha256 of the session id the cookie carries
    Coll.WEEKS: ("_id",),  # the community
    Coll.LEASES: ("_id",),  # the community
    Coll.CHARGES: ("_id",),  # "<run id>/<attempt>/<time>" or "lookup/<community>/<time>"
    Coll.API_LIMITS: ("key", "endpoint"),  # a key's fingerprint, never the key
    Coll.TABLES: ("community", "run_id", "name", "part"),
}

#: The collections that hold a step's results, by the step that writes them.
RESULTS: dict[str, tuple[Coll, ...]] = {
    "bonds": (Coll.BONDS,),
    "clusters": (Coll.CLUSTERS, Coll.PLACEMENTS),
    "content": (Coll.CONVERSATIONS, Coll.TOPICS, Coll.TABLES),
}

#: A cluster-tier's results in rank order (conversations and topics, as the dashboard lists them).
_CLUSTER_TIER_RANK = IndexModel(
    [("community", ASCENDING), ("run_id", ASCENDING), ("cluster", ASCENDING),
     ("tier", ASCENDING), ("rank", ASCENDING)],
    name="community_run_cluster_tier_rank",
)  # fmt: skip
_RUN = IndexModel([("community", ASCENDING), ("run_id", ASCENDING)], name="run")

#: Secondary indexes, for the queries the stages and the dashboard make.
_SECONDARY: dict[Coll, list[IndexModel]] = {
    Coll.MEMBERS: [
        IndexModel([("community", ASCENDING), ("account_id", ASCENDING)], name="community"),
        IndexModel([("account_id", ASCENDING)], name="account"),
    ],
    Coll.CANDIDATES: [
        IndexModel(
            [("community", ASCENDING), ("status", ASCENDING), ("interactions", DESCENDING)],
            name="community_status_rank",
        )
    ],
    Coll.ACCOUNTS: [IndexModel([("username_lower", ASCENDING)], name="username")],
    Coll.TWEETS: [
        IndexModel([("author_id", ASCENDING), ("created_at", ASCENDING)], name="author_time"),
        IndexModel([("conversation_id", ASCENDING)], name="conversation"),
        IndexModel([("created_at", ASCENDING)], name="time"),
    ],
    Coll.RUNS: [
        IndexModel([("community", ASCENDING), ("started_at", DESCENDING)], name="community_time")
    ],
    Coll.BONDS: [_RUN],
    Coll.CONVERSATIONS: [_CLUSTER_TIER_RANK, _RUN],
    Coll.TOPICS: [_CLUSTER_TIER_RANK, _RUN],
    Coll.CLUSTERS: [_RUN],
    Coll.PLACEMENTS: [_RUN],
    Coll.TABLES: [
        IndexModel(
            [("community", ASCENDING), ("run_id", ASCENDING), ("name", ASCENDING)], name="run"
        )
    ],
    Coll.CHARGES: [
        IndexModel([("community", ASCENDING), ("at", DESCENDING)], name="community_time"),
        IndexModel([("at", DESCENDING)], name="time"),
    ],
    Coll.SESSIONS: [
        IndexModel([("user", ASCENDING)], name="user"),
        IndexModel([("expires_at", ASCENDING)], name="expiry"),
    ],
}


#: Separates the parts of a composite ``_id`` (never part of a community name or an id).
ID_SEPARATOR = "/"


def doc_id(coll: Coll, doc: Mapping[str, Any]) -> str:
    """The ``_id`` of a document: its own for single-key collections, else the natural key's
    values joined, e.g. ``members`` → ``"ai-ethics/783214"``."""
    key = NATURAL_KEYS[coll]
    if key == ("_id",):
        return doc["_id"]
    return ID_SEPARATOR.join(str(doc[field]) for field in key)


def index_models(coll: Coll) -> list[IndexModel]:
    """A collection's secondary indexes (``_id`` is the natural key, indexed by itself)."""
    return list(_SECONDARY.get(coll, []))


# ---- document shapes -------------------------------------------------------------------

#: Fields that hold arrays: an equality filter on one matches when the array contains the
#: value (MongoDB's rule; the embedded store needs to be told which fields those are).
ARRAY_FIELDS: dict[Coll, frozenset[str]] = {
    Coll.RUNS: frozenset({"steps"}),
    Coll.FOLLOWS: frozenset({"targets", "pass_targets"}),
    Coll.TWEETS: frozenset({"dwt.directed_at", "dwt.hashtags", "referenced_tweets"}),
    Coll.BONDS: frozenset({"targets", "weights"}),
    Coll.CLUSTERS: frozenset({"members", "central", "hashtags"}),
    Coll.CONVERSATIONS: frozenset({"tweet_ids"}),
    Coll.TOPICS: frozenset({"tweet_ids", "also"}),
    Coll.COMMUNITIES: frozenset({"owners"}),
}

MemberSource = Literal["manual", "discover", "import"]
