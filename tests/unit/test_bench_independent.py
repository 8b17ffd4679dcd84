"""The independent evaluation source (issue 15): its plan is consistent with the dataset the
emulator serves, and the product as run on it is scored from the store."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pyarrow.compute as pc
import pytest
import scipy.sparse as sp

from dwt.bench.independent.grid import (
    burst_counts,
    clusters_by_mixing,
    grid_cases,
    nmi_by_mixing,
    singleton_silent,
    worst_nmi_by_mixing,
)
from dwt.bench.independent.product import run_product
from dwt.bench.independent.score import BurstCounts, RunScore, score_run
from dwt.bench.independent.world import HOUR_MS, Plan, WorldConfig, generate_world
from dwt.bench.insights import independent_goals
from dwt.stages.cluster import InfomapClusters

SMALL = WorldConfig(members=120, min_community=20, max_community=40, activity=15.0, seed=3)
ROW = RunScore(
    mixing=0.35, realised_mixing=0.36, noise=0.3, activity=20.0, seed=1, nmi=1.0, nmi_all=1.0,
    clusters=5, planted=5, singletons=0, singleton_silent=0, silent=0, isolated=0,
    threads=BurstCounts(), topics=None, ari=None, ari_without_ids=None,
)  # fmt: skip


@pytest.fixture(scope="module")
def world():
    return generate_world(SMALL)


def test_silent_members_have_no_tweets_and_nothing_aimed_at_them(world):
    dataset, plan = world
    silent = set(plan.silent)
    assert 0 < len(silent) < len(plan.members)
    tweets = dataset.tweets
    assert not silent & set(tweets.column("author_id").to_pylist())
    assert not silent & set(pc.list_flatten(tweets.column("mentions")).to_pylist())
    assert not silent & set(pc.drop_null(tweets.column("in_reply_to_user_id")).to_pylist())
    # Retweets and quotes point at tweets whose authors are never silent either.
    ids = tweets.column("id").to_pylist()
    author = dict(zip(ids, tweets.column("author_id").to_pylist(), strict=True))
    referenced = pc.drop_null(tweets.column("referenced_id")).to_pylist()
    assert not silent & {author[r] for r in referenced}


def test_bursts_are_where_the_plan_says(world):
    dataset, plan = world
    tweets = dataset.tweets
    row = {t: i for i, t in enumerate(tweets.column("id").to_pylist())}
    members = np.array(plan.members)
    community = dict(zip(plan.members, plan.community, strict=True))
    kinds = {b["kind"] for b in plan.bursts}
    assert kinds == {"thread", "topic"}
    for burst in plan.bursts:
        rows = [row[t] for t in burst["tweet_ids"]]
        times = tweets.column("created_at").take(rows).cast("int64").to_numpy()
        assert times.max() - times.min() <= SMALL.burst_hours * HOUR_MS
        authors = tweets.column("author_id").take(rows).to_pylist()
        assert {community[a] for a in authors} == {burst["community"]}
        assert set(authors) <= set(members)
        if burst["kind"] == "topic":  # standalone tweets carrying the topic
            assert len(set(authors)) >= 8
            assert set(tweets.column("kind").take(rows).to_pylist()) == {"tweet"}
            texts = tweets.column("text").take(rows).to_pylist()
            assert all(burst["topic"] in t.lower() for t in texts)
        else:  # one conversation, rooted at the planned root, growing by replies
            conversations = set(tweets.column("conversation_id").take(rows).to_pylist())
            assert conversations == {burst["root_id"]}
            assert all(plan.threads[t] == burst["root_id"] for t in burst["tweet_ids"])


def test_follows_are_noisy_and_asymmetric(world):
    dataset, plan = world
    assert 0.2 < plan.follow_reciprocity < 0.9  # many follows are one-way
    assert plan.noise_follows > 0
    index = {m: i for i, m in enumerate(plan.members)}
    follows = dataset.follows.to_pylist()
    inside = [(index[f["source_id"]], index[f["target_id"]]) for f in follows
              if f["source_id"] in index and f["target_id"] in index]  # fmt: skip
    relations = {tuple(sorted(r)) for r in plan.relations}
    off_graph = [p for p in inside if tuple(sorted(p)) not in relations]
    assert len(off_graph) > 0.05 * len(inside)  # random and celebrity follows
    assert len(follows) > len(inside)  # members follow outsiders too


def test_the_dataset_carries_no_truth(world, tmp_path):
    dataset, plan = world
    assert set(dataset.users.column("community").to_pylist()) == {-1}
    assert set(dataset.tweets.column("burst").to_pylist()) == {-1}
    assert dataset.tweets.column("topic").null_count == dataset.tweets.num_rows
    assert Plan.load(plan.save(tmp_path / "plan.json")) == plan


def test_realised_mixing_follows_the_aim():
    for mixing in (0.1, 0.35):
        _, plan = generate_world(WorldConfig(members=200, mixing=mixing, seed=5))
        assert plan.mixing == pytest.approx(mixing, abs=0.03)


def test_same_seed_same_week():
    a, plan_a = generate_world(SMALL)
    b, plan_b = generate_world(SMALL)
    assert a.tweets.equals(b.tweets) and plan_a == plan_b


def test_bad_config_is_refused():
    with pytest.raises(ValueError, match="mixing"):
        WorldConfig(mixing=1.0)
    with pytest.raises(ValueError, match="members"):
        WorldConfig(members=10)


def test_the_product_as_run_is_scored_from_the_store(world):
    dataset, plan = world
    reading = run_product(dataset)
    assert len(reading.members) == len(plan.members)
    row = score_run(plan, reading)
    assert row.singleton_silent == 0 and row.isolated >= row.silent  # silent set aside
    assert row.nmi > 0.8 and 0.5 <= row.clusters / row.planted <= 1.5
    assert row.threads.planted == SMALL.thread_bursts and row.threads.found >= 1
    assert row.ari is not None and row.ari > 0.9
    assert reading.conversations_without_ids is not None and row.ari_without_ids is not None
    keys = {
        "nmi": nmi_by_mixing([row]),
        "clusters": clusters_by_mixing([row]),
        "singleton_silent": singleton_silent([row]),
    }
    assert keys["nmi"] == {f"{SMALL.mixing:g}": row.nmi} and keys["singleton_silent"] == 0
    assert burst_counts([row])["threads"].planted == SMALL.thread_bursts
    # The yardstick: Infomap and Leiden on the planted relation graph, over the same members.
    assert row.oracle_infomap is not None and row.oracle_leiden is not None
    assert row.oracle_infomap >= 0.9 and row.oracle_leiden >= 0.9
    assert row.nmi_vs_oracle == pytest.approx(row.nmi / row.oracle_infomap, abs=1e-4)


def test_grid_cases_cover_mixings_seeds_and_variants():
    cases = grid_cases((0.1, 0.5), (1, 2), ((0.6, 5.0),), SMALL)
    assert [(c.mixing, c.seed) for c in cases[:4]] == [(0.1, 1), (0.1, 2), (0.5, 1), (0.5, 2)]
    assert {(c.noise, c.activity, c.mixing) for c in cases[4:]} == {(0.6, 5.0, 0.5)}
    fewer = grid_cases((0.1,), (1, 2, 3), ((0.6, 5.0),), SMALL, variant_seeds=(1,))
    assert [(c.noise, c.seed) for c in fewer] == [(SMALL.noise, 1), (SMALL.noise, 2),
                                                  (SMALL.noise, 3), (0.6, 1)]  # fmt: skip


def test_the_worst_week_is_reported_beside_the_mean():
    rows = [replace(ROW, seed=s, nmi=v) for s, v in ((1, 0.9), (2, 1.0))]
    assert nmi_by_mixing(rows) == {f"{ROW.mixing:g}": 0.95}
    assert worst_nmi_by_mixing(rows) == {f"{ROW.mixing:g}": 0.9}


def test_independent_goals_read_the_summary_keys():
    good = {"nmi_independent": {"0.1": 0.99, "0.35": 0.96, "0.5": 0.9},
            "clusters_independent": {"0.1": 1.0, "0.5": 1.4}, "singleton_silent": 0,
            "nmi_vs_oracle": {"0.35": {"mean": 0.99, "worst": 0.98}}}  # fmt: skip
    assert all(independent_goals(good).values())
    bad = good | {"nmi_independent": {"0.35": 0.9, "0.5": 0.8}, "singleton_silent": 2,
                  "nmi_vs_oracle": {"0.5": {"mean": 0.99, "worst": 0.9}}}  # fmt: skip
    assert not any(independent_goals(bad | {"clusters_independent": {"0.5": 2.0}}).values())
    assert set(independent_goals({}).values()) == {None}


def test_infomap_seed_zero_is_refused_clearly():
    with pytest.raises(ValueError, match="seed"):
        InfomapClusters(seed=0).fit(sp.eye(2, format="csr"))
