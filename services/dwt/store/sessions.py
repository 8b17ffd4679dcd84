"""The dashboard's session records (collection ``dashboard_sessions``): one per login, keyed
by a digest of the cookie's token (a reader of the store cannot turn it into a cookie)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from dwt.store.schema import Coll
from dwt.store.store import Store


def drop_expired_sessions(store: Store, now: datetime) -> int:
    """Delete the sessions whose lifetime ended before ``now`` (the ones nobody ended)."""
    return store[Coll.SESSIONS].delete_many({"expires_at": {"$lt": now}}).deleted_count


def touch_session(store: Store, session_id: str, now: datetime) -> None:
    """Record that the session was used at ``now``."""
    store[Coll.SESSIONS].update_one({"_id": session_id}, {"$set": {"seen_at": now}})


def live_sessions(store: Store, users: Sequence[str], now: datetime) -> list[dict[str, Any]]:
    """The sessions of ``users`` whose lifetime has not ended at ``now``: ``user`` and
    ``seen_at`` each (idleness is the caller's policy)."""
    query = {"user": {"$in": list(users)}, "expires_at": {"$gt": now}}
    return list(store[Coll.SESSIONS].find(query, {"user": 1, "seen_at": 1}))
