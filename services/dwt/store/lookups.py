"""Small reads that pages and reports ask for by id, name, state or time (the dashboard's
and the demo's): what they need, so that no filter is written outside the store."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from dwt.store.schema import Coll
from dwt.store.store import Store

#: A member's ``status`` when X would not give its tweets (dwt.xapi.errors.UnavailableReason).
UNREADABLE = ("protected", "suspended", "not_found")


def existing_communities(store: Store, names: Iterable[str]) -> set[str]:
    """Which of ``names`` are communities of the store."""
    found = store[Coll.COMMUNITIES].find({"_id": {"$in": list(names)}}, {"_id": 1})
    return {d["_id"] for d in found}


def tweet_docs(store: Store, ids: Iterable[str], fields: Sequence[str]) -> list[dict[str, Any]]:
    """The stored tweets among ``ids``, with their ``_id`` and ``fields``."""
    found = store[Coll.TWEETS].find({"_id": {"$in": list(ids)}}, dict.fromkeys(fields, 1))
    return list(found)


def unreadable_members(store: Store, community: str) -> list[dict[str, Any]]:
    """The community's members whose tweets X would not give (:data:`UNREADABLE`)."""
    match = {"community": community, "status": {"$in": list(UNREADABLE)}}
    return list(store[Coll.MEMBERS].find(match))


def members_added_since(store: Store, community: str, since: datetime) -> int:
    return store[Coll.MEMBERS].count_documents(
        {"community": community, "added_at": {"$gte": since}}
    )


def succeeded_runs(store: Store, community: str, having: str, limit: int) -> list[dict[str, Any]]:
    """The community's latest succeeded runs that recorded ``having`` (a dotted field, as
    ``params.window`` or ``counts.clusters``), newest first."""
    match = {"community": community, "status": "succeeded", having: {"$exists": True}}
    return list(store[Coll.RUNS].find(match).sort("started_at", -1).limit(limit))


def cluster_count(store: Store, community: str) -> int:
    """How many clusters the analysis shown found (not counting the isolated members')."""
    match = store.shown(Coll.CLUSTERS, community, cluster={"$gte": 0})
    return store[Coll.CLUSTERS].count_documents(match)


def changed_clusters(store: Store, community: str, changes: Iterable[str]) -> list[dict[str, Any]]:
    """The shown clusters whose ``change`` since the last clustering is one of ``changes``,
    without their member lists."""
    match = store.shown(Coll.CLUSTERS, community, change={"$in": list(changes)})
    return list(store[Coll.CLUSTERS].find(match, {"_id": 0, "members": 0}))
