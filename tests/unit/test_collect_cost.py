"""What a paying user is told against what X bills (issue 25): every charge counted and
itemised, the plan's estimate, the caps in dollars, X's refusals ending a run at once, a
storm of header-less 429s ending it in bounded time, limits learned from X's answers, and a
follow-list refresh chosen by what it is expected to find per dollar.

The X API emulator is the only substitute here (the real X cannot be reached): it bills
every resource it returns at X's list price, once per UTC day, like X's console — the
truth the product cannot read, which these tests score it against.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from collect_fixtures import (
    COMMUNITY,
    KEYS,
    emulator,
    members,
    readable_tweets,
    run_collect,
    stored_tweets,
)

from dwt.collect.budget import month_budget
from dwt.collect.state import FollowingPolicy, following_due
from dwt.generate import generate_community
from dwt.pipeline.collection import CollectionStopped
from dwt.pipeline.runner import StepCapped
from dwt.store import Coll, Store
from dwt.store.limits import learned_limits
from dwt.store.runs import month_spend, record_collection, record_lookup, start_run
from dwt.xapi.client import key_fingerprint
from dwt.xapi.dataset import Dataset
from dwt.xapi.prices import Charges, Tariff

pytestmark = pytest.mark.both_stores

WEEK = timedelta(days=7)
#: An instant for the ledger's month (tests never read the calendar).
NOON = datetime(2026, 11, 18, 12, tzinfo=UTC)


@pytest.fixture(scope="module")
def dataset() -> Dataset:
    return generate_community(members=40, communities=3, days=14, seed=7, tweets_per_member=30)


@pytest.fixture
def community(store: Store, dataset: Dataset) -> Store:
    """The members as a lookup stores them: with created_at and public_metrics, so a first
    collection can be priced before anything was read."""
    store.add_members(
        COMMUNITY,
        [
            {
                "id": m["id"],
                "username": m["username"],
                "created_at": m["created_at"].isoformat(),
                "public_metrics": {
                    "tweet_count": m["tweet_count"],
                    "following_count": m["following_count"],
                },
            }
            for m in members(dataset)
        ],
    )
    return store


def _a_week_passes(store: Store) -> None:
    """Move the collection checkpoints a week into the past (the store's clock, not ours)."""
    state = store[Coll.COLLECT_STATE]
    for doc in list(state.find({})):
        moved = {
            name: doc[name] - WEEK
            for name in ("following_done_at", "timeline_done_at", "status_seen_at")
            if isinstance(doc.get(name), datetime)
        }
        if moved:
            state.update_one({"_id": doc["_id"]}, {"$set": moved})


def _collection(store: Store, run_id: str) -> dict:
    return store[Coll.RUNS].find_one({"_id": run_id})["collection"]


def _billed(after: dict, before: dict | None = None) -> dict:
    """What X billed between two stats snapshots, by resource, and in dollars."""
    before = before or {"posts": 0, "following_accounts": 0, "user_lookups": 0,
                        "usd": {"total": 0.0}}  # fmt: skip
    out = {k: after[k] - before[k] for k in ("posts", "following_accounts", "user_lookups")}
    return out | {"usd": after["usd"]["total"] - before["usd"]["total"]}


def test_every_charge_is_counted_and_the_plan_is_near_the_bill(community, dataset, keys):
    """A first collection with no history and a second week: dwt's bill is X's, item by
    item, and the plan made before each run is within 15 % of it."""
    with emulator(dataset, KEYS, rate_limit=1000) as server:
        run_collect(community, keys, server.base_url, dataset.now - WEEK, "w1")
        first = server.stats()["bill"]
        _a_week_passes(community)
        server.emulator.billing.advance(WEEK.total_seconds())  # a week later: a new UTC day
        run_collect(community, keys, server.base_url, dataset.now, "w2")
        second = server.stats()["bill"]
    for run_id, billed in (("w1", _billed(first)), ("w2", _billed(second, first))):
        record = _collection(community, run_id)
        charges = record["charges"]
        assert billed["following_accounts"] > 0 and billed["posts"] > 0
        assert charges["posts"] == billed["posts"]
        assert charges["following_accounts"] == billed["following_accounts"]
        assert charges["user_lookups"] == billed["user_lookups"] == 0
        assert record["spend_usd"] == pytest.approx(billed["usd"], abs=1e-6)
        planned = record["plan"]["cost_usd"]
        assert abs(planned - billed["usd"]) / billed["usd"] <= 0.15, (run_id, planned, billed)
        assert record["plan"]["following_accounts"] > 0  # never "$0.00" with work planned


def test_a_run_stops_at_its_dollar_cap_and_the_next_resumes(community, dataset, keys):
    with emulator(dataset, KEYS, rate_limit=1000) as server:
        with pytest.raises(StepCapped, match=r"maxSpendPerRun \$1\.00") as stopped:
            run_collect(
                community, keys, server.base_url, dataset.now, "cap",
                {"collection": {"maxSpendPerRun": 1.0}},
            )  # fmt: skip
        capped = _billed(server.stats()["bill"])
        record = _collection(community, "cap")
        assert record["capped"] is True and record["skipped"]
        assert record["spend_usd"] == pytest.approx(capped["usd"], abs=1e-6)
        assert 0 < capped["usd"] <= 1.0
        assert "insight steps not run" in stopped.value.message
        assert len(stored_tweets(community)) == capped["posts"]  # kept what X billed
        run_collect(community, keys, server.base_url, dataset.now, "rest")
        stats = server.stats()
    assert set(stored_tweets(community)) == readable_tweets(dataset, dataset.now - WEEK)
    assert stats["posts_served_again"] == 0  # the resumed run paid for nothing twice
    assert community[Coll.RUNS].find_one({"_id": "cap"})["status"] != "succeeded"


def test_the_month_cap_counts_what_the_month_spent(community, dataset, keys):
    record_lookup(community, COMMUNITY, Charges(user_lookups=90), Tariff(), NOON)  # $0.90
    spec = {"collection": {"maxSpendPerMonth": 1.0}}
    with emulator(dataset, KEYS, rate_limit=1000) as server:
        with pytest.raises(StepCapped, match=r"maxSpendPerMonth \$1\.00 \(\$0\.90 spent"):
            run_collect(
                community, keys, server.base_url, dataset.now, "m", spec, clock=lambda: NOON
            )
        billed = _billed(server.stats()["bill"])
    assert billed["usd"] <= 0.10 + 1e-9
    month = month_spend(community, COMMUNITY, NOON)
    assert month["spend_usd"] == pytest.approx(0.90 + billed["usd"], abs=1e-4)
    assert month["runs"] == 1 and month["lookups"] == 1


@pytest.mark.parametrize(
    ("config", "words"),
    [
        ({"monthly_post_cap": 60}, "UsageCapExceeded"),
        ({"credits_usd": 0.5}, "CreditsDepleted"),
    ],
)
def test_x_refusing_to_bill_ends_the_run_at_once(community, dataset, keys, config, words):
    with emulator(dataset, KEYS, rate_limit=1000, **config) as server:
        with pytest.raises(StepCapped, match=words) as stopped:
            run_collect(community, keys, server.base_url, dataset.now, "x")
        stats = server.stats()
        billed = _billed(stats["bill"])
        # X's refusals came at once: no retry loop against them
        assert sum(stats["bill"]["refused"].values()) <= 2 * len(KEYS) + 2
        record = _collection(community, "x")
        assert record["refused_by_x"] is True and words in record["cap_reason"]
        assert record["charges"]["posts"] == billed["posts"]
        assert len(stored_tweets(community)) == billed["posts"]  # nothing billed is lost
        assert "the next run resumes" in stopped.value.message
        server.emulator.billing.advance(32 * 86_400)  # the next billing cycle, on a plan
        server.emulator.billing.credits_usd = None  # with credits bought and no cap
        server.emulator.billing.monthly_post_cap = None
        run_collect(community, keys, server.base_url, dataset.now, "after")
        assert server.stats()["posts_served_again"] == 0
    assert set(stored_tweets(community)) == readable_tweets(dataset, dataset.now - WEEK)


def test_a_storm_of_header_less_429s_ends_with_a_sentence(community, dataset, keys):
    with emulator(dataset, KEYS, rate_limit=1000, throttle_rate=1.0) as server:
        with pytest.raises(CollectionStopped, match="429 and no rate-limit headers") as stopped:
            run_collect(community, keys, server.base_url, dataset.now, "storm", give_up_s=1.5)
        requests = server.stats()["requests"]
    # backing off from 1 s, doubling, per key: a handful of requests, not a retry loop
    assert 0 < requests <= 6 * len(KEYS)
    assert "the next run resumes" in str(stopped.value)
    record = community[Coll.RUNS].find_one({"_id": "storm"})
    assert record["collection"]["charges"]["posts"] == 0
    skipped = record["collection"]["skipped"]  # what the next run has to read
    assert skipped["user_tweets"]["accounts"] == len(members(dataset))
    # nothing lost: every pass is still planned, for the next run to resume
    states = list(community[Coll.COLLECT_STATE].find({}))
    assert len(states) == len(members(dataset)) and all("timeline_pass" in s for s in states)


def test_limits_are_learned_from_x_and_the_plan_uses_them(community, dataset, keys):
    with emulator(dataset, KEYS, rate_limit=1000, rate_limits={"following": 7}) as server:
        run_collect(community, keys, server.base_url, dataset.now, "l")
    learned = learned_limits(community, [key_fingerprint(k) for k in KEYS])
    assert {k: v["following"] for k, v in learned.items()} == {key_fingerprint(k): 7 for k in KEYS}
    plan = _collection(community, "l")["plan"]  # made before: X's table then
    assert plan["requests"]["following"] == len(members(dataset))
    from dwt.pipeline.estimate import plan_collection
    from dwt.pipeline.insights import Week
    from dwt.pipeline.spec import RunSpec

    week = Week(community, RunSpec(community=COMMUNITY, steps=["collect"]), dataset.now)
    again = plan_collection(week, [key_fingerprint(k) for k in KEYS], now=dataset.now)
    following = again.endpoints["following"]
    assert following.limit == 7 and following.budget == 14
    assert following.limit_source == "learned from X's answers"


# ---- pure: the refresh cadence, the month ----------------------------------------------------


def _states(ages: dict[str, float], rates: dict[str, float] | None = None) -> dict[str, dict]:
    rates = rates or {}
    return {
        a: {"following_done_at": NOON - timedelta(days=age)}
        | ({"following_change_rate": rates[a]} if a in rates else {})
        for a, age in ages.items()
    }


def test_refresh_goes_to_the_lists_expected_to_have_changed_most():
    ages = {f"a{i}": 14.0 for i in range(10)}
    rates = {a: 0.01 for a in ages} | {"a3": 0.30, "a7": 0.10}  # learned at their last reads
    states = _states(ages, rates)
    due = following_due(states, list(ages), NOON, FollowingPolicy(share=0.1))
    # 10 % of 10 lists × 2 weeks = 2 lists: the two changing fastest, not the oldest
    assert due == ["a3", "a7"]
    # a list not expected to have changed enough is not worth its price
    slow = following_due(states, list(ages), NOON, FollowingPolicy(share=0.1, min_change=0.25))
    assert slow == ["a3"]


def test_refresh_budget_is_in_accounts_so_big_lists_cost_more_of_it():
    ages = {"big": 30.0, "s1": 20.0, "s2": 20.0, "s3": 20.0}
    policy = FollowingPolicy(share=0.3)
    # 0.3 × the accounts held × 20/7 weeks since the newest refresh, spent oldest first
    sizes = {"big": 900, "s1": 100, "s2": 100, "s3": 100}  # budget 1,029 accounts
    due = following_due(_states(ages), list(ages), NOON, policy, None, sizes)
    assert due == ["big", "s1"]
    small = dict.fromkeys(ages, 100)  # budget 343 accounts: three lists of 100
    due = following_due(_states(ages), list(ages), NOON, policy, None, small)
    assert due == ["big", "s1", "s2"]


def test_lists_too_big_are_never_read():
    states = {"new-big": {}, "new-small": {}}
    sizes = {"new-big": 9000, "new-small": 50}
    policy = FollowingPolicy(max_list_size=5000)
    assert following_due(states, list(states), NOON, policy, None, sizes) == ["new-small"]


def test_the_month_forecast_follows_the_cadence(store: Store):
    tariff = Tariff()
    store.add_members(COMMUNITY, [{"id": "1", "username": "one"}])
    for days_ago in (14, 7):  # weekly runs of $10 (1,000 follow-list accounts)
        at = NOON - timedelta(days=days_ago)
        run_id = f"r{days_ago}"
        start_run(store, run_id, COMMUNITY, ["collect"], {}, at)
        record_collection(store, run_id, Charges(following_accounts=1000), tariff, at)
    month = month_budget(store, COMMUNITY, NOON, planned_usd=4.0, cap_usd=50.0)
    assert month.month == "2026-11" and month.spent_usd == pytest.approx(20.0)
    assert month.cadence_days == pytest.approx(7.0) and month.per_run_usd == pytest.approx(10.0)
    # 12 days left in November at one run a week: one more run after this one
    assert month.runs_left == 1 and month.forecast_usd == pytest.approx(20.0 + 4.0 + 10.0)
    december = month_budget(store, COMMUNITY, datetime(2026, 12, 2, tzinfo=UTC))
    assert december.spent_usd == 0.0
