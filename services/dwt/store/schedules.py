"""A community's daily run as the local launcher keeps it (field ``schedule`` of its
community document: hour, time zone, when it last fired); the cluster keeps it in the
CommunityJob instead."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from dwt.store.schema import Coll
from dwt.store.store import Store


def community_schedule(store: Store, community: str) -> dict[str, Any] | None:
    """The community's schedule (``hour``, ``time_zone``, ``last_fired``), or None."""
    doc = store[Coll.COMMUNITIES].find_one({"_id": community}, {"schedule": 1}) or {}
    return doc.get("schedule")


def save_schedule(store: Store, community: str, hour: int, time_zone: str, now: datetime) -> None:
    """Run daily at ``hour`` in ``time_zone``, the first time after ``now``."""
    schedule = {"hour": hour, "time_zone": time_zone, "last_fired": now}
    store[Coll.COMMUNITIES].update_one({"_id": community}, {"$set": {"schedule": schedule}})


def schedules(store: Store) -> dict[str, dict[str, Any]]:
    """Every scheduled community's schedule, by community."""
    found = store[Coll.COMMUNITIES].find({"schedule": {"$exists": True}}, {"schedule": 1})
    return {d["_id"]: d["schedule"] for d in found}


def schedule_fired(store: Store, community: str, now: datetime) -> None:
    """Record that the community's schedule fired at ``now``."""
    store[Coll.COMMUNITIES].update_one({"_id": community}, {"$set": {"schedule.last_fired": now}})
