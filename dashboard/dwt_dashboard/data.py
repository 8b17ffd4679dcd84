"""Store reads for the dashboard, as plain dicts and lists.

Pages render only what these functions return, so every number and link a person sees can
be tested without a browser, and nothing but results (never settings) reaches the HTML.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from dwt.stages.weights import BondWeights
from dwt.store import Coll, Store
from dwt.store.candidates import pending_candidates
from dwt.store.runs import recent_runs

#: One line per bond weight, shown next to its slider.
WEIGHT_HELP: dict[str, str] = {
    "tweet": "base bond every follower gains for each tweet of an account they follow",
    "mention": "bond to a member mentioned in a plain tweet",
    "retweet": "bond to the member whose tweet is retweeted",
    "quote": "bond to the member whose tweet is quoted",
    "reply": "bond to the member replied to (a conversation: the strongest signal)",
}

TIERS = {1: "within the cluster", 2: "with other clusters", 3: "with outsiders"}


def weight_defaults() -> dict[str, float]:
    """The sliders' defaults: the pipeline's own (``BondWeights``), never a copy."""
    return BondWeights().to_dict()


def communities(store: Store, allowed: list[str]) -> list[str]:
    """The allowed communities that exist in the store (a person may be allowed more)."""
    found = {d["_id"] for d in store[Coll.COMMUNITIES].find({"_id": {"$in": allowed}})}
    return [c for c in allowed if c in found]


def usernames(store: Store, account_ids: list[str]) -> dict[str, str]:
    cursor = store[Coll.ACCOUNTS].find({"_id": {"$in": list(account_ids)}}, {"username": 1})
    return {d["_id"]: d["username"] for d in cursor}


def week_window(
    store: Store, community: str, now: datetime | None = None
) -> tuple[datetime, datetime]:
    """The week the insights describe: the latest succeeded run's window, else 7 days to now."""
    run = store[Coll.RUNS].find_one(
        {"community": community, "status": "succeeded", "params.window": {"$exists": True}},
        sort=[("started_at", -1)],
    )
    if run:
        window = run["params"]["window"]
        return datetime.fromisoformat(window["since"]), datetime.fromisoformat(window["until"])
    until = now or datetime.now(UTC)
    return until - timedelta(days=7), until


def overview(store: Store, community: str, now: datetime | None = None) -> dict[str, Any]:
    """Home page numbers: members, tweets this week, clusters, the last runs."""
    member_ids = [
        d["account_id"]
        for d in store[Coll.MEMBERS].find({"community": community}, {"account_id": 1})
    ]
    since, until = week_window(store, community, now)
    tweets = store[Coll.TWEETS].count_documents(
        {"author_id": {"$in": member_ids}, "created_at": {"$gte": since, "$lt": until}}
    )
    clusters = store[Coll.CLUSTERS].count_documents(
        {"community": community, "cluster": {"$gte": 0}}
    )
    return {
        "members": len(member_ids),
        "tweets": tweets,
        "since": since,
        "until": until,
        "clusters": clusters,
        "runs": runs(store, community, limit=5),
        "changes": changes(store, community, member_ids, since, until, tweets),
    }


def changes(
    store: Store,
    community: str,
    member_ids: list[str],
    since: datetime,
    until: datetime,
    tweets: int,
) -> list[str]:
    """What changed since the week before, in words: tweets, members who joined, clusters
    and trending conversations against the previous analysis."""
    before = store[Coll.TWEETS].count_documents(
        {"author_id": {"$in": member_ids}, "created_at": {"$gte": since - (until - since),
                                                         "$lt": since}}
    )  # fmt: skip
    out = [
        f"{tweets:,} tweets this week against {before:,} the week before ({tweets - before:+,})."
    ]
    joined = store[Coll.MEMBERS].count_documents(
        {"community": community, "added_at": {"$gte": since}}
    )
    if joined:
        out.append(f"{joined} member(s) joined this week.")
    analysed = list(
        store[Coll.RUNS]
        .find({"community": community, "status": "succeeded", "counts.clusters": {"$exists": True}})
        .sort("started_at", -1)
        .limit(2)
    )
    if len(analysed) == 2:
        now, then = (r["counts"] for r in analysed)
        out.append(
            f"{now['clusters']} clusters (previous analysis: {then['clusters']}); "
            f"{now.get('trending', 0)} trending conversations "
            f"(previous: {then.get('trending', 0)})."
        )
    elif analysed:
        out.append("First analysis of this community: nothing to compare yet.")
    return out


def members(store: Store, community: str) -> list[dict[str, Any]]:
    """Members, most active first."""
    rows = store.members(community).to_pylist()
    rows.sort(key=lambda r: (-(r["activity"] or 0), r["username"].lower()))
    return rows


def candidates(store: Store, community: str) -> list[dict[str, Any]]:
    """Pending candidates, best first, with their profile link."""
    out = []
    for cand in pending_candidates(store, community):
        name = cand.get("username")
        out.append(
            {
                "account_id": cand["account_id"],
                "username": name,
                "interactions": cand["interactions"],
                "members": cand.get("members", 0),
                "url": f"https://x.com/{name}"
                if name
                else f"https://x.com/i/user/{cand['account_id']}",
            }
        )
    return out


def clusters(store: Store, community: str) -> list[dict[str, Any]]:
    """Clusters in order (-1, members without bonds, last), with usernames resolved."""
    docs = list(store[Coll.CLUSTERS].find({"community": community}, {"_id": 0}))
    docs.sort(key=lambda d: (d["cluster"] < 0, d["cluster"]))
    names = usernames(store, [a for d in docs for a in d["members"]])
    out = []
    for d in docs:
        out.append(
            {
                "cluster": d["cluster"],
                "label": d.get("label") or ("no bonds this week" if d["cluster"] < 0 else ""),
                "size": d["size"],
                "internal_weight": d.get("internal_weight", 0.0),
                "external_weight": d.get("external_weight", 0.0),
                "hashtags": d.get("hashtags", []),
                "central": [names.get(a, a) for a in d.get("central", [])],
                "members": [names.get(a, a) for a in d["members"]],
            }
        )
    return out


def conversations(
    store: Store, community: str, cluster: int, tier: int, limit: int = 50, tweets: int = 20
) -> list[dict[str, Any]]:
    """A cluster's conversations at a tier, trending first, then by the pipeline's rank,
    each with its first ``tweets`` tweets (author, text, time, link) in order."""
    docs = list(
        store[Coll.CONVERSATIONS].find(
            {"community": community, "cluster": cluster, "tier": tier}, {"_id": 0}
        )
    )
    docs.sort(key=lambda d: (not d.get("trending", False), d["rank"]))
    docs = docs[:limit]
    wanted = [t for d in docs for t in d.get("tweet_ids", [])[:tweets]]
    found = {
        t["_id"]: t
        for t in store[Coll.TWEETS].find(
            {"_id": {"$in": wanted}}, {"text": 1, "author_id": 1, "created_at": 1}
        )
    }
    names = usernames(store, list({t["author_id"] for t in found.values()}))
    out = []
    for d in docs:
        shown = [found[t] for t in d.get("tweet_ids", [])[:tweets] if t in found]
        shown.sort(key=lambda t: t["created_at"])
        out.append(
            {
                "conversation_id": d["conversation_id"],
                "url": f"https://x.com/i/status/{d['conversation_id']}",
                "trending": bool(d.get("trending")),
                "size": d["size"],
                "participants": d["participants"],
                "engagement": d.get("engagement", 0),
                "rank": d["rank"],
                "last_at": d.get("last_at"),
                "tweets": [
                    {
                        "author": names.get(t["author_id"], t["author_id"]),
                        "text": t.get("text", ""),
                        "created_at": t["created_at"],
                        "url": f"https://x.com/{names.get(t['author_id'], 'i')}/status/{t['_id']}",
                    }
                    for t in shown
                ],
            }
        )
    return out


def graph_elements(store: Store, community: str, limit: int = 300) -> list[dict[str, Any]]:
    """Cytoscape elements of the bond graph among the ``limit`` most active members."""
    rows = [r for r in members(store, community) if r["cluster"] is not None][:limit]
    keep = {r["account_id"]: r for r in rows}
    central = {
        a
        for d in store[Coll.CLUSTERS].find({"community": community}, {"central": 1})
        for a in d.get("central", [])
    }
    elements: list[dict[str, Any]] = [
        {
            "data": {"id": a, "label": f"@{r['username']}", "cluster": r["cluster"]},
            "classes": (f"c{r['cluster'] % 10}" if r["cluster"] >= 0 else "isolated")
            + (" central" if a in central else ""),
        }
        for a, r in keep.items()
    ]
    for doc in store[Coll.BONDS].find({"community": community, "source_id": {"$in": list(keep)}}):
        for target, weight in zip(doc["targets"], doc["weights"], strict=True):
            if target in keep and target != doc["source_id"]:
                elements.append(
                    {"data": {"source": doc["source_id"], "target": target, "weight": weight}}
                )
    return elements


#: How a scheduled run's id ends (the operator's and the local scheduler's alike).
SCHEDULED_RUN = re.compile(r"-s\d{12}$")


def run_kind(run: dict[str, Any]) -> str:
    """Why a run happened: ``scheduled``, ``discovery`` (collecting accounts just added)
    or ``manual``."""
    if SCHEDULED_RUN.search(run["_id"]):
        return "scheduled"
    params = run.get("params") or {}
    if run.get("steps") == ["collect"] and (params.get("members") or {}).get("scope") == "new":
        return "discovery"
    return "manual"


def runs(store: Store, community: str, limit: int = 20) -> list[dict[str, Any]]:
    """Recent runs, newest first: why, status, counts and the step in progress."""
    out = []
    for run in recent_runs(store, community, limit):
        progress = run.get("progress") or {}
        out.append(
            {
                "run_id": run["_id"],
                "kind": run_kind(run),
                "status": run.get("status", "?"),
                "steps": run.get("steps", []),
                "started_at": run.get("started_at"),
                "finished_at": run.get("finished_at"),
                "counts": run.get("counts", {}),
                "progress": progress,
                "error": run.get("error"),
            }
        )
    return out


def collection(store: Store, community: str) -> dict[str, Any]:
    """What collection holds for the community: tweets and their time frame, the accounts
    that could not be read (with when), and the state of the last collecting runs."""
    ids = store.members(community).column("account_id").to_pylist()
    count, first, last = store.span(Coll.TWEETS, {"author_id": {"$in": ids}}, "created_at")
    unreadable = [
        {
            "username": d.get("username"),
            "account_id": d["account_id"],
            "status": d["status"],
            "seen_at": d.get("status_seen_at"),
        }
        for d in store[Coll.MEMBERS].find(
            {"community": community, "status": {"$in": ["protected", "suspended", "not_found"]}}
        )
    ]
    collecting = [r for r in runs(store, community) if "collect" in r["steps"]]
    return {
        "tweets": count,
        "first": first,
        "last": last,
        "unreadable": sorted(unreadable, key=lambda u: u["username"] or ""),
        "runs": collecting[:10],
    }
