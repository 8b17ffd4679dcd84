"""Follow lists on their own cadence, the post-read cap, spend per run and per month, and
no post paid for twice — against the X API emulator over HTTP with the real tweepy client."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from collect_fixtures import (
    KEYS,
    add_community,
    emulator,
    members,
    readable_tweets,
    run_collect,
    stored_tweets,
)

from dwt.collect.state import FollowingPolicy, following_due, follows_age_days
from dwt.generate import generate_community
from dwt.pipeline.runner import StepCapped
from dwt.store import Coll, Store
from dwt.store.runs import month_bounds, month_spend, record_collection
from dwt.xapi.dataset import Dataset
from dwt.xapi.emulator import EmulatorServer
from dwt.xapi.prices import Charges, Tariff

pytestmark = pytest.mark.both_stores

NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)


# ---- the rolling refresh (pure) ------------------------------------------------------------


def _states(ages_days: dict[str, float | None]) -> dict[str, dict]:
    return {
        a: ({} if age is None else {"following_done_at": NOW - timedelta(days=age)})
        for a, age in ages_days.items()
    }


def test_rolling_refresh_picks_the_oldest_share_and_every_new_member():
    ages = {f"a{i}": 7.0 + i for i in range(20)} | {"new1": None, "new2": None}
    accounts = list(ages)
    due = following_due(_states(ages), accounts, NOW, FollowingPolicy(share=0.15))
    # 0.15 × 20 lists × 1 week since the newest refresh = 3, the oldest three; new ones too.
    assert due == ["a17", "a18", "a19", "new1", "new2"]


def test_rolling_quota_scales_with_the_time_since_the_last_refresh():
    ages = {f"a{i}": 1.0 + i / 100 for i in range(70)}  # refreshed a day ago
    daily = following_due(_states(ages), list(ages), NOW, FollowingPolicy(share=0.2))
    assert len(daily) == 2  # 0.2 × 70 / 7
    assert following_due(_states({"a": 0.001}), ["a"], NOW, FollowingPolicy()) == []


def test_lists_past_the_maximum_age_are_read_whatever_the_share():
    ages = {"old": 90.0, "mid": 20.0, "fresh": 7.0}
    policy = FollowingPolicy(share=0.0, max_age=timedelta(days=60))
    assert following_due(_states(ages), list(ages), NOW, policy) == ["old"]
    every_run = FollowingPolicy(share=0.0, max_age=timedelta(0))
    assert following_due(_states(ages), list(ages), NOW, every_run) == list(ages)


def test_a_retry_does_not_refresh_its_quota_twice():
    run_start = NOW - timedelta(hours=1)
    states = _states({f"a{i}": 8.0 + i for i in range(10)})
    states["a9"]["following_done_at"] = NOW - timedelta(minutes=30)  # done by this run
    due = following_due(states, list(states), NOW, FollowingPolicy(0.2), done_since=run_start)
    assert due == ["a8"]  # quota 2 over the 10 lists, one already done


def test_policy_refuses_bad_values():
    with pytest.raises(ValueError, match="share"):
        FollowingPolicy(share=1.5)
    with pytest.raises(ValueError, match="max age"):
        FollowingPolicy(max_age=timedelta(days=-1))


# ---- against the emulator ------------------------------------------------------------------


@pytest.fixture(scope="module")
def dataset() -> Dataset:
    return generate_community(members=40, communities=3, days=14, seed=7, tweets_per_member=30)


@pytest.fixture
def community(store: Store, dataset: Dataset) -> Store:
    return add_community(store, dataset)


def _emulator(dataset: Dataset) -> EmulatorServer:
    return emulator(dataset, KEYS, rate_limit=1000)


def _collect(store, server, keys, run_id, now, window_days=7, **collection):
    spec = {"windowDays": window_days, "collection": collection}
    return run_collect(store, keys, server.base_url, now, run_id, spec, page_size=10)


def _stored(store: Store) -> set[str]:
    return set(stored_tweets(store))


def test_second_week_reads_no_post_twice(community, dataset, keys):
    week1_end = dataset.now - timedelta(days=7)
    with _emulator(dataset) as server:
        first = _collect(community, server, keys, "w1", week1_end)
        after_first = server.stats()
        second = _collect(community, server, keys, "w2", dataset.now)
        stats = server.stats()
    new = readable_tweets(dataset, week1_end, dataset.now)
    assert first["post_reads"] == after_first["posts_served"] > 0
    assert stats["posts_served_again"] == 0  # nothing paid for twice
    week2_reads = stats["posts_served"] - after_first["posts_served"]
    assert second["post_reads"] == week2_reads == len(new)  # the cost ratio is 1.0
    assert second["tweets_new"] == len(new)


def test_overlapping_windows_fetch_since_the_floor_and_pay_once(community, dataset, keys):
    """Daily runs over a 7-day window: the second asks only for posts after the newest
    it has (``since_id``), so the six days both windows cover are not read again."""
    yesterday = dataset.now - timedelta(days=1)
    with _emulator(dataset) as server:
        _collect(community, server, keys, "d1", yesterday)
        before = server.stats()["posts_served"]
        floors = sum(1 for c in community.checkpoints().values() if c.get("timeline_newest_id"))
        second = _collect(community, server, keys, "d2", dataset.now)
        stats = server.stats()
    assert floors > 0
    assert stats["posts_served_again"] == 0
    assert second["post_reads"] == stats["posts_served"] - before
    assert second["post_reads"] == len(readable_tweets(dataset, yesterday, dataset.now))


def test_the_cap_stops_the_run_records_what_it_skipped_and_loses_nothing(community, dataset, keys):
    with _emulator(dataset) as server:
        with pytest.raises(StepCapped, match="maxPostReads 120") as stopped:
            _collect(community, server, keys, "cap", dataset.now, maxPostReads=120)
        capped = stopped.value.counts
        capped_reads = server.stats()["posts_served"]
        run = community[Coll.RUNS].find_one({"_id": "cap"})["collection"]
        stored = _stored(community)
        rest = _collect(community, server, keys, "rest", dataset.now)
        stats = server.stats()
    assert capped["capped"] == 1 and capped_reads <= 120
    assert capped["post_reads"] == capped_reads == len(stored)  # kept what it read
    assert run["capped"] is True and run["max_post_reads"] == 120
    assert run["post_reads"] == capped_reads
    skipped = run["skipped"]["user_tweets"]
    assert skipped["accounts"] == len(skipped["listed"]) > 0
    # The next run, uncapped, finishes the work: every post stored, none read twice.
    assert _stored(community) == readable_tweets(
        dataset, dataset.now - timedelta(days=7), dataset.now
    )
    assert stats["posts_served_again"] == 0
    assert rest["capped"] == 0 and rest["post_reads"] + capped_reads == len(_stored(community))
    assert set(skipped["listed"]) <= {m["id"] for m in members(dataset)}


def test_spend_per_run_and_per_month(community, dataset, keys):
    prices = {"posts": 0.01, "followingAccounts": 0.002}
    with _emulator(dataset) as server:
        counts = _collect(community, server, keys, "spend", dataset.now, prices=prices)
    run = community[Coll.RUNS].find_one({"_id": "spend"})["collection"]
    follows = run["charges"]["following_accounts"]
    assert run["post_reads"] == counts["post_reads"] > 0 and follows == counts["follows"] > 0
    assert run["spend_usd"] == pytest.approx(counts["post_reads"] * 0.01 + follows * 0.002)
    assert run["charges"]["usd"]["posts"] == pytest.approx(counts["post_reads"] * 0.01)
    assert run["plan"]["bound"] == "request latency"  # at 2026 limits it all fits a window
    ages = run["follows_age_days"]
    unreadable = sum(m["state"] != "active" for m in members(dataset))
    assert ages["never_read"] == unreadable and 0 <= ages["median"] <= ages["max"] < 0.01
    # A retried attempt adds its charges to the same run; the month adds the ledger up.
    at = community[Coll.CHARGES].find_one({"run_id": "spend"})["at"]
    tariff = Tariff().override("test", prices={"posts": 0.01})
    record_collection(community, "spend", Charges(posts=100), tariff, at)
    again = community[Coll.RUNS].find_one({"_id": "spend"})["collection"]
    assert again["post_reads"] == counts["post_reads"] + 100
    month = month_spend(community, "c", at)
    assert month["runs"] == 1 and month["posts"] == counts["post_reads"] + 100
    assert month["spend_usd"] == pytest.approx(again["spend_usd"], abs=1e-4)
    last_month = month_spend(community, "c", at - timedelta(days=40))
    assert last_month["runs"] == 0 and last_month["posts"] == 0
    assert month_spend(community, "other", at)["runs"] == 0


def test_follow_list_ages(community, dataset):
    ids = [m["id"] for m in members(dataset)][:3]
    now = datetime.now(UTC)
    community[Coll.COLLECT_STATE].update_one(
        {"_id": ids[0]}, {"$set": {"following_done_at": now - timedelta(days=2)}}, upsert=True
    )
    community[Coll.COLLECT_STATE].update_one(
        {"_id": ids[1]}, {"$set": {"following_done_at": now - timedelta(days=4)}}, upsert=True
    )
    ages = follows_age_days(community, ids, now)
    assert ages == {"median": 3.0, "max": 4.0, "never_read": 1}


def test_month_bounds_and_bad_months():
    assert month_bounds("2026-12") == (
        datetime(2026, 12, 1, tzinfo=UTC),
        datetime(2027, 1, 1, tzinfo=UTC),
    )
    with pytest.raises(ValueError, match="2026-11"):
        month_bounds("November")
