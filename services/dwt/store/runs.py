"""Run records: one document per pipeline run (steps, parameters, progress, counts, timings).

The run id is the natural key, so a retried run (same id) updates its record instead of
adding one; the operator derives the id from the CommunityJob, the CLI makes a fresh one.

A run that collected carries a ``collection`` sub-document: the post reads X billed and
their estimated spend (added up over a retried run's attempts, since each attempt paid),
the price used, the cap and whether it stopped there, what it skipped, and how old the
follow lists are. :func:`month_spend` adds the month's runs up for a community.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
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


def abandon_run(store: Store, run_id: str, now: datetime, reason: str) -> bool:
    """Mark a run that is still ``running`` as ``abandoned`` (its process is gone); whether
    it was. A run that finished meanwhile keeps its status."""
    done = store[Coll.RUNS].update_one(
        {"_id": run_id, "status": "running"},
        {"$set": {"status": "abandoned", "finished_at": now, "error": reason}},
    )
    return bool(done.modified_count)


def recent_runs(store: Store, community: str, limit: int = 10) -> list[dict[str, Any]]:
    cursor = store[Coll.RUNS].find({"community": community}).sort("started_at", DESCENDING)
    return list(cursor.limit(limit))


def record_collection(
    store: Store, run_id: str, post_reads: int, price_per_read: float, **fields: Any
) -> None:
    """Add one collection attempt's post reads and spend to the run; set ``fields``
    (``capped``, ``skipped``, ``follows_age_days``, ``plan``...) under ``collection``."""
    if post_reads < 0 or price_per_read < 0:
        raise ValueError("post reads and price per read must be >= 0")
    update: dict[str, Any] = {
        "$inc": {
            "collection.post_reads": int(post_reads),
            "collection.estimated_spend_usd": round(post_reads * price_per_read, 6),
        },
        "$set": {"collection.price_per_read": price_per_read}
        | {f"collection.{name}": value for name, value in fields.items()},
    }
    store[Coll.RUNS].update_one({"_id": run_id}, update)


def month_bounds(month: str | date | datetime) -> tuple[datetime, datetime]:
    """[first instant, first instant of the next month) in UTC of ``"YYYY-MM"`` or of the
    month a date falls in."""
    if isinstance(month, str):
        try:
            first = datetime.strptime(month, "%Y-%m").replace(tzinfo=UTC)
        except ValueError:
            raise ValueError(f"month must look like 2026-11, got {month!r}") from None
    else:
        first = datetime(month.year, month.month, 1, tzinfo=UTC)
    following = first.replace(year=first.year + first.month // 12, month=first.month % 12 + 1)
    return first, following


def month_spend(store: Store, community: str, month: str | date | datetime) -> dict[str, Any]:
    """Post reads and estimated spend of ``community``'s runs started in ``month`` (UTC):
    ``{"month", "runs", "post_reads", "estimated_spend_usd"}``; runs that did not collect
    count for nothing."""
    first, following = month_bounds(month)
    cursor = store[Coll.RUNS].find(
        {"community": community, "started_at": {"$gte": first, "$lt": following}},
        {"collection": 1},
    )
    runs = reads = 0
    spend = 0.0
    for doc in cursor:
        collection = doc.get("collection") or {}
        if "post_reads" not in collection:
            continue
        runs += 1
        reads += int(collection["post_reads"])
        spend += float(collection.get("estimated_spend_usd") or 0.0)
    return {
        "month": f"{first:%Y-%m}",
        "runs": runs,
        "post_reads": reads,
        "estimated_spend_usd": round(spend, 4),
    }
