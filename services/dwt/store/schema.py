"""The one place that names MongoDB collections, their natural keys and their indexes.

Every write is an upsert on a collection's natural key (see :data:`NATURAL_KEYS`), backed by a
unique index, so writing the same data twice leaves one copy. Documents are described by
``TypedDict``s; the X API v2 objects keep the API's own field names.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any, Literal, NotRequired, TypedDict

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


#: The fields that identify a document: upserts filter on them, a unique index enforces them.
NATURAL_KEYS: dict[Coll, tuple[str, ...]] = {
    Coll.COMMUNITIES: ("_id",),
    Coll.MEMBERS: ("community", "account_id"),
    Coll.CANDIDATES: ("community", "account_id"),
    Coll.ACCOUNTS: ("_id",),
    Coll.FOLLOWS: ("source_id", "target_id"),
    Coll.TWEETS: ("_id",),
    Coll.RUNS: ("_id",),
    Coll.BONDS: ("community", "source_id"),  # one adjacency list per member
    Coll.CLUSTERS: ("community", "cluster"),
    Coll.CONVERSATIONS: ("community", "cluster", "tier", "conversation_id"),
}

#: Secondary indexes, for the queries the stages and the dashboard make.
_SECONDARY: dict[Coll, list[IndexModel]] = {
    Coll.MEMBERS: [IndexModel([("account_id", ASCENDING)], name="account")],
    Coll.CANDIDATES: [
        IndexModel(
            [("community", ASCENDING), ("status", ASCENDING), ("interactions", DESCENDING)],
            name="community_status_rank",
        )
    ],
    Coll.ACCOUNTS: [IndexModel([("username_lower", ASCENDING)], name="username")],
    Coll.FOLLOWS: [IndexModel([("target_id", ASCENDING)], name="target")],
    Coll.TWEETS: [
        IndexModel([("author_id", ASCENDING), ("created_at", ASCENDING)], name="author_time"),
        IndexModel([("conversation_id", ASCENDING)], name="conversation"),
        IndexModel([("created_at", ASCENDING)], name="time"),
    ],
    Coll.RUNS: [
        IndexModel([("community", ASCENDING), ("started_at", DESCENDING)], name="community_time")
    ],
    Coll.BONDS: [IndexModel([("community", ASCENDING), ("run_id", ASCENDING)], name="run")],
    Coll.CONVERSATIONS: [
        IndexModel(
            [
                ("community", ASCENDING),
                ("cluster", ASCENDING),
                ("tier", ASCENDING),
                ("rank", ASCENDING),
            ],
            name="community_cluster_tier_rank",
        )
    ],
    Coll.CLUSTERS: [IndexModel([("community", ASCENDING), ("run_id", ASCENDING)], name="run")],
}


def index_models(coll: Coll) -> list[IndexModel]:
    """All indexes of a collection: the natural key's unique index first."""
    key = NATURAL_KEYS[coll]
    models = list(_SECONDARY.get(coll, []))
    if key != ("_id",):
        unique = IndexModel([(f, ASCENDING) for f in key], unique=True, name="natural_key")
        models.insert(0, unique)
    return models


# ---- document shapes -------------------------------------------------------------------

AccountStatus = Literal["active", "protected", "suspended", "not_found"]
CandidateStatus = Literal["pending", "added", "muted", "blocked"]
MemberSource = Literal["manual", "discover", "import"]


class CommunityDoc(TypedDict):
    _id: str  # the community's name (a DNS-1123 label, so it can name Kubernetes objects)
    title: str
    created_at: datetime
    owners: list[str]


class BondStatsDoc(TypedDict):
    """The strongest partner in each tier (null when none) and the bond's weight."""

    tier1_partner: str | None
    tier1_weight: float | None
    tier2_partner: str | None
    tier2_weight: float | None
    tier3_partner: str | None
    tier3_weight: float | None


class MemberDoc(TypedDict):
    community: str
    account_id: str
    username: str
    core: bool
    source: MemberSource
    added_at: datetime
    status: NotRequired[AccountStatus]  # set by collection when an account is unreachable
    status_seen_at: NotRequired[datetime]
    cluster: NotRequired[int]  # set by the cluster step (-1: no bonds this week)
    activity: NotRequired[int]  # tweets in the last window
    flow: NotRequired[float]  # Infomap flow: how central the member is
    bond_stats: NotRequired[BondStatsDoc]
    run_id: NotRequired[str]  # the run that set the fields above


class CandidateDoc(TypedDict):
    community: str
    account_id: str
    username: NotRequired[str]
    interactions: int
    status: CandidateStatus
    muted_until: NotRequired[datetime]
    updated_at: datetime


class FollowDoc(TypedDict):
    source_id: str  # follows
    target_id: str
    seen_at: datetime


class InteractionDoc(TypedDict):
    """The ``dwt`` sub-document of a tweet: see :mod:`dwt.model.interactions`."""

    kind: str | None
    directed_at: list[str]
    referenced_id: str | None  # the retweeted / replied-to / quoted tweet
    hashtags: list[str]
    unknown: list[str]


class TweetDoc(TypedDict):
    """An X API v2 tweet as the API sent it, plus ``dwt`` and ``collected_at``."""

    _id: str
    id: str
    text: str
    author_id: NotRequired[str]
    created_at: NotRequired[datetime]
    conversation_id: NotRequired[str]
    referenced_tweets: NotRequired[list[dict[str, str]]]
    entities: NotRequired[dict[str, Any]]
    in_reply_to_user_id: NotRequired[str]
    public_metrics: NotRequired[dict[str, int]]
    lang: NotRequired[str]
    dwt: InteractionDoc
    collected_at: datetime


class RunDoc(TypedDict):
    _id: str
    community: str
    steps: list[str]
    params: dict[str, Any]
    status: str
    started_at: datetime
    finished_at: NotRequired[datetime]
    counts: dict[str, int]
    timings: dict[str, float]
    progress: NotRequired[dict[str, Any]]
    error: NotRequired[str]


class BondDoc(TypedDict):
    """The bonds out of one member: ``weights[i]`` on source → ``targets[i]``."""

    community: str
    source_id: str
    targets: list[str]
    weights: list[float]
    run_id: str


class ClusterDoc(TypedDict):
    community: str
    cluster: int  # -1: members without bonds this week
    run_id: str
    size: int
    members: list[str]  # by flow, most central first
    central: list[str]
    internal_weight: float
    external_weight: float
    hashtags: list[str]
    label: str


class ConversationDoc(TypedDict):
    """One conversation's tweets by one cluster's members at one tier (a "slice")."""

    community: str
    cluster: int
    tier: int  # 1 within the cluster, 2 with other clusters, 3 with outsiders
    conversation_id: str
    tweet_ids: list[str]
    size: int
    participants: int
    engagement: int
    started_at: datetime
    last_at: datetime
    trending: bool
    related: int  # related-conversation group within the cluster, -1 none
    rank: int  # 0 first, within (cluster, tier)
    run_id: str
