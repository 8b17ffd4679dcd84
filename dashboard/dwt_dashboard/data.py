"""Store reads for the dashboard, as plain dicts and lists.

Pages render only what these functions return, so every number and link a person sees can
be tested without a browser, and nothing but results (never settings) reaches the HTML.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pyarrow.compute as pc

from dwt.collect.state import never_collected
from dwt.pipeline.spec import Weights
from dwt.stages.weights import BondWeights
from dwt.store import Coll, Store, leases
from dwt.store.candidates import pending_candidates
from dwt.store.lookups import (
    existing_communities,
    tweet_docs,
    unreadable_members,
)
from dwt.store.runs import recent_runs, run_count
from dwt.store.weeks import shown_run
from dwt.xapi.prices import bill_words

#: One line per bond weight, shown next to its slider.
WEIGHT_HELP: dict[str, str] = {
    "tweet": "base bond every follower gains for each tweet of an account they follow",
    "mention": "bond to a member mentioned in a plain tweet",
    "retweet": "bond to the member whose tweet is retweeted",
    "quote": "bond to the member whose tweet is quoted",
    "reply": "bond to the member replied to (a conversation: the strongest signal)",
    "follow": "bond a mutual follow adds",
    "normalize": "scale follows and interactions per member before mixing them",
    "follow_share": "share of the follows in the mix (the rest: this week's interactions)",
    "one_way": "bond a one-way follow adds, only as far as the two share contacts",
    "embeddedness": "how much shared contacts strengthen a bond (random ties share few)",
}

#: Each bond weight's name for a person (the spec's field names are for files).
WEIGHT_LABELS: dict[str, str] = {
    "tweet": "Tweet seen by a follower",
    "mention": "Mention",
    "retweet": "Retweet",
    "quote": "Quote",
    "reply": "Reply",
    "follow": "Mutual follow",
    "normalize": "Normalise per member",
    "follow_share": "Share of follows",
    "one_way": "One-way follow",
    "embeddedness": "Shared contacts",
}

TIERS = {1: "within the cluster", 2: "with other clusters", 3: "with outsiders"}


def weight_defaults() -> dict[str, Any]:
    """The weights' defaults: the pipeline's own (``BondWeights``), never a copy; only the
    fields a run's spec accepts (``spec.weights``), so no control is shown that a run
    would refuse or ignore."""
    accepted = Weights.model_fields
    return {k: v for k, v in BondWeights().to_dict().items() if k in accepted}


def weight_kinds() -> dict[str, str]:
    """Each weight's control, from ``BondWeights``' fields: ``switch`` (true/false),
    ``share`` (0 to 1, linear) or ``weight`` (log scale, with "off" for 0)."""
    kinds = {}
    for name, default in weight_defaults().items():
        if isinstance(default, bool):
            kinds[name] = "switch"
        elif name.endswith("share"):
            kinds[name] = "share"
        else:
            kinds[name] = "weight"
    return kinds


def weights_of(given: dict[str, Any] | None) -> dict[str, Any]:
    """A run's ``spec.weights`` (camelCase or not, possibly partial) as the full set of
    shown weights; the defaults when they cannot be read."""
    try:
        full = BondWeights.from_dict(given).to_dict()
    except (ValueError, TypeError):
        full = BondWeights().to_dict()
    return {k: full[k] for k in weight_defaults()}


def communities(store: Store, allowed: list[str]) -> list[str]:
    """The allowed communities that exist in the store (a person may be allowed more)."""
    found = existing_communities(store, allowed)
    return [c for c in allowed if c in found]


def members(store: Store, community: str) -> list[dict[str, Any]]:
    """Members, most active first."""
    rows = store.members(community).to_pylist()
    rows.sort(key=lambda r: (-(r["activity"] or 0), r["username"].lower()))
    return rows


def members_named(store: Store, community: str, account_ids: set[str]) -> list[dict[str, Any]]:
    """The members among ``account_ids``, as :func:`members` gives them."""
    if not account_ids:
        return []
    return [m for m in members(store, community) if m["account_id"] in account_ids]


def member_count(store: Store, community: str) -> int:
    return len(member_ids(store, community))


def uncollected(store: Store, community: str) -> int:
    """How many members were never collected (added without an API key, or their
    collection failed before their timeline was read)."""
    return len(never_collected(store, sorted(member_ids(store, community))))


def member_name(store: Store, community: str, account_id: str) -> str | None:
    """A member's username (None for an account that is not a member of ``community``)."""
    doc = store[Coll.MEMBERS].find_one(
        {"community": community, "account_id": account_id}, {"username": 1}
    )
    return doc.get("username") if doc else None


def member_ids(store: Store, community: str) -> set[str]:
    """The community's member account ids (one indexed read)."""
    cursor = store[Coll.MEMBERS].find({"community": community}, {"account_id": 1})
    return {d["account_id"] for d in cursor}


def candidates(store: Store, community: str) -> list[dict[str, Any]]:
    """Pending candidates, best first, with their profile link; accounts that became
    members since discovery (added by username) are not candidates any more."""
    out = []
    members = member_ids(store, community)
    for cand in pending_candidates(store, community):
        if cand["account_id"] in members:
            continue
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


def clusters(store: Store, community: str, *, members: bool = True) -> list[dict[str, Any]]:
    """Clusters in order (-1, members without bonds, last), with usernames resolved;
    ``members=False`` leaves the member lists out (the Insights page needs them for one
    cluster only, and at 10,000 members resolving every name costs a tenth of a second)."""
    projection = {"_id": 0} if members else {"_id": 0, "members": 0}
    docs = list(store[Coll.CLUSTERS].find(store.shown(Coll.CLUSTERS, community), projection))
    return _clusters_out(store, docs)


def cluster(store: Store, community: str, number: int | None) -> dict[str, Any] | None:
    """One cluster, as :func:`clusters` gives it (members included); None if there is none."""
    if number is None:
        return None
    doc = store[Coll.CLUSTERS].find_one(
        store.shown(Coll.CLUSTERS, community, cluster=number), {"_id": 0}
    )
    return _clusters_out(store, [doc])[0] if doc else None


def _clusters_out(store: Store, docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    docs.sort(key=lambda d: (d["cluster"] < 0, d["cluster"]))
    names = store.usernames(a for d in docs for a in [*d.get("members", []), *d.get("central", [])])
    return [
        {
            "cluster": d["cluster"],
            "label": d.get("label") or ("no bonds this week" if d["cluster"] < 0 else ""),
            "size": d["size"],
            "internal_weight": d.get("internal_weight", 0.0),
            "external_weight": d.get("external_weight", 0.0),
            "hashtags": d.get("hashtags", []),
            "central": [names.get(a, a) for a in d.get("central", [])],
            "members": [names.get(a, a) for a in d.get("members", [])],
        }
        for d in docs
    ]


def conversations(
    store: Store,
    community: str,
    cluster: int,
    tier: int,
    limit: int = 50,
    tweets: int = 20,
    opened: str | None = None,
) -> list[dict[str, Any]]:
    """A cluster's conversations at a tier, trending first, then by the pipeline's rank,
    each with its first ``tweets`` tweets (author, text, time, link) in order; the list
    reaches as far as conversation ``opened`` when it ranks below ``limit``. The top ones
    (and every trending one) are documents; a list reaching past them reads the run's
    columnar table of all of them."""
    docs = list(
        store[Coll.CONVERSATIONS].find(
            store.shown(Coll.CONVERSATIONS, community, cluster=cluster, tier=tier), {"_id": 0}
        )
    )
    at = [i for i, d in enumerate(docs) if opened and d["conversation_id"] == opened]
    reaches_past = not at and (opened or limit > len(docs))
    if reaches_past and conversation_total(store, community, cluster, tier) > len(docs):
        docs = _all_conversations(store, community, cluster, tier)
    docs.sort(key=lambda d: (not d.get("trending", False), d["rank"]))
    at = [i for i, d in enumerate(docs) if opened and d["conversation_id"] == opened]
    docs = docs[: max(limit, at[0] + 1 if at else 0)]
    return _conversations_out(store, docs, tweets)


def _all_conversations(
    store: Store, community: str, cluster: int, tier: int
) -> list[dict[str, Any]]:
    """Every conversation of a cluster at a tier, from the run's columnar table."""
    from dwt.export.reads import conversations as every

    table = every(store, community)
    mine = pc.and_(pc.equal(table["cluster"], cluster), pc.equal(table["tier"], tier))
    return table.filter(mine).to_pylist()


def _conversations_out(
    store: Store, docs: list[dict[str, Any]], tweets: int
) -> list[dict[str, Any]]:
    """Conversation documents as pages show them, each with its first ``tweets`` tweets."""
    found = tweets_by_id(store, [t for d in docs for t in d.get("tweet_ids", [])[:tweets]])
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
                "tweets": shown,
            }
        )
    return out


def conversation(
    store: Store, community: str, conversation_id: str, tweets: int = 20
) -> dict[str, Any] | None:
    """One of the community's conversations as :func:`conversations` gives them (None if
    the community has none by that id)."""
    doc = store[Coll.CONVERSATIONS].find_one(
        store.shown(Coll.CONVERSATIONS, community, conversation_id=conversation_id), {"_id": 0}
    )
    return _conversations_out(store, [doc], tweets)[0] if doc else None


def tweets_by_id(store: Store, ids: list[str]) -> dict[str, dict[str, Any]]:
    """Tweets by id as a page shows them: author's username, text, time and the link to
    the tweet on X (one read of the tweets, one of the accounts)."""
    found = tweet_docs(store, ids, ("text", "author_id", "created_at"))
    names = store.usernames({t["author_id"] for t in found})
    return {
        t["_id"]: {
            "author": names.get(t["author_id"], t["author_id"]),
            "text": t.get("text", ""),
            "created_at": t["created_at"],
            "url": f"https://x.com/{names.get(t['author_id'], 'i')}/status/{t['_id']}",
        }
        for t in found
    }


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


#: Runs the Jobs page shows at a time.
RUNS_PAGE = 20


def runs_page_number(page: int, total: int) -> int:
    """``page`` clamped to the pages ``total`` runs make (the first when there are none)."""
    return min(max(page, 0), max(0, (total - 1) // RUNS_PAGE))


def runs_page(store: Store, community: str, page: int) -> tuple[list[dict[str, Any]], int, int]:
    """Page ``page`` of the runs (:func:`runs`), clamped to the pages there are; with that
    page and how many runs there are in all."""
    total = run_count(store, community)
    page = runs_page_number(page, total)
    return runs(store, community, RUNS_PAGE, page * RUNS_PAGE), page, total


def runs(store: Store, community: str, limit: int = RUNS_PAGE, skip: int = 0) -> list[dict]:
    """Recent runs, newest first: why, status, counts and the step in progress."""
    out = []
    for run in recent_runs(store, community, limit, skip):
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
                # Recorded by collection when it ran (dwt.store.runs: the run's
                # ``collection``, with what X billed item by item); absent for runs that
                # did not collect.
                "charges": (run.get("collection") or {}).get("charges"),
                "capped": bool((run.get("collection") or {}).get("capped")),
                "cap_reason": (run.get("collection") or {}).get("cap_reason"),
            }
        )
    return out


def collection(store: Store, community: str) -> dict[str, Any]:
    """What collection holds for the community: tweets and their time frame, the accounts
    that could not be read (with when), and the state of the last collecting runs."""
    ids = store.members(community).column("account_id").to_pylist()
    count, first, last = store.tweet_span(ids)
    unreadable = [
        {
            "username": d.get("username"),
            "account_id": d["account_id"],
            "status": d["status"],
            "seen_at": d.get("status_seen_at"),
        }
        for d in unreadable_members(store, community)
    ]
    collecting = [r for r in runs(store, community) if "collect" in r["steps"]]
    return {
        "tweets": count,
        "first": first,
        "last": last,
        "unreadable": sorted(unreadable, key=lambda u: u["username"] or ""),
        "runs": collecting[:10],
    }


# --- run state and weights (Insights, Jobs) ---------------------------------------------------

#: Run counts in words, in the order a person reads them; a count not named here is shown
#: with its key's underscores as spaces. ``None``: shown only when not zero (a problem).
COUNT_WORDS: dict[str, tuple[str, bool]] = {
    "tweets_fetched": ("tweets collected", False),
    "tweets_new": ("new tweets", False),
    "accounts": ("accounts read", False),
    "follow_lists": ("follow lists read", False),
    "follows": ("follow-list accounts read", False),
    "requests": ("API requests", False),
    "post_reads": ("posts read", False),
    "candidates": ("candidates found", False),
    "tweets": ("tweets analysed", False),
    "bonds": ("bonds", False),
    "follow_lists_median_age_days": ("days: median age of the follow lists used", False),
    "follow_lists_max_age_days": ("days: the oldest follow list used", False),
    "follow_lists_never_read": ("members' follow lists never read", True),
    "clusters": ("clusters", False),
    "isolated": ("members without bonds", False),
    "conversations": ("conversations", False),
    "trending": ("trending", False),
    "no_structure": ("week without groups (one mixed cluster)", True),
    "unavailable": ("accounts unavailable", True),
    "failed": ("reads failed", True),
    "keys_disabled": ("API keys disabled", True),
}


def count_words(counts: dict[str, Any]) -> str:
    """``{"tweets_fetched": 5602, "keys_disabled": 0}`` → ``"5,602 tweets collected"``:
    known counts first in reading order, problem counts only when not zero."""
    order = list(COUNT_WORDS) + sorted(k for k in counts if k not in COUNT_WORDS)
    parts = []
    for key in order:
        value = counts.get(key)
        if not isinstance(value, int | float) or isinstance(value, bool):
            continue
        words, problem_only = COUNT_WORDS.get(key, (key.replace("_", " "), False))
        if problem_only and not value:
            continue
        parts.append(f"{value:,} {words}" if isinstance(value, int) else f"{value:,.2f} {words}")
    return " · ".join(parts)


def spend_words(run: dict[str, Any]) -> str:
    """What X billed a run, item by item, and the cap it stopped at, when it recorded them."""
    parts = []
    if run.get("charges"):
        parts.append("X billed " + bill_words(run["charges"]))
    if run.get("capped"):
        parts.append(f"stopped at {run.get('cap_reason') or 'a cap'}")
    return " · ".join(parts)


def active_run(store: Store, community: str) -> dict[str, Any] | None:
    """The community's run in progress, if any: the one holding the community's lease
    (a run whose heartbeat stopped is marked abandoned here, and blocks nothing)."""
    lease = leases.sweep(store, community, datetime.now(UTC))
    if lease is None:
        return None
    run = store[Coll.RUNS].find_one({"_id": lease.run_id}) or {"_id": lease.run_id}
    return {**run, "heartbeat_at": lease.heartbeat_at}


def clusters_run(store: Store, community: str) -> dict[str, Any] | None:
    """The run the clusters shown come from, with the bond weights it used and whether it
    found no groups (``no_structure``: dwt.stages.cluster); None before the first
    clustering."""
    shown = shown_run(store, Coll.CLUSTERS, community)
    if not shown:
        return None
    run = store[Coll.RUNS].find_one({"_id": shown}) or {"_id": shown}
    return {
        "run_id": run["_id"],
        "finished_at": run.get("finished_at"),
        "weights": weights_of((run.get("params") or {}).get("weights")),
        "no_structure": bool((run.get("counts") or {}).get("no_structure")),
    }


def current_weights(
    store: Store, community: str, shown: dict[str, Any] | None = None
) -> tuple[dict[str, float], str | None]:
    """The weights the sliders start from: those of the run the clusters come from
    (``shown``, when the caller has read :func:`clusters_run` already), else the last
    successful run that computed bonds, else the defaults; with that run's id."""
    shown = shown or clusters_run(store, community)
    if shown:
        return shown["weights"], shown["run_id"]
    run = store[Coll.RUNS].find_one(
        {"community": community, "status": "succeeded", "steps": "bonds"},
        sort=[("started_at", -1)],
    )
    if run:
        return weights_of((run.get("params") or {}).get("weights")), run["_id"]
    return weight_defaults(), None


def conversation_total(store: Store, community: str, cluster: int, tier: int) -> int:
    """How many conversations a cluster has at a tier (the list shows the first ones): as
    the content step counted them, else (a store written before it kept its columnar
    table) the documents."""
    run = shown_run(store, Coll.TABLES, community)
    parts = store.table_fields(community, "conversations", run) if run else []
    if parts:
        key = f"{cluster}/{tier}"
        return sum(int((p.get("totals") or {}).get(key, 0)) for p in parts)
    return store[Coll.CONVERSATIONS].count_documents(
        store.shown(Coll.CONVERSATIONS, community, cluster=cluster, tier=tier)
    )


TOPIC_FIELDS = ("topic", "kind", "count", "members", "trending", "tier")


def ranked_topics(store: Store, query: dict[str, Any]) -> list[dict[str, Any]]:
    """Topics documents matching ``query``, trending first, then by the step's rank."""
    coll = getattr(Coll, "TOPICS", None)
    if coll is None:
        return []
    docs = store[coll].find(query, {"_id": 0, "also": 0})
    return sorted(docs, key=lambda d: (not d.get("trending"), d.get("rank", 0), d.get("tier", 0)))


#: Topics listed in a cluster's detail, and the tweets shown for each.
CLUSTER_TOPICS = 8
TOPIC_TWEETS = 5


def cluster_topics(
    store: Store,
    community: str,
    cluster: int | None,
    limit: int = CLUSTER_TOPICS,
    tweets: int = TOPIC_TWEETS,
) -> list[dict[str, Any]]:
    """A cluster's topics, trending first (every tier), each with the first ``tweets`` of
    the tweets that make it (author, text, time, link to X)."""
    if cluster is None:
        return []
    docs = ranked_topics(store, store.shown(Coll.TOPICS, community, cluster=cluster))[:limit]
    found = tweets_by_id(store, [t for d in docs for t in (d.get("tweet_ids") or [])[:tweets]])
    return [
        {
            **{k: d.get(k) for k in TOPIC_FIELDS},
            "tweets": [found[t] for t in (d.get("tweet_ids") or [])[:tweets] if t in found],
        }
        for d in docs
    ]
