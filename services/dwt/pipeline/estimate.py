"""A collection plan made before any request: passes, requests, time, every charge, the month.

X meters each endpoint per app key and 15-minute window (:mod:`dwt.xapi.endpoints`; the
limit each key's answers reported wins, :mod:`dwt.store.limits`) and bills every resource a
read returns (:mod:`dwt.xapi.prices`): each post, each account of a follow list, each user
looked up. The plan says, for the members in scope, which passes a run would start or
resume (the collect step's own planning, :func:`dwt.collect.state.plan_passes`, without its
write), how many requests each endpoint would take, how long the run would take on the
configured keys, what X would bill for it, item by item, where the month stands (spent,
forecast, caps) and what would stop it. It reads the store only and asks X nothing.

Estimates: a timeline pass takes at least one request; how many more comes from the posts
the account wrote in the previous window (100 per page), scaled to the time the pass covers
(the whole window without a floor, the time since the last pass with one) — or, for an
account never collected, from its ``tweet_count`` over its age (X's lifetime pace). A
following pass takes one request per 1,000 followed accounts and bills each of them: the
size its last read found, else its ``following_count``; lists past
``collection.followingMaxListSize`` are not read and the plan names them.

Time: an endpoint's first window of budget (over every key) goes at once, every further one
waits for a reset, and the requests of the last window go at the pace requests are served —
so ``n`` windows take ``n - 1`` windows plus that tail. A run can also be bound by that pace
alone (a weekly run, whose requests fit in the first window): the requests × the seconds one
takes / the collectors, or the seconds the driver takes to store them. Those seconds — a
collector's turn, from dispatch to its page stored — are the last collection's (its run
record's ``timing``), else a typical round trip to X.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from dwt.collect.budget import RunCaps, month_budget, run_caps, tariff_for
from dwt.collect.items import ENDPOINT, Kind, WorkItem
from dwt.collect.state import (
    FollowingPolicy,
    NewPass,
    list_sizes,
    load_states,
    plan_passes,
    snowflake_time,
)
from dwt.pipeline.insights import Week
from dwt.pipeline.scope import accounts_in_scope, slots
from dwt.store import Store
from dwt.store.limits import learned_limits
from dwt.store.runs import last_collection, run_started_at
from dwt.words import plural
from dwt.xapi.prices import Charges, Resource, Tariff, bill_words

#: Most posts one timeline page returns (``max_results``), accounts one following page.
TIMELINE_PAGE = 100
FOLLOWING_PAGE = 1000
#: X serves at most this many of an account's latest posts.
TIMELINE_DEPTH = 3200
#: Seconds one request takes (a round trip to X is 100–300 ms) and the driver takes to
#: store its page, until a collection of the community has measured its own.
DEFAULT_REQUEST_S = 0.25
DEFAULT_STORE_S = 0.01


@dataclass
class EndpointPlan:
    """Requests one endpoint would take, the limit they run under and the time it takes."""

    endpoint: str
    requests: int = 0
    guessed: int = 0  # requests estimated without data about the account
    limit: int = 0  # requests per window per key (the keys' mean when they differ)
    budget: int = 0  # requests per window over every key
    limit_source: str = ""
    request_s: float = DEFAULT_REQUEST_S
    store_s: float = DEFAULT_STORE_S
    duration_s: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "guessed": self.guessed,
            "limit_per_15min": self.limit,
            "budget_per_window": self.budget,
            "limit_source": self.limit_source,
            "request_s": round(self.request_s, 4),
            "duration_s": round(self.duration_s, 1),
        }


@dataclass
class CollectPlan:
    community: str
    since: datetime
    until: datetime
    accounts: int
    keys: int
    slots: int
    passes: dict[str, dict[str, int]]
    endpoints: dict[str, EndpointPlan]
    charges: Charges
    tariff: Tariff
    window_s: float
    bound: str = "nothing to fetch"
    duration_s: float = 0.0
    month: dict[str, Any] = field(default_factory=dict)
    caps: RunCaps | None = None
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    too_big: dict[str, int] = field(default_factory=dict, repr=False)  # account → list size
    #: The work itself (:func:`dwt.collect.state.plan_passes`): the collect step starts
    #: these passes and runs these items rather than planning a second time.
    items: list[WorkItem] = field(default_factory=list, repr=False)
    new_passes: list[NewPass] = field(default_factory=list, repr=False)
    list_sizes: dict[str, int] = field(default_factory=dict, repr=False)

    @property
    def binding(self) -> EndpointPlan | None:
        """The endpoint whose limit takes longest (None when nothing is to be fetched)."""
        busy = [e for e in self.endpoints.values() if e.requests]
        return max(busy, key=lambda e: e.duration_s) if busy else None

    @property
    def post_reads(self) -> int:
        return self.charges.posts

    @property
    def cost_usd(self) -> float:
        return round(self.charges.usd(self.tariff), 4)

    def bill(self) -> dict[str, Any]:
        return self.charges.bill(self.tariff)

    def summary(self) -> dict[str, Any]:
        """The plan in brief, for a run's record and the CommunityJob status: requests per
        endpoint, what binds and the time, the itemised estimate, the month, warnings."""
        binding = self.binding
        return {
            "accounts": self.accounts,
            "keys": self.keys,
            "requests": {name: e.requests for name, e in self.endpoints.items()},
            "binding_endpoint": binding.endpoint if binding else None,
            "bound": self.bound,
            "duration_s": round(self.duration_s, 1),
            **{r.value: self.charges.count(r) for r in Resource},
            "post_reads": self.post_reads,
            "cost_usd": self.cost_usd,
            "month": self.month,
            "warnings": self.warnings,
        }

    def as_dict(self) -> dict[str, Any]:
        binding = self.binding
        return {
            "community": self.community,
            "window": {"since": self.since.isoformat(), "until": self.until.isoformat()},
            "accounts": self.accounts,
            "keys": self.keys,
            "collectors": self.slots,
            "passes": self.passes,
            "requests": {name: e.as_dict() for name, e in self.endpoints.items()},
            "binding": {
                "endpoint": binding.endpoint if binding else None,
                "bound": self.bound,
                "duration_s": round(self.duration_s, 1),
            },
            "charges": self.bill(),
            "post_reads": self.post_reads,
            "prices": {r.value: self.tariff.price(r) for r in Resource},
            "tariff_sources": dict(self.tariff.sources),
            "cost_usd": self.cost_usd,
            "month": self.month,
            "caps": self.caps.as_dict() if self.caps else None,
            "following_not_read": len(self.too_big),
            "warnings": self.warnings,
            "notes": self.notes,
        }

    def text(self) -> str:
        t, f = self.passes["timeline"], self.passes["following"]
        lines = [
            f"collection plan for {self.community!r}: {plural(self.accounts, 'account')} in "
            f"scope, {plural(self.keys, 'API key')}, {plural(self.slots, 'collector')}, window "
            f"{self.since:%Y-%m-%d %H:%M} – {self.until:%Y-%m-%d %H:%M} UTC",
            f"  timeline passes   {t['new']} new ({t['incremental']} since their floor), "
            f"{t['resumed']} resumed",
            f"  following passes  {f['new']} new, {f['resumed']} resumed",
        ]
        per = _duration(self.window_s)
        for e in self.endpoints.values():
            guess = f" ({e.guessed} guessed)" if e.guessed else ""
            lines.append(
                f"  {e.endpoint:<17} {plural(e.requests, 'request')}{guess}, {e.limit}/{per} "
                f"per key ({e.limit_source}) → {_duration(e.duration_s)}"
            )
        if self.duration_s or self.binding is not None:
            lines.append(f"  takes about       {_duration(self.duration_s)} ({self.bound})")
        else:
            lines.append("  nothing to fetch")
        lines.append(f"  X bills about     {bill_words(self.bill())}")
        if self.month:
            m = self.month
            cap = f" of ${m['cap_usd']:,.2f}" if m.get("cap_usd") is not None else ""
            lines.append(
                f"  month {m['month']}     ${m['spent_usd']:,.2f} spent{cap}; at this cadence "
                f"(a run every {m['cadence_days']:.1f} d) about ${m['forecast_usd']:,.2f}"
            )
        lines += [f"  WARNING: {w}" for w in self.warnings]
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
    keys: int | list[str],
    *,
    now: datetime | None = None,
    run_id: str | None = None,
    tariff: Tariff | None = None,
    window_s: float | None = None,
    page_size: int = TIMELINE_PAGE,
) -> CollectPlan:
    """The plan of the collect step of ``week``'s run; reads the store, writes nothing.

    ``keys``: the API keys' fingerprints (their learned limits are used), or how many keys
    share the work; ``now``: the clock the collect step would plan with (default: the
    machine's); ``run_id``: a run being retried (its completed passes are not repeated, its
    spend counts against its cap); ``tariff``: prices, limits and X's post cap (default:
    X's tables) before the spec's overrides; ``window_s``: the rate window (default: the
    tariff's, X's 15 minutes).
    """
    store = week.store
    now = now or datetime.now(UTC)
    spec = week.spec.collection
    tariff = tariff_for(tariff or Tariff(), spec)
    window_s = window_s or tariff.window_s
    key_ids = list(keys) if isinstance(keys, list) else []
    n_keys = len(key_ids) if isinstance(keys, list) else int(keys)
    accounts = accounts_in_scope(week)
    open_end = abs(now - week.now) < _OPEN_END
    done_since = run_started_at(store, run_id) if run_id else None
    states = load_states(store, accounts)
    policy = FollowingPolicy.of(spec)
    sizes = list_sizes(store, accounts, states)
    items, new_passes = plan_passes(
        store,
        accounts,
        week.since,
        None if open_end else week.now,
        now,
        policy,
        done_since=done_since,
        states=states,
        sizes=sizes,
    )
    new_timeline = {a for a, p in new_passes if p is not None}
    new_following = {a for a, p in new_passes if p is None}
    window = week.now - week.since
    previous = store.posts_by_author(accounts, week.since - window, week.since)
    never = [
        i.account_id
        for i in items
        if i.kind is Kind.TIMELINE and not i.since_id and i.account_id not in previous
    ]
    paces = _paces(store, never, now)
    passes = {
        "timeline": {"new": 0, "incremental": 0, "resumed": 0},
        "following": {"new": 0, "resumed": 0},
    }
    endpoints = {name: EndpointPlan(name) for name in ENDPOINT.values()}
    charges = Charges()
    posts = 0.0
    for item in items:
        counts = passes[item.kind.value]
        endpoint = endpoints[item.endpoint]
        if item.kind is Kind.TIMELINE:
            new = item.account_id in new_timeline
            if new and item.since_id:
                counts["incremental"] += 1
            counts["new" if new else "resumed"] += 1
            if item.account_id in previous or item.since_id:
                share = _share(
                    item.since_id, states.get(item.account_id, {}), week.now, window, now
                )
                expected = previous.get(item.account_id, 0) * share
            elif item.account_id in paces:
                expected = min(TIMELINE_DEPTH, paces[item.account_id] * window.total_seconds())
            elif states.get(item.account_id, {}).get("timeline_done_at"):
                expected = 0.0  # read to the end before and wrote nothing: no floor to keep
            else:
                expected = 0.0
                endpoint.guessed += 1
            posts += expected
            endpoint.requests += max(1, math.ceil(expected / page_size))
        else:
            counts["new" if item.account_id in new_following else "resumed"] += 1
            size = sizes.get(item.account_id)
            endpoint.requests += max(1, math.ceil((size or 1) / FOLLOWING_PAGE))
            charges.add(Resource.FOLLOWING, size or 0)
            if size is None:
                endpoint.guessed += 1
    charges.add(Resource.POST, round(posts))
    learned = learned_limits(store, key_ids) if key_ids else {}
    timing = (last_collection(store, week.spec.community) or {}).get("timing") or {}
    n_slots = len(slots(key_ids or ["k"] * max(1, n_keys), spec.workers_per_key, spec.max_workers))
    for endpoint in endpoints.values():
        _limits(endpoint, tariff, learned, key_ids, max(1, n_keys))
        done = timing.get(endpoint.endpoint) or {}
        if done.get("requests"):
            # A collector's turn: from dispatch to its page stored (the request, Ray's round
            # trip and the driver's queue), as the last collection measured it.
            turn = done.get("cycle_s") or done.get("http_s") or 0.0
            endpoint.request_s = float(turn) / float(done["requests"])
            endpoint.store_s = float(done.get("store_s") or 0.0) / float(done["requests"])
        endpoint.duration_s = _limit_time(endpoint, window_s, n_slots)
    pace = sum(e.requests * e.request_s for e in endpoints.values()) / n_slots
    storing = sum(e.requests * e.store_s for e in endpoints.values())
    busy = [e for e in endpoints.values() if e.requests]
    binding = max(busy, key=lambda e: e.duration_s) if busy else None
    duration, bound = 0.0, "nothing to fetch"
    if binding is not None:
        duration, bound = binding.duration_s, f"rate limit of {binding.endpoint}"
        if binding.requests <= binding.budget:  # its first window: not held back by a reset
            bound = "request latency"
        if pace > duration:
            duration, bound = pace, "request latency"
        if storing > duration:
            duration, bound = storing, "storing pages"
    reading = {i.account_id for i in items if i.kind is Kind.FOLLOWING}
    too_big = {
        a: size for a in accounts if policy.too_big(size := sizes.get(a)) and a not in reading
    }
    plan = CollectPlan(
        community=week.spec.community,
        since=week.since,
        until=week.now,
        accounts=len(accounts),
        keys=n_keys,
        slots=n_slots,
        passes=passes,
        endpoints=endpoints,
        charges=charges,
        tariff=tariff,
        window_s=window_s,
        bound=bound,
        duration_s=duration,
        too_big=too_big,
        items=items,
        new_passes=new_passes,
        list_sizes=sizes,
    )
    _budget(plan, store, spec, tariff, now, run_id, week.spec.window_days)
    _notes(plan, n_keys, timing, policy)
    return plan


def _limits(
    endpoint: EndpointPlan,
    tariff: Tariff,
    learned: dict[str, dict[str, int]],
    key_ids: list[str],
    n_keys: int,
) -> None:
    """Each key's limit: what its answers said where known, else the tariff's."""
    name = endpoint.endpoint
    default = int(tariff.limits[name])
    per_key = [learned.get(k, {}).get(name) for k in key_ids] or [None] * n_keys
    known = sum(1 for v in per_key if v)
    endpoint.budget = sum(v or default for v in per_key)
    endpoint.limit = round(endpoint.budget / len(per_key))
    table = tariff.sources.get("limits", "X's table")
    if known == len(per_key):
        endpoint.limit_source = "learned from X's answers"
    elif known:
        endpoint.limit_source = f"learned for {plural(known, 'key')}, {table} for the rest"
    else:
        endpoint.limit_source = table


def _limit_time(endpoint: EndpointPlan, window_s: float, slots: int) -> float:
    """The first window's budget at once, each further one after a reset, the last one's
    requests at the pace requests are served."""
    if not endpoint.requests or not endpoint.budget:
        return 0.0
    windows = math.ceil(endpoint.requests / endpoint.budget)
    last = endpoint.requests - (windows - 1) * endpoint.budget
    return (windows - 1) * window_s + last * endpoint.request_s / max(1, slots)


def _budget(
    plan: CollectPlan,
    store: Store,
    spec: Any,
    tariff: Tariff,
    now: datetime,
    run_id: str | None,
    window_days: int,
) -> None:
    """The month (spent, forecast), the caps, and a warning for each the plan exceeds."""
    community = plan.community
    cost = plan.cost_usd
    month = month_budget(
        store,
        community,
        now,
        planned_usd=cost,
        window_days=window_days,
        cap_usd=spec.max_spend_per_month,
    )
    plan.month = month.as_dict()
    plan.caps = caps = run_caps(store, community, spec, tariff, now, run_id)
    warnings = plan.warnings
    if caps.usd is not None and cost > caps.usd:
        warnings.append(
            f"the estimate ${cost:,.2f} exceeds what {caps.usd_reason} leaves "
            f"(${caps.usd:,.2f}): the run will stop there and say what it skipped"
        )
    if caps.post_reads is not None and plan.post_reads > caps.post_reads:
        warnings.append(
            f"about {plan.post_reads:,} post reads, more than {caps.posts_reason} leaves "
            f"({caps.post_reads:,}): the run will stop there and say what it skipped"
        )
    cap = spec.max_spend_per_month
    if (
        cap is not None
        and month.forecast_usd > cap
        and not (caps.usd is not None and cost > caps.usd)
    ):
        warnings.append(
            f"at this cadence the month would cost about ${month.forecast_usd:,.2f}, more than "
            f"collection.maxSpendPerMonth ${cap:,.2f}: later runs would stop at the cap"
        )


def _notes(plan: CollectPlan, keys: int, timing: dict[str, Any], policy: FollowingPolicy) -> None:
    notes = plan.notes
    timeline = plan.endpoints["user_tweets"]
    if timeline.guessed:
        notes.append(
            f"{plural(timeline.guessed, 'timeline')} without a floor, stored posts or tweet_count: "
            "counted as 1 request and 0 posts each (a guess)"
        )
    following = plan.endpoints["following"]
    if following.guessed:
        notes.append(
            f"{plural(following.guessed, 'follow list size')} unknown (no stored list or "
            "following_count): counted as 1 request and 0 accounts each (a guess)"
        )
    if plan.too_big:
        size = sum(plan.too_big.values())
        usd = size * plan.tariff.price(Resource.FOLLOWING)
        notes.append(
            f"{plural(len(plan.too_big), 'member')} follow{'s' if len(plan.too_big) == 1 else ''} "
            f"more than {policy.max_list_size:,} accounts: "
            f"their lists are not read (they would cost ${usd:,.2f}); raise "
            "collection.followingMaxListSize to read them"
        )
    if keys < 1:
        notes.append("no API keys configured: times are for 1 key")
    if not timing:
        notes.append(f"no collection measured yet: a request is taken to last {DEFAULT_REQUEST_S}s")
    notes.append(
        "times assume every key spends its whole budget on this run; X bills a resource "
        "read twice the same UTC day once, so a same-day rerun costs less"
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


def _paces(store: Store, accounts: list[str], now: datetime) -> dict[str, float]:
    """Posts per second each account wrote over its life (``tweet_count`` / age), from the
    user objects a lookup stored; accounts without both left out."""
    paces: dict[str, float] = {}
    if not accounts:
        return paces
    for doc in store.accounts(accounts, ["public_metrics", "created_at"]).values():
        count = (doc.get("public_metrics") or {}).get("tweet_count")
        created = doc.get("created_at")
        if not isinstance(count, int) or not isinstance(created, datetime):
            continue
        created = created if created.tzinfo else created.replace(tzinfo=UTC)
        age = max(timedelta(days=1), now - created).total_seconds()
        paces[doc["_id"]] = count / age
    return paces
