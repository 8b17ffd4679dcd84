"""``dwt run --steps collect --plan``: the collection plan, made from the store alone —
passes, requests per endpoint, the binding rate limit's time, post reads and cost."""

from __future__ import annotations

import functools
import json
import math
from datetime import UTC, datetime, timedelta

import pyarrow.compute as pc
import pytest

from dwt.cli import main
from dwt.collect.estimate import DEFAULT_PRICE_PER_READ, plan_collection
from dwt.collect.keys import KeySource
from dwt.collect.state import FollowingPolicy, plan, snowflake_time
from dwt.collect.step import CollectConfig, collect
from dwt.generate import generate_community
from dwt.model.fields import TWEET_FIELDS
from dwt.pipeline.insights import Week
from dwt.pipeline.runner import run_pipeline
from dwt.pipeline.spec import RunSpec, Step
from dwt.store import Coll, Store
from dwt.xapi.emulator import EmulatorConfig, EmulatorServer

pytestmark = pytest.mark.both_stores  # the plan reads both engines the same way

MEMBERS = 20


@pytest.fixture(scope="module")
def server():
    dataset = generate_community(members=30, communities=2, days=2, seed=4)
    config = EmulatorConfig(tokens=["plan-key"], rate_limit=1000)  # shifted to now
    with EmulatorServer(dataset, config) as running:
        yield dataset, running


@pytest.fixture
def env(monkeypatch, server, store_url):
    _, running = server
    monkeypatch.setenv("DWT_API_KEYS", "plan-key")
    monkeypatch.setenv("DWT_X_API_BASE_URL", running.base_url)
    monkeypatch.setenv("DWT_STORE_URL", store_url)
    return store_url


@pytest.fixture
def members(env, server):
    """A community of active members, added without asking X; the first half carry their
    following_count (as a lookup would have stored it), the rest nothing."""
    dataset, _ = server
    users = dataset.users.filter(dataset.users["is_member"])
    users = users.filter(pc.equal(users["state"], "active")).slice(0, MEMBERS).to_pylist()
    accounts = [
        {"id": u["id"], "username": u["username"]}
        | ({"public_metrics": {"following_count": u["following_count"]}} if i % 2 == 0 else {})
        for i, u in enumerate(users)
    ]
    store = Store.open(env)
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


def test_fresh_community_binds_on_following(members, capsys):
    _, users = members
    result = _plan(capsys)
    assert result["accounts"] == MEMBERS and result["keys"] == 1
    assert result["passes"]["timeline"] == {"new": MEMBERS, "incremental": 0, "resumed": 0}
    assert result["passes"]["following"] == {"new": MEMBERS, "resumed": 0}
    timeline, following = result["requests"]["user_tweets"], result["requests"]["following"]
    # nothing stored yet: one request per timeline, all guesses
    assert timeline["requests"] == MEMBERS and timeline["guessed"] == MEMBERS
    expected = sum(
        max(1, math.ceil(u["following_count"] / 1000)) if i % 2 == 0 else 1
        for i, u in enumerate(users)
    )  # one request per 1,000 followed accounts, at least one; unknown sizes count 1
    assert following["requests"] == expected and following["guessed"] == MEMBERS // 2
    assert following["limit_per_15min"] == 15 and timeline["limit_per_15min"] == 1500
    assert result["binding"]["endpoint"] == "following"
    # the first window's 15 requests go at once, each further 15 wait for a reset
    assert result["binding"]["duration_s"] == pytest.approx(
        (math.ceil(following["requests"] / 15) - 1) * 15 * 60, abs=0.1
    )
    assert result["post_reads"] == 0 and result["cost_usd"] == 0
    assert result["price_per_read"] == DEFAULT_PRICE_PER_READ


def test_following_requests_follow_the_list_sizes(members):
    store, users = members
    spec = RunSpec(community="demo", steps=["collect"], windowDays=2)
    week = Week(store, spec, datetime.now(UTC))
    big = users[1]["id"]  # an account without following_count: its stored list counts
    store.put_follows(big, [str(i) for i in range(2500)])
    result = plan_collection(week, keys=2).as_dict()
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
    assert result["binding"]["duration_s"] == pytest.approx(
        (math.ceil(following["requests"] / (15 * 2)) - 1) * 900, abs=0.1
    )


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


def test_plan_asks_nothing_and_writes_nothing(members, server, capsys):
    store, _ = members
    _, running = server
    before_requests = running.stats()["requests"]
    before = _counts(store)
    result = _plan(capsys, "--price-per-read", "0.01")
    assert running.stats()["requests"] == before_requests
    assert _counts(store) == before
    assert store[Coll.COLLECT_STATE].count_documents({}) == 0
    assert result["price_per_read"] == 0.01


def test_json_keys(members, capsys):
    result = _plan(capsys)
    assert set(result) == {
        "community", "window", "accounts", "keys", "passes", "requests", "binding",
        "post_reads", "price_per_read", "cost_usd", "notes",
    }  # fmt: skip
    assert set(result["requests"]) == {"user_tweets", "following"}
    assert set(result["requests"]["following"]) == {
        "requests", "guessed", "limit_per_15min", "duration_s",
    }  # fmt: skip
    assert set(result["binding"]) == {"endpoint", "duration_s"}
    assert set(result["window"]) == {"since", "until"}


def test_text_plan_names_the_binding_endpoint(members, capsys):
    assert main(["run", "--community", "demo", "--steps", "collect", "--no-ray", "--plan"]) == 0
    out = capsys.readouterr().out
    assert "binding endpoint  following" in out and "post reads" in out


@pytest.mark.calendar
def test_after_a_collection_the_plan_is_incremental(members, server, capsys):
    store, _ = members
    _, running = server
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
