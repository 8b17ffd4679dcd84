"""The insight steps as Ray tasks over shards of authors give what the in-process run gives.

One generated week (4 planted communities, planted thread and topic bursts, earlier days
for the topics' baselines) is loaded into two embedded stores; one is run in this process
(one shard), the other on the session's local Ray over three shards and three content
groups. Every result is compared whole: the candidates, every bond weight to the bit, the
clusters (NMI 1.0: the same labels), every member's placement, every conversation (the
trending ones included) and every topic. The run record says where each step ran.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from pipeline_results import results

from dwt.bench.load import load_week
from dwt.generate import generate_community
from dwt.pipeline.runner import run_pipeline
from dwt.pipeline.spec import RunSpec
from dwt.store import Coll, Store

STEPS = ["discover", "bonds", "cluster", "content"]
COMMUNITY = "bench"


@pytest.fixture(scope="module")
def dataset():
    return generate_community(members=180, communities=4, days=9, seed=11, tweets_per_member=12)


def _loaded(tmp_path: Path, name: str, dataset) -> Store:
    store = Store.open(f"sqlite:///{tmp_path / name / 'dwt.db'}")
    load_week(store, dataset, COMMUNITY)
    return store


def test_on_ray_over_shards_the_results_are_the_in_process_ones(tmp_path, dataset, ray_local):
    spec = RunSpec(community=COMMUNITY, steps=STEPS, windowDays=6)
    now = datetime.fromisoformat(dataset.meta["now"])
    here, there = _loaded(tmp_path, "here", dataset), _loaded(tmp_path, "there", dataset)
    run_pipeline(here, spec, run_id="r", now=now)  # small: this process, one shard
    run_pipeline(there, spec, run_id="r", now=now, shards=3)

    local, remote = results(here, "r", COMMUNITY), results(there, "r", COMMUNITY)
    assert local["clusters"] and len(local["clusters"]) >= 3
    assert any(c["trending"] for c in local["conversations"])  # planted bursts found
    assert any(t["trending"] for t in local["topics"])
    assert sum(len(t["tweet_ids"]) for t in local["topics"]) > 0
    for name in local:
        differ = [(a, b) for a, b in zip(local[name], remote[name], strict=False) if a != b]
        differ = [(a, {k: v for k, v in b.items() if a.get(k) != v}) for a, b in differ]
        assert remote[name] == local[name], (name, differ[:3])  # bit for bit: floats too

    placed = here[Coll.RUNS].find_one({"_id": "r"})["placement"]
    assert {p["where"] for p in placed.values()} == {"driver"}
    placed = there[Coll.RUNS].find_one({"_id": "r"})["placement"]
    assert set(placed) == {"read", *STEPS}
    assert {p["where"] for p in placed.values()} == {"ray"}
    assert placed["read"]["tasks"] == 3 and placed["bonds"]["tasks"] >= 7
    assert placed["content"]["tasks"] >= 3 + 3 + 1 + 3
    assert "driver" not in {node for p in placed.values() for node in p["nodes"]}


def test_a_week_with_history_days_and_no_topics(tmp_path, dataset, ray_local):
    """Topics off, no history: the conversations still agree, and no topic is written."""
    spec = RunSpec(
        community=COMMUNITY,
        steps=STEPS,
        windowDays=3,
        content={"topics": {"enabled": False}},
    )
    now = datetime.fromisoformat(dataset.meta["now"]) - timedelta(days=1)
    here, there = _loaded(tmp_path, "here", dataset), _loaded(tmp_path, "there", dataset)
    run_pipeline(here, spec, run_id="r", now=now)
    run_pipeline(there, spec, run_id="r", now=now, shards=2)
    local, remote = results(here, "r", COMMUNITY), results(there, "r", COMMUNITY)
    assert not local["topics"] and not remote["topics"]
    assert remote == local
