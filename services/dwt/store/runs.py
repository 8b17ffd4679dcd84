"""Run records: one document per pipeline run (steps, parameters, progress, counts, timings).

The run id is the natural key, so a retried run (same id) updates its record instead of
adding one; the operator derives the id from the CommunityJob, the CLI makes a fresh one.

A run that collected carries a ``collection`` sub-document: what X billed, itemised
(``charges``: posts, follow-list accounts, user lookups, with their dollars — added up over a
retried run's attempts, since each attempt paid), ``post_reads`` and ``spend_usd`` in total,
the prices used, the caps and whether it stopped at one, what it skipped, and how old the
follow lists are. Every attempt, and every lookup of ``dwt members add``, also leaves one
document in the ``charges`` ledger; :func:`month_spend` adds a UTC month of it up.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING

from dwt.store.schema import Coll
from dwt.store.store import Store
from dwt.xapi.prices import Charges, Resource, Tariff


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


def recent_runs(
    store: Store, community: str, limit: int = 10, skip: int = 0
) -> list[dict[str, Any]]:
    """The community's runs, newest first: ``limit`` of them after the newest ``skip``."""
    cursor = store[Coll.RUNS].find({"community": community}).sort("started_at", DESCENDING)
    return list(cursor.skip(skip).limit(limit))


def run_count(store: Store, community: str) -> int:
    return store[Coll.RUNS].count_documents({"community": community})


def record_collection(
    store: Store,
    run_id: str,
    charges: Charges,
    tariff: Tariff,
    now: datetime,
    **fields: Any,
) -> dict[str, Any]:
    """Add one collection attempt's charges to the run (and one document to the ledger);
    set ``fields`` (``capped``, ``skipped``, ``follows_age_days``, ``plan``...) under
    ``collection``. Returns the attempt's itemised bill."""
    bill = charges.bill(tariff)
    doc = store[Coll.RUNS].find_one({"_id": run_id}, {"community": 1, "attempts": 1}) or {}
    inc: dict[str, Any] = {
        "collection.post_reads": charges.posts,
        "collection.spend_usd": bill["usd"]["total"],
    }
    for resource in Resource:
        inc[f"collection.charges.{resource.value}"] = charges.count(resource)
        inc[f"collection.charges.usd.{resource.value}"] = bill["usd"][resource.value]
    inc["collection.charges.usd.total"] = bill["usd"]["total"]
    prices = {r.value: tariff.price(r) for r in Resource}
    update = {
        "$inc": inc,
        "$set": {"collection.prices": prices}
        | {f"collection.{name}": value for name, value in fields.items()},
    }
    store[Coll.RUNS].update_one({"_id": run_id}, update)
    _ledger(
        store,
        f"{run_id}/{doc.get('attempts', 1)}/{now.isoformat()}",
        doc.get("community"),
        "run",
        bill,
        now,
        run_id=run_id,
    )
    return bill


def record_lookup(
    store: Store, community: str, charges: Charges, tariff: Tariff, now: datetime
) -> dict[str, Any]:
    """Put a lookup's charges (``dwt members add``, the dashboard) in the ledger."""
    bill = charges.bill(tariff)
    _ledger(store, f"lookup/{community}/{now.isoformat()}", community, "lookup", bill, now)
    return bill


def _ledger(
    store: Store,
    charge_id: str,
    community: str | None,
    source: str,
    bill: dict[str, Any],
    now: datetime,
    **extra: Any,
) -> None:
    counts = {r.value: bill[r.value] for r in Resource}
    doc = {
        "_id": charge_id,
        "community": community,
        "source": source,
        "at": now,
        **counts,
        "usd": bill["usd"]["total"],
        **extra,
    }
    store.upsert(Coll.CHARGES, [doc])


def run_spend(store: Store, run_id: str) -> float:
    """USD the run's collection attempts were billed so far."""
    doc = store[Coll.RUNS].find_one({"_id": run_id}, {"collection": 1}) or {}
    return float((doc.get("collection") or {}).get("spend_usd") or 0.0)


def recent_charges(store: Store, community: str, limit: int = 8) -> list[dict[str, Any]]:
    """The community's latest collection charges (one per attempt), newest first."""
    cursor = store[Coll.CHARGES].find({"community": community, "source": "run"})
    return list(cursor.sort("at", DESCENDING).limit(limit))


def last_collection(store: Store, community: str) -> dict[str, Any] | None:
    """The ``collection`` record of the community's latest run that collected."""
    cursor = store[Coll.RUNS].find(
        {"community": community, "collection.timing": {"$exists": True}}, {"collection": 1}
    )
    for doc in cursor.sort("started_at", DESCENDING).limit(1):
        return doc.get("collection")
    return None


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


def month_spend(
    store: Store, community: str | None, month: str | date | datetime
) -> dict[str, Any]:
    """What X billed in ``month`` (UTC), from the ledger: ``{"month", "runs", "lookups",
    "posts", "following_accounts", "user_lookups", "spend_usd"}`` for ``community`` (None:
    the whole account, every community — what X's monthly post cap counts)."""
    first, following = month_bounds(month)
    query: dict[str, Any] = {"at": {"$gte": first, "$lt": following}}
    if community is not None:
        query["community"] = community
    total = Charges()
    runs: set[str] = set()
    lookups = 0
    spend = 0.0
    for doc in store[Coll.CHARGES].find(query).sort("at", ASCENDING):
        total += Charges.of(doc)
        spend += float(doc.get("usd") or 0.0)
        if doc.get("source") == "run":
            runs.add(str(doc.get("run_id")))
        else:
            lookups += 1
    return {
        "month": f"{first:%Y-%m}",
        "runs": len(runs),
        "lookups": lookups,
        **{r.value: total.count(r) for r in Resource},
        "spend_usd": round(spend, 4),
    }
