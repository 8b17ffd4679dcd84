"""``dwt run --steps collect --plan``: the collection plan, made from the store alone —
passes, requests per endpoint, the time the rate limits and request latency imply, every
charge X would make, the month and the caps."""

from __future__ import annotations

import functools
import json
import math
from datetime import UTC, datetime, timedelta

import pyarrow.compute as pc
import pytest

from dwt.cli import main
from dwt.collect.keys import KeySource
from dwt.collect.state import FollowingPolicy, plan, snowflake_time
from dwt.model.fields import TWEET_FIELDS
from dwt.pipeline.collection import CollectConfig, collect
from dwt.pipeline.estimate import DEFAULT_REQUEST_S, plan_collection
from dwt.pipeline.insights import Week
from dwt.pipeline.runner import run_pipeline
from dwt.pipeline.spec import RunSpec, Step
from dwt.store import Coll, Store
from dwt.xapi.endpoints import DEFAULT_LIMITS, LIMITS_AS_OF
from dwt.xapi.prices import PRICES, Resource, Tariff

#: A legacy Pro plan's limits (what the 2021–22 recordings show), for limit-bound plans.
LEGACY = Tariff().override("settings", limits={"following": 15, "user_tweets": 1500})

pytestmark = pytest.mark.both_stores  # the plan reads both engines the same way

MEMBERS = 20


@pytest.fixture
def members(emulator_env, emulated):
    """A community of active members, added without asking X; the first half carry their
    following_count (as a lookup would have stored it), the rest nothing."""
    dataset, _ = emulated
    users = dataset.users.filter(dataset.users["is_member"])
    users = users.filter(pc.equal(users["state"], "active")).slice(0, MEMBERS).to_pylist()
    accounts = [
        {"id": u["id"], "username": u["username"]}
        | ({"public_metrics": {"following_count": u["following_count"]}} if i % 2 == 0 else {})
        for i, u in enumerate(users)
    ]
    store = Store.open(emulator_env)
    store.add_members("demo", accounts)
    yield store, users
    store.close()


def _plan(capsys, *extra: str) -> dict:
    args = ["run", "--community", "demo", "--steps", "collect", "--window-days", "2"]
    code = main([*args, "--no-ray", "--plan", "--json", *extra])
    out, err = capsys.readouterr()
    assert code == 0, err
    lines = out.strip().splitlines()
    assert len(lines) == 1
    return json.loads(lines[0])


def _counts(store: Store) -> dict[str, int]:
    return {c.value: store[c].count_documents({}) for c in Coll}


def test_fresh_community_at_todays_limits(members, capsys):
    _, users = members
    result = _plan(capsys)
    assert result["accounts"] == MEMBERS and result["keys"] == 1
    assert result["passes"]["timeline"] == {"new": MEMBERS, "incremental": 0, "resumed": 0}
    assert result["passes"]["following"] == {"new": MEMBERS, "resumed": 0}
    timeline, following = result["requests"]["user_tweets"], result["requests"]["following"]
    # nothing stored, no tweet_count: one request per timeline, all guesses
    assert timeline["requests"] == MEMBERS and timeline["guessed"] == MEMBERS
    known = [u["following_count"] for i, u in enumerate(users) if i % 2 == 0]
    expected = sum(max(1, math.ceil(n / 1000)) for n in known) + MEMBERS // 2
    assert following["requests"] == expected and following["guessed"] == MEMBERS // 2
    assert following["limit_per_15min"] == DEFAULT_LIMITS["following"]
    assert timeline["limit_per_15min"] == DEFAULT_LIMITS["user_tweets"]
    assert following["limit_source"] == f"X's table ({LIMITS_AS_OF})"
    # X's 2026 limits hold every request in the first window: the pace of requests binds
    assert result["binding"]["bound"] == "request latency"
    assert result["binding"]["duration_s"] == pytest.approx(
        (expected + MEMBERS) * DEFAULT_REQUEST_S, abs=0.1
    )
    # every account a list returns is billed: the plan prices them from following_count
    charges = result["charges"]
    assert charges["following_accounts"] == sum(known) and charges["posts"] == 0
    follow_usd = sum(known) * PRICES[Resource.FOLLOWING]
    assert charges["usd"]["following_accounts"] == pytest.approx(follow_usd)
    assert follow_usd > 0 and result["cost_usd"] == pytest.approx(follow_usd, abs=1e-4)
    assert result["prices"] == {r.value: p for r, p in PRICES.items()}


def test_a_legacy_plan_binds_on_following(members, capsys, monkeypatch):
    monkeypatch.setenv("DWT_X_RATE_LIMITS", "following=15,user_tweets=1500")
    result = _plan(capsys)
    following = result["requests"]["following"]
    assert following["limit_per_15min"] == 15 and following["limit_source"] == "settings"
    assert result["binding"]["endpoint"] == "following"
    assert result["binding"]["bound"] == "rate limit of following"
    # the first window's 15 requests go at once, each further 15 wait for a reset; the
    # last window's go at the pace of requests
    windows = math.ceil(following["requests"] / 15)
    last = following["requests"] - (windows - 1) * 15
    assert result["binding"]["duration_s"] == pytest.approx(
        (windows - 1) * 15 * 60 + last * DEFAULT_REQUEST_S, abs=0.1
    )


def test_following_requests_follow_the_list_sizes(members):
    store, users = members
    spec = RunSpec(community="demo", steps=["collect"], windowDays=2)
    week = Week(store, spec, datetime.now(UTC))
    big = users[1]["id"]  # an account without following_count: its stored list counts
    store.put_follows(big, [str(i) for i in range(2500)])
    result = plan_collection(week, keys=1, tariff=LEGACY).as_dict()
    following = result["requests"]["following"]
    expected = (
        sum(
            max(1, math.ceil(u["following_count"] / 1000)) if i % 2 == 0 else 1
            for i, u in enumerate(users)
        )
        + 2
    )  # 2,500 followed accounts: 3 requests, not 1
    assert following["requests"] == expected
    assert following["guessed"] == MEMBERS // 2 - 1
    assert following["budget_per_window"] == 15 and following["requests"] > 15
    windows = math.ceil(following["requests"] / 15)
    last = following["requests"] - (windows - 1) * 15
    assert result["binding"]["duration_s"] == pytest.approx(
        (windows - 1) * 900 + last * DEFAULT_REQUEST_S, abs=0.1
    )
    assert result["charges"]["following_accounts"] == 2500 + sum(
        u["following_count"] for i, u in enumerate(users) if i % 2 == 0
    )


def test_huge_follow_lists_are_skipped_with_a_word(members):
    store, users = members
    known = sorted(u["following_count"] for i, u in enumerate(users) if i % 2 == 0)
    most = known[len(known) // 2]  # half the known lists are larger
    spec = RunSpec(
        community="demo", steps=["collect"], windowDays=2, collection={"followingMaxListSize": most}
    )
    week = Week(store, spec, datetime.now(UTC))
    plan = plan_collection(week, keys=1)
    big = {u["id"] for i, u in enumerate(users) if i % 2 == 0 and u["following_count"] > most}
    assert big and set(plan.too_big) == big
    assert not big & {i.account_id for i in plan.items if i.endpoint == "following"}
    assert any(f"follow more than {most:,} accounts" in n for n in plan.notes)
    assert plan.as_dict()["following_not_read"] == len(big)


def test_a_first_collection_is_priced_from_tweet_count(members):
    store, users = members
    now = datetime.now(UTC)
    created = now - timedelta(days=100)
    store.put_accounts(
        [
            {"id": u["id"], "username": u["username"], "created_at": created.isoformat(),
             "public_metrics": {"tweet_count": 500, "following_count": 10}}
            for u in users
        ]
    )  # fmt: skip
    week = Week(store, RunSpec(community="demo", steps=["collect"], windowDays=2), now)
    plan = plan_collection(week, keys=1, now=now)
    # 5 posts a day over the 2-day window, for every member; never "$0.00" with work planned
    assert plan.post_reads == pytest.approx(MEMBERS * 10, abs=1)
    assert plan.charges.following_accounts == 10 * MEMBERS
    assert plan.endpoints["user_tweets"].guessed == 0
    assert plan.cost_usd == pytest.approx(MEMBERS * (10 * 0.005 + 10 * 0.010), abs=0.01)


def _posts(author: str, at: datetime, n: int, first_id: int) -> list[dict]:
    stamp = at.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return [
        {"id": str(i), "author_id": author, "created_at": stamp, "text": "hello",
         "conversation_id": str(i)}
        for i in range(first_id, first_id + n)
    ]  # fmt: skip


def test_previous_window_posts_make_the_timeline_estimate(members):
    store, users = members
    now = datetime.now(UTC)
    week = Week(store, RunSpec(community="demo", steps=["collect"], windowDays=2), now)
    previous = week.since - timedelta(days=1)  # inside [since - 2 days, since)
    busy, quiet, recent = (u["id"] for u in users[:3])
    tweets = (
        _posts(busy, previous, 150, 1_000)  # 150 posts: 2 pages
        + _posts(quiet, previous, 3, 2_000)
        + _posts("not-a-member", previous, 40, 3_000)  # not in scope
        + _posts(recent, week.since + timedelta(hours=1), 30, 4_000)  # this window
        + _posts(quiet, week.since - timedelta(days=3), 25, 5_000)  # before the previous
    )
    store.put_tweets({"data": tweets}, TWEET_FIELDS, set())
    result = plan_collection(week, keys=1, now=now).as_dict()
    assert result["post_reads"] == 153
    timeline = result["requests"]["user_tweets"]
    assert timeline["requests"] == 2 + 1 + (MEMBERS - 2)
    assert timeline["guessed"] == MEMBERS - 2  # no floor and no post in the previous window


def test_plan_asks_nothing_and_writes_nothing(members, emulated, capsys):
    store, _ = members
    _, running = emulated
    before_requests = running.stats()["requests"]
    before = _counts(store)
    result = _plan(capsys, "--max-spend-per-run", "0.05", "--max-spend-per-month", "0.1")
    assert running.stats()["requests"] == before_requests
    assert _counts(store) == before
    assert store[Coll.COLLECT_STATE].count_documents({}) == 0
    # the estimate passes both caps: the plan warns before anything starts
    assert result["caps"]["usd"] == 0.05 and "maxSpendPerRun" in result["caps"]["usd_reason"]
    assert any("exceeds what collection.maxSpendPerRun" in w for w in result["warnings"])
    assert result["month"]["cap_usd"] == 0.1 and result["month"]["spent_usd"] == 0


def test_json_keys(members, capsys):
    result = _plan(capsys)
    assert set(result) == {
        "community", "window", "accounts", "keys", "collectors", "passes", "requests",
        "binding", "charges", "post_reads", "prices", "tariff_sources", "cost_usd", "month",
        "caps", "following_not_read", "warnings", "notes",
    }  # fmt: skip
    assert set(result["requests"]) == {"user_tweets", "following"}
    assert set(result["requests"]["following"]) == {
        "requests", "guessed", "limit_per_15min", "budget_per_window", "limit_source",
        "request_s", "duration_s",
    }  # fmt: skip
    assert set(result["binding"]) == {"endpoint", "bound", "duration_s"}
    assert set(result["charges"]) == {"posts", "following_accounts", "user_lookups", "usd"}
    assert set(result["window"]) == {"since", "until"}


def test_text_plan_names_the_binding_endpoint(members, capsys):
    assert main(["run", "--community", "demo", "--steps", "collect", "--no-ray", "--plan"]) == 0
    out = capsys.readouterr().out
    assert "takes about" in out and "X bills about" in out and "follow-list accounts" in out


@pytest.mark.calendar
def test_after_a_collection_the_plan_is_incremental(members, emulated, capsys):
    store, _ = members
    _, running = emulated
    # the collect step on threads (a Ray runtime another test left up lacks the test's key)
    config = CollectConfig(keys=KeySource(), base_url=running.base_url, use_ray=False)
    spec = RunSpec(community="demo", steps=["collect"], windowDays=2)
    steps = {Step.COLLECT: functools.partial(collect, config=config)}
    assert run_pipeline(store, spec, steps=steps).status == "succeeded"
    result = _plan(capsys)
    since = datetime.fromisoformat(result["window"]["since"])
    states = list(store[Coll.COLLECT_STATE].find({}))
    floors = [s["timeline_newest_id"] for s in states if s.get("timeline_newest_id")]
    floors = sum(1 for f in floors if snowflake_time(f) >= since)  # the ones in the window
    assert floors > 0
    timeline = result["passes"]["timeline"]
    assert timeline["incremental"] == floors and timeline["new"] == MEMBERS
    assert result["passes"]["following"] == {"new": 0, "resumed": 0}  # lists are fresh
    assert result["requests"]["following"]["requests"] == 0
    assert result["requests"]["user_tweets"]["requests"] == MEMBERS
    assert result["binding"]["endpoint"] == "user_tweets"
    assert result["post_reads"] == 0  # the last pass was moments ago
    # the collection measured its requests: the plan times them with what it measured
    assert result["requests"]["user_tweets"]["request_s"] != DEFAULT_REQUEST_S
    assert not any("no collection measured" in n for n in result["notes"])
    assert not any("without a floor" in n for n in result["notes"])
    # a member who wrote nothing in the week just read has no floor: not a guess either
    silent = states[0]["_id"]
    store[Coll.COLLECT_STATE].update_one({"_id": silent}, {"$unset": {"timeline_newest_id": ""}})
    store[Coll.TWEETS].delete_many({"author_id": silent})
    store[Coll.ACCOUNTS].update_one({"_id": silent}, {"$unset": {"public_metrics": ""}})
    again = _plan(capsys)
    assert again["passes"]["timeline"]["incremental"] == floors - 1
    assert again["requests"]["user_tweets"].get("guessed", 0) == 0
    assert not any("without a floor" in n for n in again["notes"])


def test_plan_refuses_without_collect(members, capsys):
    code = main(["run", "--community", "demo", "--steps", "bonds", "--plan"])
    assert code == 2
    assert "--plan needs collect" in capsys.readouterr().err


def test_collect_step_still_saves_its_passes(members):
    """``plan`` (the collect step's) still records the passes it starts."""
    store, users = members
    now = datetime.now(UTC)
    ids = [u["id"] for u in users]
    items = plan(store, ids, now - timedelta(days=2), None, now, FollowingPolicy())
    assert len(items) == 2 * MEMBERS
    saved = list(store[Coll.COLLECT_STATE].find({}))
    assert len(saved) == MEMBERS
    assert all("timeline_pass" in s and "following_pass" in s for s in saved)
