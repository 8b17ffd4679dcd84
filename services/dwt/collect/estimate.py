"""A collection plan made before any request: passes, requests, time and cost.

X meters each endpoint per app key and 15-minute window (user timelines 1,500 requests,
following lists only 15) and, since February 2026, charges per post read. The plan says,
for the members in scope, which passes a run would start or resume (the collect step's
own planning, :func:`dwt.collect.state.plan_passes`, without its write), how many requests
each endpoint would take, how long the binding endpoint's limit makes the run on the
configured keys, and what the post reads would cost. It reads the store only and asks X
nothing.

Estimates: a timeline pass takes at least one request; how many more comes from the posts
the account wrote in the previous window (100 per page), scaled to the time the pass
covers (the whole window without a floor, the time since the last pass with one). A
following pass takes one request per 1,000 followed accounts: the account's last stored
follow list, else its ``following_count``, else 1. An endpoint's time: the keys' first
window of budget goes at once, every further one waits for a reset, so ``n`` windows of
requests take ``n - 1`` windows. The post reads are the timeline estimate's posts; X
deduplicates reads within a day, so a rerun the same day costs less.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from dwt.collect.items import ENDPOINT, Kind, WorkItem
from dwt.collect.state import (
    FollowingPolicy,
    NewPass,
    load_states,
    plan_passes,
    snowflake_time,
)
from dwt.collect.step import accounts_in_scope
from dwt.pipeline.insights import Week
from dwt.store import Coll, Store
from dwt.store.runs import run_started_at
from dwt.xapi.endpoints import DEFAULT_LIMITS, DEFAULT_WINDOW_S

#: X's pay-per-use price of one post read (USD, February 2026).
DEFAULT_PRICE_PER_READ = 0.005
#: Most posts one timeline page returns (``max_results``), accounts one following page.
TIMELINE_PAGE = 100
FOLLOWING_PAGE = 1000
_AUTHORS_SCHEMA = pa.schema([("author_id", pa.string())])


@dataclass
class EndpointPlan:
    """Requests one endpoint would take, and the time its limit implies on the keys."""

    endpoint: str
    requests: int = 0
    guessed: int = 0  # requests estimated without data about the account
    limit: int = 0  # requests per window per key
    duration_s: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "guessed": self.guessed,
            "limit_per_15min": self.limit,
            "duration_s": round(self.duration_s, 1),
        }


@dataclass
class CollectPlan:
    community: str
    since: datetime
    until: datetime
    accounts: int
    keys: int
    passes: dict[str, dict[str, int]]
    endpoints: dict[str, EndpointPlan]
    post_reads: int
    price_per_read: float
    notes: list[str] = field(default_factory=list)
    #: The work itself (:func:`dwt.collect.state.plan_passes`): the collect step starts
    #: these passes and runs these items rather than planning a second time.
    items: list[WorkItem] = field(default_factory=list, repr=False)
    new_passes: list[NewPass] = field(default_factory=list, repr=False)

    @property
    def binding(self) -> EndpointPlan | None:
        """The endpoint whose limit takes longest (None when nothing is to be fetched)."""
        busy = [e for e in self.endpoints.values() if e.requests]
        return max(busy, key=lambda e: e.duration_s) if busy else None

    @property
    def cost_usd(self) -> float:
        return round(self.post_reads * self.price_per_read, 4)

    def summary(self) -> dict[str, Any]:
        """The plan in brief, for a run's record and the CommunityJob status: requests per
        endpoint, the binding endpoint and its time, post reads and cost."""
        binding = self.binding
        return {
            "accounts": self.accounts,
            "keys": self.keys,
            "requests": {name: e.requests for name, e in self.endpoints.items()},
            "binding_endpoint": binding.endpoint if binding else None,
            "duration_s": round(binding.duration_s, 1) if binding else 0.0,
            "post_reads": self.post_reads,
            "cost_usd": self.cost_usd,
        }

    def as_dict(self) -> dict[str, Any]:
        binding = self.binding
        return {
            "community": self.community,
            "window": {"since": self.since.isoformat(), "until": self.until.isoformat()},
            "accounts": self.accounts,
            "keys": self.keys,
            "passes": self.passes,
            "requests": {name: e.as_dict() for name, e in self.endpoints.items()},
            "binding": {
                "endpoint": binding.endpoint if binding else None,
                "duration_s": round(binding.duration_s, 1) if binding else 0.0,
            },
            "post_reads": self.post_reads,
            "price_per_read": self.price_per_read,
            "cost_usd": self.cost_usd,
            "notes": self.notes,
        }

    def text(self) -> str:
        binding = self.binding
        t, f = self.passes["timeline"], self.passes["following"]
        lines = [
            f"collection plan for {self.community!r}: {self.accounts} account(s) in scope, "
            f"{self.keys} API key(s), window {self.since:%Y-%m-%d %H:%M} – "
            f"{self.until:%Y-%m-%d %H:%M} UTC",
            f"  timeline passes   {t['new']} new ({t['incremental']} since their floor), "
            f"{t['resumed']} resumed",
            f"  following passes  {f['new']} new, {f['resumed']} resumed",
        ]
        for e in self.endpoints.values():
            guess = f" ({e.guessed} guessed)" if e.guessed else ""
            lines.append(
                f"  {e.endpoint:<17} {e.requests} request(s){guess}, {e.limit}/15 min per key "
                f"→ {_duration(e.duration_s)}"
            )
        if binding is not None:
            lines.append(
                f"  binding endpoint  {binding.endpoint}: about {_duration(binding.duration_s)}"
            )
        else:
            lines.append("  nothing to fetch")
        lines.append(
            f"  post reads        ~{self.post_reads} × ${self.price_per_read:g} = "
            f"${self.cost_usd:,.2f}"
        )
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


#: A window ending this close to the present is left open (X refuses recent end times).
_OPEN_END = timedelta(minutes=1)


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f}s"
    minutes = seconds / 60
    if minutes < 90:
        return f"{minutes:.0f} min"
    return f"{minutes / 60:.1f} h"


def plan_collection(
    week: Week,
    keys: int,
    *,
    now: datetime | None = None,
    run_id: str | None = None,
    price_per_read: float | None = None,
    limits: dict[str, int] | None = None,
    window_s: float = DEFAULT_WINDOW_S,
) -> CollectPlan:
    """The plan of the collect step of ``week``'s run; reads the store, writes nothing.

    ``now``: the clock the collect step would plan with (default: the machine's);
    ``run_id``: a run being retried (its completed passes are not repeated); ``keys``:
    how many API keys share the work (each has its own budget); ``limits``: requests per
    ``window_s`` per endpoint (default: X's per 15 minutes, :data:`DEFAULT_LIMITS`);
    ``price_per_read``: default the spec's ``collection.pricePerRead``.
    """
    store = week.store
    now = now or datetime.now(UTC)
    limits = {**DEFAULT_LIMITS, **(limits or {})}
    spec = week.spec.collection
    if price_per_read is None:
        price_per_read = spec.price_per_read
    accounts = accounts_in_scope(week)
    open_end = abs(now - week.now) < _OPEN_END
    done_since = run_started_at(store, run_id) if run_id else None
    states = load_states(store, accounts)
    items, new_passes = plan_passes(
        store,
        accounts,
        week.since,
        None if open_end else week.now,
        now,
        FollowingPolicy.of(spec),
        done_since=done_since,
        states=states,
    )
    new_timeline = {a for a, p in new_passes if p is not None}
    new_following = {a for a, p in new_passes if p is None}
    window = week.now - week.since
    previous = _posts_between(store, accounts, week.since - window, week.since)
    follow_sizes = _following_sizes(
        store, [i.account_id for i in items if i.kind is Kind.FOLLOWING]
    )
    passes = {
        "timeline": {"new": 0, "incremental": 0, "resumed": 0},
        "following": {"new": 0, "resumed": 0},
    }
    endpoints = {name: EndpointPlan(name, limit=limits[name]) for name in ENDPOINT.values()}
    reads = 0.0
    for item in items:
        counts = passes[item.kind.value]
        endpoint = endpoints[item.endpoint]
        if item.kind is Kind.TIMELINE:
            new = item.account_id in new_timeline
            if new and item.since_id:
                counts["incremental"] += 1
            counts["new" if new else "resumed"] += 1
            posts = previous.get(item.account_id, 0) * _share(
                item.since_id, states.get(item.account_id, {}), week.now, window, now
            )
            reads += posts
            endpoint.requests += max(1, math.ceil(posts / TIMELINE_PAGE))
            if item.account_id not in previous and not item.since_id:
                endpoint.guessed += 1
        else:
            counts["new" if item.account_id in new_following else "resumed"] += 1
            size = follow_sizes.get(item.account_id)
            endpoint.requests += max(1, math.ceil((size or 1) / FOLLOWING_PAGE))
            if size is None:
                endpoint.guessed += 1
    for endpoint in endpoints.values():
        budget = endpoint.limit * max(1, keys)
        # The first window's budget goes at once; each further one waits for a reset.
        windows = math.ceil(endpoint.requests / budget) if budget else 0
        endpoint.duration_s = max(0, windows - 1) * window_s
    notes = []
    if endpoints["user_tweets"].guessed:
        notes.append(
            f"{endpoints['user_tweets'].guessed} timeline(s) without a floor have no posts "
            "stored in the previous window: counted as 1 request and 0 posts each (a guess)"
        )
    guessed = endpoints["following"].guessed
    if guessed:
        notes.append(
            f"{guessed} follow list size(s) unknown (no stored list or following_count): "
            "counted as 1 request each (a guess)"
        )
    if keys < 1:
        notes.append("no API keys configured: times are for 1 key")
    notes.append(
        "times assume every key spends its whole budget on this run; "
        "X deduplicates post reads within a day, so a same-day rerun costs less"
    )
    return CollectPlan(
        community=week.spec.community,
        since=week.since,
        until=week.now,
        accounts=len(accounts),
        keys=keys,
        passes=passes,
        endpoints=endpoints,
        post_reads=round(reads),
        price_per_read=price_per_read,
        notes=notes,
        items=items,
        new_passes=new_passes,
    )


def _share(
    since_id: str | None, state: dict[str, Any], until: datetime, window: timedelta, now: datetime
) -> float:
    """The share of a window's posts a timeline pass would read: all of them without a
    floor, else those since the later of the floor's post and the last completed pass."""
    if not since_id or window <= timedelta(0):
        return 1.0
    last = snowflake_time(since_id)
    done = state.get("timeline_done_at")
    if done is not None:
        done = done if done.tzinfo else done.replace(tzinfo=UTC)
        last = max(last, done)
    covered = max(timedelta(0), min(until, now) - last)
    return min(1.0, covered / window)


def _posts_between(
    store: Store, accounts: list[str], since: datetime, until: datetime
) -> dict[str, int]:
    """Posts per account stored in ``[since, until)`` (accounts with none left out): one
    columnar read of the authors, counted by Arrow."""
    authors = store.table(
        Coll.TWEETS,
        {"author_id": {"$in": accounts}, "created_at": {"$gte": since, "$lt": until}},
        [],
        {},
        _AUTHORS_SCHEMA,
    ).column("author_id")
    counts = pc.value_counts(authors.drop_null())
    return dict(
        zip(
            counts.field("values").to_pylist(),
            counts.field("counts").to_pylist(),
            strict=True,
        )
    )


def _following_sizes(store: Store, accounts: list[str]) -> dict[str, int]:
    """The last known size of each account's follow list (accounts unknown left out)."""
    sizes: dict[str, int] = {}
    for doc in store[Coll.FOLLOWS].find({"_id": {"$in": accounts}}, {"targets": 1}):
        if doc.get("targets") is not None:
            sizes[doc["_id"]] = len(doc["targets"])
    missing = [a for a in accounts if a not in sizes]
    if missing:
        cursor = store[Coll.ACCOUNTS].find({"_id": {"$in": missing}}, {"public_metrics": 1})
        for doc in cursor:
            count = (doc.get("public_metrics") or {}).get("following_count")
            if isinstance(count, int):
                sizes[doc["_id"]] = count
    return sizes
