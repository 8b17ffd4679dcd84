"""Discovered accounts and what the person decided about them.

A candidate is ``pending`` until the person acts: ``add`` (optionally as core member) makes
it a member, ``mute`` hides it until a date (7 days by default), ``block`` hides it for
good. Discovery never proposes members, blocked accounts or accounts muted until a
future date; once a mute expires the account may be proposed again.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import pyarrow as pa

from dwt.store.ops import Update
from dwt.store.schema import Coll, doc_id
from dwt.store.store import Store, StoreError, WriteSummary


class Action(enum.StrEnum):
    ADD = "add"
    CORE = "core"  # add as a core member
    MUTE = "mute"
    BLOCK = "block"


def excluded_accounts(store: Store, community: str, now: datetime) -> list[str]:
    """Accounts discovery must not propose: blocked, muted until after ``now``, added."""
    query = {
        "community": community,
        "$or": [
            {"status": {"$in": ["blocked", "added"]}},
            {"status": "muted", "muted_until": {"$gt": now}},
        ],
    }
    return [d["account_id"] for d in store[Coll.CANDIDATES].find(query, {"account_id": 1})]


def record_candidates(
    store: Store, community: str, run_id: str, ranked: pa.Table, now: datetime
) -> WriteSummary:
    """Store this run's ranked candidates (account_id, interactions, members).

    Decisions are kept: a muted or blocked account keeps its status, an expired mute turns
    back to pending; pending candidates of earlier runs that are not proposed again go.
    """
    rows = ranked.to_pylist()
    names = store.usernames(r["account_id"] for r in rows)
    ops = [
        Update(
            _id(community, row["account_id"]),
            {
                "$set": {
                    "community": community,
                    "account_id": row["account_id"],
                    "interactions": row["interactions"],
                    "members": row["members"],
                    "rank": rank,
                    "username": names.get(row["account_id"]),
                    "run_id": run_id,
                    "updated_at": now,
                },
                "$setOnInsert": {"status": "pending", "created_at": now},
            },
            upsert=True,
        )
        for rank, row in enumerate(rows)
    ]
    result = store.bulk_update(Coll.CANDIDATES, ops)
    coll = store[Coll.CANDIDATES]
    coll.update_many(
        {"community": community, "status": "muted", "muted_until": {"$lte": now}},
        {"$set": {"status": "pending"}, "$unset": {"muted_until": ""}},
    )
    coll.delete_many({"community": community, "status": "pending", "run_id": {"$ne": run_id}})
    return WriteSummary.of(result, len(ops))


def _id(community: str, account_id: str) -> str:
    return doc_id(Coll.CANDIDATES, {"community": community, "account_id": account_id})


def pending_candidates(store: Store, community: str) -> list[dict[str, Any]]:
    """Pending candidates, best first (for the dashboard and the CLI)."""
    cursor = (
        store[Coll.CANDIDATES]
        .find({"community": community, "status": "pending"}, {"_id": 0})
        .sort([("interactions", -1), ("members", -1), ("account_id", 1)])
    )
    return list(cursor)


def apply_actions(
    store: Store,
    community: str,
    actions: Mapping[str, Action | str],
    now: datetime,
    mute_days: int = 7,
) -> list[dict[str, Any]]:
    """Finalise the person's decisions; returns the accounts added (to be collected).

    Every account must be a known candidate of the community; nothing is written when one
    is not, so a typo never half-applies a batch.
    """
    chosen = {account: Action(action) for account, action in actions.items()}
    known = {
        d["account_id"]: d
        for d in store[Coll.CANDIDATES].find({"_id": {"$in": [_id(community, a) for a in chosen]}})
    }
    unknown = sorted(set(chosen) - set(known))
    if unknown:
        raise StoreError(f"not candidates of {community!r}: {', '.join(unknown)}")
    nameless = [
        a
        for a, act in chosen.items()
        if act in (Action.ADD, Action.CORE) and not known[a].get("username")
    ]
    if nameless:
        raise StoreError(f"no known username for {', '.join(sorted(nameless))}; look them up first")
    added = []
    for account, action in chosen.items():
        update: dict[str, Any] = {"status": "added", "decided_at": now}
        if action is Action.MUTE:
            update = {"status": "muted", "muted_until": now + timedelta(days=mute_days)}
        elif action is Action.BLOCK:
            update = {"status": "blocked", "decided_at": now}
        else:
            added.append(
                {
                    "id": account,
                    "username": known[account]["username"],
                    "core": action is Action.CORE,
                }
            )
        store[Coll.CANDIDATES].update_one({"_id": _id(community, account)}, {"$set": update})
    for core in (False, True):
        batch = [{"id": a["id"], "username": a["username"]} for a in added if a["core"] is core]
        if batch:
            store.add_members(community, batch, core=core, source="discover")
    return added
