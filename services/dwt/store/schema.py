"""The one place that names MongoDB collections, their natural keys and their indexes.

Every document's ``_id`` is made from its natural key (see :data:`NATURAL_KEYS` and
:func:`doc_id`), so every write is an upsert by ``_id``: writing the same data twice leaves
one copy, concurrent writers cannot create duplicates, and both engines (a server, and the
in-process one, which has no secondary indexes) find the document in O(1). The key fields
are kept in the document too, for queries. Documents are described by ``TypedDict``s; the
X API v2 objects keep the API's own field names.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
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
    COLLECT_STATE = "collect_state"  # per account: collection checkpoints


#: The fields that identify a document; ``_id`` is made from them by :func:`doc_id`.
NATURAL_KEYS: dict[Coll, tuple[str, ...]] = {
    Coll.COMMUNITIES: ("_id",),
    Coll.MEMBERS: ("community", "account_id"),
    Coll.CANDIDATES: ("community", "account_id"),
    Coll.ACCOUNTS: ("_id",),
    Coll.FOLLOWS: ("_id",),  # the source account: one follow list per account
    Coll.TWEETS: ("_id",),
    Coll.RUNS: ("_id",),
    Coll.BONDS: ("community", "source_id"),  # one adjacency list per member
    Coll.CLUSTERS: ("community", "cluster"),
    Coll.CONVERSATIONS: ("community", "cluster", "tier", "conversation_id"),
    Coll.COLLECT_STATE: ("_id",),  # the account id
}

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
    Coll.FOLLOWS: [IndexModel([("targets", ASCENDING)], name="target")],
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
    """The accounts ``_id`` follows, as of the last complete pass over its follow list."""

    _id: str
    targets: list[str]
    seen_at: datetime
    pass_targets: NotRequired[list[str]]  # pages of a pass still in progress


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


class TimelinePass(TypedDict):
    """An unfinished pass over an account's timeline: enough to resume it."""

    start_time: str | None
    end_time: str | None
    since_id: str | None
    next_token: str | None
    newest_id: str | None  # the newest tweet the pass has seen (its first page)
    started_at: datetime


class CollectStateDoc(TypedDict):
    """Per account, what collection has done, so runs continue and never fetch twice."""

    _id: str
    timeline_newest_id: NotRequired[str]  # newest tweet of the last completed pass
    timeline_done_at: NotRequired[datetime]
    timeline_pass: NotRequired[TimelinePass]
    following_done_at: NotRequired[datetime]
    following_pass: NotRequired[dict[str, Any]]  # next_token, started_at
    status: NotRequired[AccountStatus]
    status_seen_at: NotRequired[datetime]


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
