"""Collection against the X API emulator over HTTP, with the real tweepy client."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from collect_fixtures import (
    KEYS,
    add_community,
    members,
    small_community,
    stored_tweets,
)
from collect_fixtures import emulator as _emulator
from collect_fixtures import readable_tweets as expected_tweets
from collect_fixtures import run_collect as _run_collect

from dwt.collect.keys import KeySource, NoKeysError
from dwt.collect.scheduler import AllKeysRejectedError
from dwt.pipeline.collection import CollectConfig, collect
from dwt.pipeline.progress import Progress
from dwt.pipeline.runner import RunFailed, run_pipeline
from dwt.pipeline.scope import ScopeError
from dwt.pipeline.spec import RunSpec, Step
from dwt.store import Coll, Store, StoreError
from dwt.xapi.dataset import Dataset
from dwt.xapi.emulator import EmulatorServer

pytestmark = pytest.mark.both_stores  # the embedded store and MongoDB (FerretDB)


@pytest.fixture(scope="module")
def dataset() -> Dataset:
    return small_community()


@pytest.fixture
def community(store: Store, dataset: Dataset) -> Store:
    return add_community(store, dataset)


def emulator(dataset: Dataset, **config) -> EmulatorServer:
    return _emulator(dataset, config.pop("tokens", KEYS), **config)


def run_collect(store, dataset, server, keys, run_id="r1", scope=None, **config):
    members_ = {"members": scope or {"scope": "all"}}
    return _run_collect(store, keys, server.base_url, dataset.now, run_id, members_, **config)


def requests_by_status(server: EmulatorServer) -> dict[str, int]:
    return {str(k): v for k, v in server.stats()["by_status"].items()}


def test_every_tweet_once_despite_5xx_and_follows_complete(community, dataset, keys):
    with emulator(dataset, fail_rate=0.05, fail_seed=3) as server:
        counts = run_collect(community, dataset, server, keys)
        statuses = requests_by_status(server)
    stored = stored_tweets(community)
    assert len(stored) == len(set(stored)) == counts["tweets_new"]
    assert set(stored) == expected_tweets(dataset)
    assert statuses.get("503", 0) > 0 and counts["failed"] == 0
    # Follow lists of readable members are complete (targets: anyone, members or not).
    readable = {m["id"] for m in members(dataset) if m["state"] == "active"}
    truth = dataset.follows.filter(pc.is_in(dataset.follows["source_id"], pa.array(list(readable))))
    alive = {u["id"] for u in dataset.users.to_pylist() if u["state"] in ("active", "protected")}
    want = {(s, t) for s, t in zip(*truth.to_pydict().values(), strict=True) if t in alive}
    got = set(zip(*community.follows().to_pydict().values(), strict=True))
    assert got == want


def test_unreadable_accounts_are_recorded_and_the_run_goes_on(community, dataset, keys):
    with emulator(dataset) as server:
        counts = run_collect(community, dataset, server, keys)
    states = {m["id"]: m["state"] for m in members(dataset) if m["state"] != "active"}
    assert set(states.values()) == {"protected", "suspended", "deleted"}
    marked = {
        d["account_id"]: d["status"]
        for d in community[Coll.MEMBERS].find({"status": {"$exists": True}})
    }
    assert marked == {i: {"deleted": "not_found"}.get(s, s) for i, s in states.items()}
    assert counts["unavailable"] == 2 * len(states)  # timeline and follow list
    assert all(
        d.get("status_seen_at") for d in community[Coll.MEMBERS].find({"status": {"$exists": True}})
    )


def test_rate_limits_are_waited_out_not_hammered(community, dataset, keys, monkeypatch):
    # One key, 5 requests a second per endpoint: ~60 timeline pages take ~12 windows.
    monkeypatch.setenv("DWT_API_KEYS", KEYS[0])
    with emulator(dataset, tokens=KEYS[:1], rate_limit=5) as server:
        started = datetime.now(UTC)
        counts = run_collect(community, dataset, server, keys)
        seconds = (datetime.now(UTC) - started).total_seconds()
        statuses = requests_by_status(server)
        timeline = server.stats()["keys"]["key-1"]["user_tweets"]["requests"]
    assert counts["failed"] == 0 and counts["keys_disabled"] == 0
    # The scheduler stops at the reported budget: almost no request is refused...
    assert statuses.get("429", 0) <= max(3, statuses["200"] // 20)
    # ...and waits for the windows instead: 5 timeline requests a second at most.
    assert timeline >= len(members(dataset))
    assert seconds >= timeline / 5 - 2  # the first window may be partly over


def test_a_rejected_key_is_disabled_and_the_others_go_on(community, dataset, monkeypatch):
    monkeypatch.setenv("DWT_API_KEYS", "not-a-known-key," + KEYS[0])
    with emulator(dataset) as server:
        counts = run_collect(community, dataset, server, KeySource())
    assert counts["keys_disabled"] == 1
    assert set(stored_tweets(community)) == expected_tweets(dataset)
    run = community[Coll.RUNS].find_one({"_id": "r1"})
    (reason,) = run["disabled_keys"].values()
    assert "401" in reason and "not-a-known-key" not in str(run)


def test_every_key_rejected_fails_clearly(community, dataset, monkeypatch):
    monkeypatch.setenv("DWT_API_KEYS", "bad-1,bad-2")
    with emulator(dataset) as server, pytest.raises(AllKeysRejectedError, match="every API key"):
        run_collect(community, dataset, server, KeySource())


def test_no_keys_is_an_error_before_any_request(community, dataset, monkeypatch):
    monkeypatch.delenv("DWT_API_KEYS", raising=False)
    with emulator(dataset) as server:
        with pytest.raises(NoKeysError, match="no X API keys configured"):
            run_collect(community, dataset, server, KeySource())
        assert server.stats()["requests"] == 0


def test_second_run_fetches_only_what_is_new(community, dataset, keys):
    with emulator(dataset) as server:
        first = run_collect(community, dataset, server, keys, run_id="r1")
        counts = community.counts()
        second = run_collect(community, dataset, server, keys, run_id="r2")
    assert community.counts() == counts | {"runs": 2, "charges": 2}  # a run, a ledger entry
    assert second["tweets_new"] == 0 and second["follows"] == 0  # lists are fresh
    readable = sum(m["state"] == "active" for m in members(dataset))
    # One "anything newer?" request per readable account, nothing paged again.
    assert second["requests"] - second["unavailable"] == readable
    assert first["requests"] > second["requests"]


def test_a_killed_run_resumes_and_fetches_nothing_twice(
    community, dataset, keys, store_url, monkeypatch
):
    """The driver dies after 15 timeline pages (its scheduling loop interrupted, as by a
    kill): the collectors stored every page they fetched with its checkpoint, so the next
    run resumes where each account stopped."""
    from dwt.collect import pool as pools
    from dwt.collect.items import Kind, Outcome

    with emulator(dataset, rate_limit=1000) as clean_server:
        fresh = add_community(Store.open(store_url + "_clean"), dataset)
        clean = run_collect(fresh, dataset, clean_server, keys, page_size=5)
        fresh.drop()
    original, answered = pools.ThreadPool.wait, []

    def wait_then_die(self, handles, timeout):
        done = original(self, handles, timeout)
        pages = [r for _, r in done if isinstance(r, Outcome) and r.item.kind is Kind.TIMELINE]
        answered.extend(pages)
        # Die with an account in the middle of its timeline (whatever the machine's speed
        # made the order): its stored checkpoint points at a next page.
        if len(answered) >= 15 and any(r.stored and not r.complete for r in pages):
            raise KeyboardInterrupt("driver killed")
        return done

    with emulator(dataset, rate_limit=1000) as server:
        monkeypatch.setattr(pools.ThreadPool, "wait", wait_then_die)
        with pytest.raises(KeyboardInterrupt):
            run_collect(community, dataset, server, keys, page_size=5)
        monkeypatch.setattr(pools.ThreadPool, "wait", original)
        passes = [c.get("timeline_pass") or {} for c in community.checkpoints().values()]
        in_progress = sum(1 for p in passes if p.get("next_token"))
        resumed = run_collect(community, dataset, server, keys, page_size=5)
        total = server.stats()["requests"]
    assert in_progress >= 1  # some accounts were stopped in the middle of their timeline
    assert set(stored_tweets(community)) == expected_tweets(dataset)
    # Only pages in flight when the driver died (one per worker at most) are fetched again.
    assert total <= clean["requests"] + len(KEYS)
    assert resumed["requests"] < clean["requests"]


def test_a_page_and_its_checkpoint_are_one_write(community, dataset, keys, monkeypatch):
    """On the embedded store a page's tweets and the checkpoint that says they are stored
    commit together: a collector failing between them leaves neither, and says so."""
    from dwt.collect import state
    from dwt.collect.items import Kind

    if not community.url.startswith("sqlite"):
        pytest.skip("MongoDB has no transaction without a replica set: ordered writes there")
    fail = {"left": 3}
    lost: list[str] = []
    absent: list[int] = []
    original = state._record_page

    def fails_after_the_tweets(store, outcome, now, seen):
        if lost and not absent:  # the first write after the failure: was it rolled back?
            absent.append(store[Coll.TWEETS].count_documents({"_id": {"$in": lost}}))
        written = original(store, outcome, now, seen)
        if outcome.item.kind is not Kind.TIMELINE or not outcome.data:
            return written
        fail["left"] -= 1
        if fail["left"] == 0:
            lost.extend(t["id"] for t in outcome.data)
            raise StoreError("disk full (injected after the tweets were written)")
        return written

    monkeypatch.setattr(state, "_record_page", fails_after_the_tweets)
    with emulator(dataset, rate_limit=1000) as server:
        counts = run_collect(community, dataset, server, keys, page_size=5, max_attempts=2)
        billed = server.stats()["bill"]
    assert lost and absent == [0]  # the tweets went with the checkpoint that failed
    assert counts["failed"] == 0  # the page was fetched again and stored
    # X bills a post once per UTC day: the page read twice is charged once, as X bills it.
    charges = community[Coll.RUNS].find_one({"_id": "r1"})["collection"]["charges"]
    assert charges["posts"] == billed["posts"] and billed["posts"] > 0
    stored = stored_tweets(community)
    assert len(stored) == len(set(stored)) and set(stored) == expected_tweets(dataset)


def test_retried_run_skips_accounts_it_already_did(community, dataset, keys):
    spec = RunSpec(community="c", steps=["collect", "bonds"])
    with emulator(dataset) as server:
        config = CollectConfig(keys, server.base_url, backoff_s=0.01, use_ray=False)

        def collect_step(week, run_id):
            return collect(week, run_id, config)

        def crash(week, run_id):
            raise RuntimeError("node lost")

        with pytest.raises(RunFailed):
            run_pipeline(
                community,
                spec,
                run_id="weekly",
                now=dataset.now,
                progress=Progress(community, "weekly", stream=None),
                steps={Step.COLLECT: collect_step, Step.BONDS: crash},
            )
        before = server.stats()["requests"]
        result = run_pipeline(
            community,
            spec,
            run_id="weekly",
            now=dataset.now,
            progress=Progress(community, "weekly", stream=None),
            steps={Step.COLLECT: collect_step},
        )
        again = server.stats()["requests"] - before
    assert result.status == "succeeded"
    unreadable = sum(m["state"] != "active" for m in members(dataset))
    assert again <= 2 * unreadable  # only the unreadable accounts are asked again


def test_scope_new_collects_only_members_never_collected(community, dataset, keys, store):
    everyone = [{"id": m["id"], "username": m["username"]} for m in members(dataset)]
    community.remove_members("c", [m["id"] for m in everyone[10:]])
    with emulator(dataset) as server:
        run_collect(community, dataset, server, keys, run_id="r1")
        community.add_members("c", everyone[10:13])
        before = server.stats()["requests"]
        counts = run_collect(community, dataset, server, keys, run_id="r2", scope={"scope": "new"})
        used = server.stats()["requests"] - before
    assert counts["accounts"] == 3
    assert used <= 3 * 4  # their timelines and follow lists, nobody else's
    authors = {d["author_id"] for d in community[Coll.TWEETS].find({}, {"author_id": 1})}
    assert {m["id"] for m in everyone[10:13]} & authors


def test_scope_listed_refuses_non_members(community, dataset, keys):
    with emulator(dataset) as server, pytest.raises(ScopeError, match="not members"):
        run_collect(
            community,
            dataset,
            server,
            keys,
            scope={"scope": "listed", "accounts": ["@nobody_here"]},
        )


@pytest.mark.slow
def test_on_ray_with_an_actor_killed_mid_run(community, dataset, ray_local, tmp_path):
    import ray

    from dwt.collect import pool as pools

    killed = []
    original = pools.RayPool.wait

    def wait_and_kill(self, handles, timeout):
        done = original(self, handles, timeout)
        if not killed and len(handles) > 1:
            ray.kill(self.actors[0], no_restart=False)  # Ray restarts it
            killed.append(True)
        return done

    pools.RayPool.wait = wait_and_kill
    keys_file = tmp_path / "keys"  # actors read keys on their node, as from a mounted Secret
    keys_file.write_text("\n".join(KEYS))
    keys = KeySource(file=str(keys_file), from_env=False)
    try:
        with emulator(dataset, fail_rate=0.05, fail_seed=9) as server:
            counts = run_collect(community, dataset, server, keys, use_ray=True, page_size=10)
    finally:
        pools.RayPool.wait = original
    assert killed
    stored = stored_tweets(community)
    assert len(stored) == len(set(stored)) and set(stored) == expected_tweets(dataset)
    assert counts["failed"] == 0


@pytest.mark.slow
def test_collectors_that_cannot_start_fail_the_step_clearly(community, dataset, ray_local):
    from dwt.collect.scheduler import WorkersFailedError

    # The driver sees a key the collectors' nodes do not have (a Secret not mounted there).
    class DriverOnly(KeySource):
        def fingerprints(self):
            return ["key:00000000"]

    with emulator(dataset) as server, pytest.raises(WorkersFailedError, match="no longer"):
        run_collect(community, dataset, server, DriverOnly(), use_ray=True)


def test_iterating_a_pool_of_keys_round_robin():
    from dwt.pipeline.scope import slots

    assert slots(["a", "b"], 2, 3) == ["a", "b", "a"]
    assert slots(["a", "b", "c"], 1, 32) == ["a", "b", "c"]
