"""The insight steps of the pipeline, end to end on the store."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest

from dwt.pipeline.progress import Progress, parse_progress_line
from dwt.pipeline.runner import RunFailed, RunRefused, run_pipeline
from dwt.pipeline.spec import RunSpec
from dwt.stages.weights import PRESETS
from dwt.store import Coll, Store
from dwt.store.candidates import Action, apply_actions, pending_candidates
from dwt.store.runs import recent_runs
from results import shown_members, shown_one
from sample_week import load_sample

pytestmark = pytest.mark.both_stores  # the embedded store and MongoDB (FerretDB)

NOW = datetime(2026, 11, 28, tzinfo=UTC)
INSIGHTS = ["discover", "bonds", "cluster", "content"]


@pytest.fixture
def sample(store: Store) -> Store:
    load_sample(store)
    return store


def _run(store, steps, run_id="r1", **spec):
    stream = io.StringIO()
    result = run_pipeline(
        store,
        RunSpec(community="sample", steps=steps, **spec),
        run_id=run_id,
        now=NOW,
        progress=Progress(store, run_id, stream=stream),
    )
    return result, stream.getvalue()


def test_all_insight_steps(sample: Store):
    result, log = _run(sample, INSIGHTS)
    assert result.status == "succeeded"
    assert result.counts == {
        "candidates": 1,
        "tweets": 7,
        "bonds": 6,  # 5 from tweets and mutual follows, 1 an embedded one-way follow
        "clusters": 1,
        "isolated": 1,
        "no_structure": 1,  # one group of three: no structure to report, and it says so
        "conversations": 4,
        "trending": 0,
        "topics": 0,  # seven tweets: no topic in two of them
        "trending_topics": 0,
        # the sample's follows were stored without a collection: no list was read by one
        "follow_lists_never_read": 4,
    }
    assert sample[Coll.RUNS].find_one({"_id": result.run_id})["follows_used"] == {
        "median": None, "max": None, "never_read": 4,
    }  # fmt: skip
    members = shown_members(sample, "sample")
    assert members["1001"]["cluster"] == members["1002"]["cluster"] == 0
    assert members["1004"]["cluster"] == -1  # the protected account never tweeted
    assert members["1002"]["bond_stats"]["tier1_partner"] == "1001"
    assert members["1002"]["activity"] == 3
    bonds = shown_one(sample, Coll.BONDS, "sample", source_id="1002")
    # Balanced weights: the member's bonds sum to 1; its reply partner holds most of it.
    assert dict(zip(bonds["targets"], bonds["weights"], strict=True)) == pytest.approx(
        {"1001": 8 / 9, "1003": 1 / 9}
    )
    top = shown_one(sample, Coll.CONVERSATIONS, "sample", cluster=0, tier=1, rank=0)
    assert top["conversation_id"] == "1862000000000000001" and top["size"] == 3
    (run,) = recent_runs(sample, "sample")
    assert run["status"] == "succeeded" and set(run["timings"]) == set(INSIGHTS)
    assert run["params"]["window"]["until"] == NOW.isoformat()
    events = [parse_progress_line(line) for line in log.splitlines()]
    assert all(events) and events[-1]["event"] == "summary"
    assert events[-1]["counts"]["conversations"] == 4


def test_seed_preset_keeps_the_prototype_bonds(sample: Store):
    """The ``seed`` preset is the 2020 prototype's raw rule: a reply 100, a follower 0.01
    per tweet of the account it follows."""
    _run(sample, ["bonds"], weights=PRESETS["seed"].to_dict())
    bonds = shown_one(sample, Coll.BONDS, "sample", source_id="1002")
    assert dict(zip(bonds["targets"], bonds["weights"], strict=True)) == pytest.approx(
        {"1001": 101.03, "1003": 0.03}
    )


def test_steps_reuse_stored_results(sample: Store):
    _run(sample, ["bonds", "cluster"], run_id="r1")
    result, _ = _run(sample, ["content"], run_id="r2")
    assert result.counts["conversations"] == 4
    # Only the latest run's conversations are kept.
    assert {d["run_id"] for d in sample[Coll.CONVERSATIONS].find()} == {"r2"}
    # Weights changed: the cluster step alone reads the new bonds of a bonds-only run.
    _run(
        sample,
        ["bonds"],
        run_id="r3",
        weights={
            "reply": 0,
            "retweet": 0,
            "quote": 0,
            "mention": 0,
            "tweet": 0,
            "follow": 0,
            "one_way": 0,
        },
    )
    result, _ = _run(sample, ["cluster"], run_id="r4")
    assert result.counts == {"clusters": 0, "isolated": 4, "no_structure": 1}


def test_rerun_with_the_same_id_changes_nothing(sample: Store):
    _run(sample, INSIGHTS)
    counts = sample.counts()
    _run(sample, INSIGHTS)
    assert sample.counts() == counts
    assert sample[Coll.RUNS].find_one({"_id": "r1"})["attempts"] == 2


def test_missing_inputs_fail_clearly_and_are_recorded(sample: Store):
    with pytest.raises(RunFailed, match="step cluster failed: MissingInputError: no bonds"):
        _run(sample, ["cluster"])
    run = sample[Coll.RUNS].find_one({"_id": "r1"})
    assert run["status"] == "failed" and run["error"].startswith("cluster:")
    assert run["progress"]["cluster"]["state"] == "failed"


def test_collect_needs_a_collector(sample: Store):
    with pytest.raises(ValueError, match="no handler for step"):
        _run(sample, ["collect", "bonds"])


def test_discovered_accounts_are_added_muted_or_blocked(sample: Store):
    _run(sample, ["discover"])
    (candidate,) = pending_candidates(sample, "sample")
    assert candidate["account_id"] == "2001" and candidate["username"] == "outsider_olu"
    assert candidate["interactions"] == 2 and candidate["members"] == 2

    apply_actions(sample, "sample", {"2001": Action.MUTE}, NOW)
    result, _ = _run(sample, ["discover"], run_id="r2")
    assert result.counts["candidates"] == 0  # muted for 7 days

    later = datetime(2026, 12, 6, tzinfo=UTC)  # the mute ended on Dec 5
    run_pipeline(
        sample,
        RunSpec(community="sample", steps=["discover"], window_days=14),
        now=later,
        progress=Progress(sample, "r3", stream=None),
        run_id="r3",
    )
    assert [c["account_id"] for c in pending_candidates(sample, "sample")] == ["2001"]

    added = apply_actions(sample, "sample", {"2001": Action.CORE}, later)
    assert added == [{"id": "2001", "username": "outsider_olu", "core": True}]
    member = sample[Coll.MEMBERS].find_one({"account_id": "2001"})
    assert member["core"] is True and member["source"] == "discover"
    assert "core" not in sample[Coll.ACCOUNTS].find_one({"_id": "2001"})


def test_unknown_candidates_are_refused_without_partial_writes(sample: Store):
    from dwt.store import StoreError

    _run(sample, ["discover"])
    with pytest.raises(StoreError, match="not candidates"):
        apply_actions(sample, "sample", {"2001": "block", "999": "add"}, NOW)
    assert pending_candidates(sample, "sample")[0]["status"] == "pending"


def test_empty_community(store: Store):
    # Unknown communities are refused (issue 14); one whose members all left runs empty
    # only when asked to.
    with pytest.raises(RunRefused, match="no community 'nobody'"):
        run_pipeline(store, RunSpec(community="nobody", steps=INSIGHTS), now=NOW, run_id="e")
    store.add_members("nobody", [{"id": "1", "username": "gone"}])
    store.remove_members("nobody", ["1"])
    with pytest.raises(RunRefused, match="has no members"):
        run_pipeline(store, RunSpec(community="nobody", steps=INSIGHTS), now=NOW, run_id="e")
    assert store[Coll.RUNS].count_documents({}) == 0
    result = run_pipeline(
        store,
        RunSpec(community="nobody", steps=INSIGHTS),
        now=NOW,
        progress=Progress(store, "e", stream=None),
        run_id="e",
        allow_empty=True,
    )
    assert result.counts == {
        "candidates": 0,
        "tweets": 0,
        "bonds": 0,
        "clusters": 0,
        "isolated": 0,
        "no_structure": 1,
        "conversations": 0,
        "trending": 0,
        "topics": 0,
        "trending_topics": 0,
        "follow_lists_never_read": 0,
    }


def test_progress_must_report_the_run_it_follows(sample: Store):
    with pytest.raises(ValueError, match="progress reports run"):
        run_pipeline(
            sample,
            RunSpec(community="sample", steps=["bonds"]),
            run_id="a",
            now=NOW,
            progress=Progress(sample, "b", stream=None),
        )
    result = run_pipeline(
        sample,
        RunSpec(community="sample", steps=["bonds"]),
        now=NOW,
        progress=Progress(sample, "from-progress", stream=None),
    )
    assert result.run_id == "from-progress"
    assert sample[Coll.RUNS].find_one({"_id": "from-progress"})["counts"]["bonds"] == 6
