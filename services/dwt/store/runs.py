"""Run records: one document per pipeline run (steps, parameters, progress, counts, timings).

The run id is the natural key, so a retried run (same id) updates its record instead of
adding one; the operator derives the id from the CommunityJob, the CLI makes a fresh one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import DESCENDING

from dwt.store.schema import Coll
from dwt.store.store import Store


def start_run(
    store: Store,
    run_id: str,
    community: str,
    steps: list[str],
    params: dict[str, Any],
    now: datetime,
) -> None:
    store[Coll.RUNS].update_one(
        {"_id": run_id},
        {
            "$set": {
                "community": community,
                "steps": steps,
                "params": params,
                "status": "running",
                "attempt_started_at": now,
            },
            # A retried run keeps its first start: collection skips what it already did.
            # ($inc creates attempts.)
            "$setOnInsert": {"counts": {}, "timings": {}, "started_at": now},
            "$inc": {"attempts": 1},
            "$unset": {"error": "", "finished_at": ""},
        },
        upsert=True,
    )


def run_started_at(store: Store, run_id: str) -> datetime | None:
    doc = store[Coll.RUNS].find_one({"_id": run_id}, {"started_at": 1})
    return doc.get("started_at") if doc else None


def update_run(store: Store, run_id: str, **fields: Any) -> None:
    """Set fields; dotted names (``counts.tweets``) set one entry of a sub-document."""
    store[Coll.RUNS].update_one({"_id": run_id}, {"$set": fields})


def finish_run(
    store: Store, run_id: str, status: str, now: datetime, error: str | None = None
) -> None:
    fields: dict[str, Any] = {"status": status, "finished_at": now}
    if error is not None:
        fields["error"] = error
    update_run(store, run_id, **fields)


def recent_runs(store: Store, community: str, limit: int = 10) -> list[dict[str, Any]]:
    cursor = store[Coll.RUNS].find({"community": community}).sort("started_at", DESCENDING)
    return list(cursor.limit(limit))
