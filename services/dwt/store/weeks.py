"""A week's results change all at once.

Each insight step writes its results under its run's id (bonds; clusters with the members'
placements; conversations with topics), beside the results shown now, which stay untouched.
Only when every step of the run succeeded does the run *publish* them: one update of one
document per community (``weeks``: which run's bonds, clusters and content are shown) —
atomic on both engines, no multi-document transaction needed. Readers (the dashboard,
``dwt export``, the next run's steps) read through it (:func:`shown`). So a run killed
between steps or in the middle of one leaves the previous complete week visible, and its
own half-written results are invisible and collected by the next publish.

The previous week's results are kept one publish longer (``before``), for a reader that
read the old pointer an instant before the switch.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from dwt.store.schema import RESULTS, Coll

if TYPE_CHECKING:  # the store reads through this module
    from dwt.store.store import Store

#: What a run can publish, by the step that makes it.
KINDS = tuple(RESULTS)
STEP_KINDS = {"bonds": "bonds", "cluster": "clusters", "content": "content"}
_KIND_OF: dict[Coll, str] = {c: kind for kind, colls in RESULTS.items() for c in colls}
#: Matches no run (run ids are never empty): what readers see before anything is published.
NOTHING = ""


def published(store: Store, community: str) -> dict[str, str | None]:
    """The run whose results of each kind are shown (None: none yet)."""
    doc = store[Coll.WEEKS].find_one({"_id": community}) or {}
    return {kind: doc.get(kind) for kind in KINDS}


def shown(store: Store, coll: Coll, community: str, **match: Any) -> dict[str, Any]:
    """The filter selecting ``community``'s shown results in ``coll`` (and ``match``)."""
    run = published(store, community)[_KIND_OF[Coll(coll)]]
    return {"community": community, "run_id": run or NOTHING, **match}


def shown_run(store: Store, coll: Coll, community: str) -> str | None:
    """The run whose results in ``coll`` are shown."""
    return published(store, community)[_KIND_OF[Coll(coll)]]


def last_published(store: Store, community: str) -> str | None:
    """The run that published last (its window is the week shown)."""
    doc = store[Coll.WEEKS].find_one({"_id": community}, {"run_id": 1}) or {}
    return doc.get("run_id")


def publish(store: Store, community: str, run_id: str, kinds: Iterable[str], now: datetime) -> None:
    """Show ``run_id``'s results of ``kinds`` from now on (one document update), then delete
    the results no reader can reach any more."""
    kinds = [k for k in KINDS if k in set(kinds)]
    if not kinds:
        return
    before = published(store, community)
    after = {**before, **dict.fromkeys(kinds, run_id)}
    store[Coll.WEEKS].update_one(
        {"_id": community},
        {"$set": {**after, "run_id": run_id, "published_at": now, "before": before}},
        upsert=True,
    )
    keep = {r for r in (*after.values(), *before.values()) if r}
    for coll in _KIND_OF:
        store[coll].delete_many({"community": community, "run_id": {"$nin": sorted(keep)}})


def adopt_legacy(store: Store, now: datetime) -> list[str]:
    """Publish what a store written before weeks existed shows: its results were kept one
    set per community (``_id`` without the run), the members' cluster fields on the members
    themselves. The run ids those results carry become the community's week, the members'
    fields its placements and its bonds' activity; the communities adopted. Run on open;
    a store already published, or with nothing of the old layout, is left as it is."""
    from dwt.store.schema import doc_id

    adopted = []
    for community in [d["_id"] for d in store[Coll.COMMUNITIES].find({}, {"_id": 1})]:
        if store[Coll.WEEKS].find_one({"_id": community}, {"_id": 1}) is not None:
            continue
        runs: dict[str, str] = {}
        for kind, colls in RESULTS.items():
            doc = store[colls[0]].find_one({"community": community}, {"run_id": 1})
            if doc and doc.get("run_id") and f"/{doc['run_id']}/" not in doc["_id"]:
                runs[kind] = doc["run_id"]
        if not runs:
            continue
        members = list(store[Coll.MEMBERS].find({"community": community}))
        if "clusters" in runs:
            placed = [
                {"community": community, "run_id": runs["clusters"], "account_id": m["account_id"],
                 **{k: m[k] for k in ("cluster", "flow", "bond_stats", "x", "y") if k in m}}
                for m in members if "cluster" in m
            ]  # fmt: skip
            for doc in placed:
                doc["_id"] = doc_id(Coll.PLACEMENTS, doc)
            store.backend.replace(
                Coll.PLACEMENTS.value,
                {"community": community, "run_id": runs["clusters"]},
                runs["clusters"],
                placed,
            )
        if "bonds" in runs:
            _adopt_activity(store, community, runs["bonds"], members)
        store[Coll.WEEKS].update_one(
            {"_id": community},
            {"$set": {**dict.fromkeys(KINDS), **runs, "run_id": max(runs.values()),
                      "published_at": now, "before": dict.fromkeys(KINDS)}},
            upsert=True,
        )  # fmt: skip
        adopted.append(community)
    return adopted


def _adopt_activity(store: Store, community: str, run_id: str, members: list[dict]) -> None:
    """The old bonds documents (members with bonds only) get each member's activity; members
    without bonds get an empty list, as the bonds step now writes them."""
    from dwt.store.ops import Update
    from dwt.store.schema import doc_id

    have = {
        d["source_id"]: d["_id"]
        for d in store[Coll.BONDS].find(
            {"community": community, "run_id": run_id}, {"source_id": 1}
        )
    }
    ops = []
    for m in members:
        activity = int(m.get("activity") or 0)
        if m["account_id"] in have:
            ops.append(Update(have[m["account_id"]], {"$set": {"activity": activity}}))
        else:
            doc = {"community": community, "run_id": run_id, "source_id": m["account_id"]}
            fields = {**doc, "targets": [], "weights": [], "activity": activity}
            ops.append(Update(doc_id(Coll.BONDS, doc), {"$set": fields}, upsert=True))
    store.bulk_update(Coll.BONDS, ops)
