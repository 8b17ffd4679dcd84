"""What the dashboard's actions answer and what its pages say, without a browser: replies
that are errors when something went wrong, no stale or untrue state (candidates that are
members, weights not from the clusters' run, a second run while one runs), the weekly
digest's parts, pasted usernames, and the login's way back (``next``, no open redirect)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from test_dashboard import analysed_sample

from dwt.store import Coll, Store
from dwt.store.leases import release, take
from dwt.store.runs import finish_run, start_run
from dwt_dashboard import data, digest
from dwt_dashboard.app import create_app
from dwt_dashboard.auth import UserDirectory, user_line
from dwt_dashboard.components import notice
from dwt_dashboard.keys import FileKeyStore
from dwt_dashboard.launcher import LocalLauncher
from dwt_dashboard.login import login_url, safe_next
from dwt_dashboard.pages import home as home_page
from dwt_dashboard.pages import weights as weights_page
from dwt_dashboard.replies import Reply, usernames_from

pytestmark = pytest.mark.both_stores

NOW = datetime(2026, 11, 28, tzinfo=UTC)


@pytest.fixture
def sample(store: Store) -> Store:
    return analysed_sample(store, "r1", weights={"reply": 50.0})


def _handlers(store: Store, keys: FileKeyStore | None = None):
    users = UserDirectory.parse(user_line("ann", "right", ["sample"], iterations=1000))
    app = create_app(store, LocalLauncher(store, clock=lambda: NOW), users, lambda: NOW, keys=keys)
    return app.handlers


def test_pasted_usernames_are_read_as_names():
    assert usernames_from("https://x.com/Ada_L?s=20") == ["Ada_L"]
    assert usernames_from("@brook, twitter.com/cyd/status/1 https://mobile.twitter.com/dee/") == [
        "brook",
        "cyd",
        "dee",
    ]
    assert usernames_from("ada @ADA\nada") == ["ada"]  # one each, case aside
    assert usernames_from("https://example.org/ada") == ["https://example.org/ada"]  # invalid
    assert usernames_from("  ") == []


def test_replies_say_whether_they_are_errors():
    ok = Reply("Added @ada.")
    failed = Reply.fail("Add an API key first.", link=("API keys", "/keys"))
    joined = ok + " " + failed
    assert joined == "Added @ada. Add an API key first." and joined.error
    assert joined.link == ("API keys", "/keys")
    shown = notice(joined)
    assert shown.className == "notice notice-error" and shown.role == "alert"
    assert notice(ok).className == "notice notice-ok"
    assert notice("") == ""


def test_adding_members_says_what_happened_and_candidates_exclude_members(sample, tmp_path):
    keys_file = tmp_path / "keys"
    keys_file.write_text("")
    handlers = _handlers(sample, FileKeyStore(keys_file, "http://127.0.0.1:9"))
    (cand,) = data.candidates(sample, "sample")
    told = handlers.add_member("ann", "sample", f"https://x.com/{cand['username']}", False)
    # With an empty key store, no run bound to fail: the person is told what to do.
    assert (
        told
        == f"Added @{cand['username']}. Add an API key first: they are collected once one exists."
    )
    assert told.error and told.link == ("API keys", "/keys")
    assert sample[Coll.RUNS].count_documents({"community": "sample"}) == 1
    assert data.candidates(sample, "sample") == []  # a member now, not a candidate
    again = handlers.add_member("ann", "sample", f"@{cand['username'].upper()}", False)
    assert again == f"@{cand['username'].upper()} is already a member." and not again.error
    member = data.members(sample, "sample")[0]["username"]
    both = handlers.add_member("ann", "sample", f"{member} bad!name", False)
    assert both.startswith(f"@{member} is already a member. Not a valid X username")
    assert both.error
    assert handlers.add_member("ann", "sample", " ", False).error


def test_one_run_at_a_time(sample):
    handlers = _handlers(sample)
    lease = take(sample, "sample", "r-busy", datetime.now(UTC))  # as a runner does
    start_run(sample, "r-busy", "sample", ["collect"], {}, NOW)
    refused = handlers.launch("ann", "sample", data.weight_defaults())
    assert refused.error and refused.startswith("Not started: run r-busy is still running")
    page = str(handlers.weights_body("ann", "sample"))  # the weights panel, opened
    assert "run r-busy is still running" in page and "id='run-button'" in page
    assert "disabled=True" in page.split("id='run-button'")[1].split(")")[0]
    # Adding members does not start a collection beside it, nor does the schedule.
    said = handlers.collect_new("sample")
    assert "collected on the next run" in said and "r-busy" in said
    finish_run(sample, "r-busy", "failed", NOW, error="boom")
    release(sample, lease)
    assert handlers.busy("sample") is None
    started = handlers.launch("ann", "sample", data.weight_defaults())
    assert started.startswith("Started run ") and not started.error
    handlers.launcher.threads[started.split()[2].rstrip(";")].join(60)


def test_a_dead_run_never_blocks_the_run_button(sample):
    """A run killed without releasing its lease (or left ``running`` before leases existed)
    blocks nothing once its heartbeat is older than the timeout: the dashboard marks it
    abandoned and the button comes back."""
    handlers = _handlers(sample)
    long_ago = datetime.now(UTC) - timedelta(hours=1)
    take(sample, "sample", "r-killed", long_ago)  # its process died: no heartbeat since
    start_run(sample, "r-killed", "sample", ["bonds"], {}, long_ago)
    start_run(sample, "r-older", "sample", ["collect"], {}, long_ago)  # no lease at all
    assert handlers.busy("sample") is None
    for run_id in ("r-killed", "r-older"):
        run = sample[Coll.RUNS].find_one({"_id": run_id})
        assert run["status"] == "abandoned", run_id
    runs = {r["run_id"]: r for r in data.runs(sample, "sample")}
    assert runs["r-killed"]["status"] == "abandoned" and "heartbeat" in runs["r-killed"]["error"]
    jobs = str(handlers.page("ann", "/jobs", "sample"))
    assert "abandoned (abandoned: its heartbeat stopped" in jobs and "className='error'" in jobs
    started = handlers.launch("ann", "sample", data.weight_defaults())
    assert started.startswith("Started run ") and not started.error
    handlers.launcher.threads[started.split()[2].rstrip(";")].join(60)


def test_weights_start_from_the_run_the_clusters_come_from(sample):
    weights, run_id = data.current_weights(sample, "sample")
    assert run_id == "r1" and weights["reply"] == 50.0
    assert set(weights) == set(data.weight_defaults())
    page = str(_handlers(sample).page("ann", "/insights", "sample"))
    assert "The clusters come from run r1" in page and "reply 50" in page
    assert weights_page.control_value("reply", 50.0) == pytest.approx(1.7)
    assert (
        weights_page.value_of("reply", weights_page.OFF) == 0.0
        and weights_page.weight_text(0.0) == "off"
    )


def test_run_counts_in_words():
    counts = {"tweets_fetched": 5602, "keys_disabled": 0, "failed": 2, "accounts": 12}
    assert data.count_words(counts) == "5,602 tweets collected · 12 accounts read · 2 reads failed"
    usd = {"posts": 28.01, "following_accounts": 7.38, "user_lookups": 0, "total": 35.39}
    bill = {"posts": 5602, "following_accounts": 738, "user_lookups": 0, "usd": usd}
    assert data.spend_words({"charges": bill}) == (
        "X billed 5,602 posts $28.01 + 738 follow-list accounts $7.38 = $35.39"
    )
    assert data.spend_words({}) == ""
    # accounts a follow list returned are not follow lists
    words = data.count_words({"follows": 31397, "follow_lists": 738})
    assert words == "738 follow lists read · 31,397 follow-list accounts read"


def test_the_digest_tells_the_week(sample):
    conv = sample[Coll.CONVERSATIONS].find_one({"community": "sample", "cluster": 0})
    sample[Coll.CONVERSATIONS].update_one({"_id": conv["_id"]}, {"$set": {"trending": True}})
    sample[Coll.CLUSTERS].update_one(
        {"community": "sample", "cluster": 0},
        {"$set": {"change": "merged", "previous": [0, 4]}},
    )
    shown = digest.digest(sample, "sample", NOW)
    (trending,) = shown["trending"]
    assert trending["href"] == (
        f"/insights?cluster=0&tier={conv['tier']}&conversation={conv['conversation_id']}"
    )
    assert trending["text"] and trending["label"]
    (moved,) = shown["cluster_changes"]
    assert moved["text"].startswith("Cluster 0 (") and "merged clusters 0 and 4" in moved["text"]
    assert [c["username"] for c in shown["candidates"]] == ["outsider_olu"]
    assert shown["last_run"]["run_id"] == "r1" and shown["clusters_run"]["run_id"] == "r1"
    page = str(home_page.layout(shown))
    assert "tweets_" not in page and "internal weight" not in page


def test_the_way_back_after_login_stays_on_this_site():
    assert safe_next("/insights?cluster=3&tier=2") == "/insights?cluster=3&tier=2"
    for outside in ("//evil.example/", "/\\evil.example", "https://evil.example/", "evil",
                    "/\tevil", "/login?next=/x", "/logout", None, ""):  # fmt: skip
        assert safe_next(outside) == "/", outside
    assert login_url("/users") == "/login?next=%2Fusers"
    assert login_url("/") == "/login"


def test_collection_is_planned_and_runs_show_their_reads(sample):
    handlers = _handlers(sample)
    plan = handlers.collection_plan("sample")
    assert plan["accounts"] == 4 and plan["binding_endpoint"] and plan["keys"] == 0
    page = str(handlers.page("ann", "/collection", "sample"))
    assert "Next collection, planned" in page and "No API key yet" in page
    assert "timelines to read" in page and "X would bill about" in page
    assert "This month: $0.00 spent" in page
    usd = {"posts": 28.01, "following_accounts": 0, "user_lookups": 0, "total": 28.01}
    bill = {"posts": 5602, "following_accounts": 0, "user_lookups": 0, "usd": usd}
    run = {
        "status": "capped",
        "collection": {
            "charges": bill, "capped": True, "cap_reason": "collection.maxSpendPerRun $30.00",
        },
    }  # fmt: skip
    sample[Coll.RUNS].update_one({"_id": "r1"}, {"$set": run})
    (shown,) = data.runs(sample, "sample")
    assert data.spend_words(shown) == (
        "X billed 5,602 posts $28.01 = $28.01 · stopped at collection.maxSpendPerRun $30.00"
    )
    jobs = str(handlers.page("ann", "/jobs", "sample"))
    assert "5,602 posts $28.01" in jobs and "warning" in jobs
