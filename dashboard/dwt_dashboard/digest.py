"""Home's weekly digest: this week's numbers and changes, trending conversations and topics,
how the clusters moved, candidates worth a look, the last run (:func:`digest`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from dwt.store import Coll, Store
from dwt.store.lookups import (
    changed_clusters,
    cluster_count,
    members_added_since,
    succeeded_runs,
    tweet_docs,
)
from dwt.store.weeks import last_published
from dwt.words import plural
from dwt_dashboard.data import (
    TOPIC_FIELDS,
    candidates,
    clusters_run,
    ranked_topics,
    runs,
    uncollected,
)


def week_window(
    store: Store, community: str, now: datetime | None = None
) -> tuple[datetime, datetime]:
    """The week the insights describe: the window of the run that published the results
    shown, else of the latest succeeded run, else 7 days to now."""
    published = last_published(store, community)
    run = store[Coll.RUNS].find_one({"_id": published}) if published else None
    if not run or "window" not in (run.get("params") or {}):
        run = next(iter(succeeded_runs(store, community, "params.window", 1)), None)
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
    tweets, _, _ = store.tweet_span(member_ids, since, until)
    clusters = cluster_count(store, community)
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
    before, _, _ = store.tweet_span(member_ids, since - (until - since), since)
    out = [
        f"{plural(tweets, 'tweet')} this week against {before:,} the week before "
        f"({tweets - before:+,})."
    ]
    joined = members_added_since(store, community, since)
    if joined:
        out.append(f"{plural(joined, 'member')} joined this week.")
    analysed = succeeded_runs(store, community, "counts.clusters", 2)
    if len(analysed) == 2:
        now, then = (r["counts"] for r in analysed)
        out.append(
            f"{plural(now['clusters'], 'cluster')} (previous analysis: {then['clusters']}); "
            f"{plural(now.get('trending', 0), 'trending conversation')} "
            f"(previous: {then.get('trending', 0)})."
        )
    elif analysed:
        out.append("First analysis of this community: nothing to compare yet.")
    return out


#: What the digest lists at most of each kind.
DIGEST_TRENDING = 8
DIGEST_CANDIDATES = 5
DIGEST_TOPICS = 6


def trending(store: Store, community: str, limit: int = DIGEST_TRENDING) -> list[dict[str, Any]]:
    """This week's trending conversations across clusters, largest first, each with its
    opening tweet and a link into the conversation view of the Insights page."""
    docs = list(
        store[Coll.CONVERSATIONS].find(
            store.shown(Coll.CONVERSATIONS, community, trending=True),
            {"_id": 0, "cluster": 1, "tier": 1, "conversation_id": 1, "size": 1,
             "participants": 1, "tweet_ids": 1, "engagement": 1},
        )
    )  # fmt: skip
    docs.sort(key=lambda d: (-d["size"], -d.get("engagement", 0), d["conversation_id"]))
    docs = docs[:limit]
    firsts = [d["tweet_ids"][0] for d in docs if d.get("tweet_ids")]
    found = {t["_id"]: t for t in tweet_docs(store, firsts, ("text",))}
    labels = {
        d["cluster"]: d.get("label") or ""
        for d in store[Coll.CLUSTERS].find(
            store.shown(Coll.CLUSTERS, community), {"cluster": 1, "label": 1}
        )
    }
    return [
        {
            "cluster": d["cluster"],
            "label": labels.get(d["cluster"], ""),
            "tier": d["tier"],
            "size": d["size"],
            "participants": d["participants"],
            "text": found.get((d.get("tweet_ids") or [None])[0], {}).get("text", ""),
            "href": f"/insights?cluster={d['cluster']}&tier={d['tier']}"
            f"&conversation={d['conversation_id']}",
        }
        for d in docs
    ]


def topics(store: Store, community: str, per_cluster: int = DIGEST_TOPICS) -> dict[int, list]:
    """Trending topics per cluster (hashtags, terms, links) from the ``topics`` results,
    best ranked first; empty when no step has written topics."""
    out: dict[int, list[dict[str, Any]]] = {}
    for d in ranked_topics(store, store.shown(Coll.TOPICS, community)):
        shown = out.setdefault(d["cluster"], [])
        if len(shown) < per_cluster:
            shown.append({k: d.get(k) for k in TOPIC_FIELDS})
    return out


#: How a cluster's change since the last clustering is told.
CHANGE_WORDS = {"grew": "grew", "shrank": "shrank", "split": "split off", "merged": "merged",
                "new": "is new"}  # fmt: skip


def cluster_changes(store: Store, community: str) -> list[dict[str, Any]]:
    """Clusters that grew, shrank, split, merged or are new since the last clustering
    (``change`` from :class:`dwt.stages.identity.ClusterMatcher`), in words."""
    out = []
    docs = changed_clusters(store, community, CHANGE_WORDS)
    for d in sorted(docs, key=lambda d: d["cluster"]):
        name = f"Cluster {d['cluster']}" + (f" ({d['label']})" if d.get("label") else "")
        previous = list(d.get("previous") or [])
        change = d["change"]
        if change in ("grew", "shrank"):
            text = f"{name} {change} from {d.get('size_before')} to {d['size']} members"
        elif change == "split" and previous and previous[0] == d["cluster"]:
            text = f"{name} split: {d['size']} members stayed, the others formed a new cluster"
        elif change == "split":
            source = previous[0] if previous else "another"
            text = f"{name} split off cluster {source} ({d['size']} members)"
        elif change == "merged":
            joined = " and ".join(str(p) for p in previous) or "several clusters"
            text = f"{name} merged clusters {joined} ({d['size']} members)"
        else:
            text = f"{name} is new ({d['size']} members)"
        out.append({"cluster": d["cluster"], "change": change, "text": text + "."})
    return out


def digest(store: Store, community: str, now: datetime | None = None) -> dict[str, Any]:
    """Home as the weekly digest: the overview's numbers, this week's trending
    conversations and topics, cluster changes, the best new candidates and the last run."""
    found = overview(store, community, now)
    names = {
        d["cluster"]: d.get("label") or ""
        for d in store[Coll.CLUSTERS].find(
            store.shown(Coll.CLUSTERS, community), {"cluster": 1, "label": 1}
        )
    }
    last = found["runs"][0] if found["runs"] else None
    return {
        **found,
        "trending": trending(store, community),
        "topics": [
            {"cluster": c, "label": names.get(c, ""), "topics": t}
            for c, t in sorted(topics(store, community).items())
        ],
        "cluster_changes": cluster_changes(store, community),
        "candidates": candidates(store, community)[:DIGEST_CANDIDATES],
        "last_run": last,
        "clusters_run": clusters_run(store, community),
        "uncollected": uncollected(store, community),
    }
