"""Silent members (issue 15): no tweet and nothing directed at them this week, so they go to
the isolated cluster, never to a singleton cluster made of their follow-only bonds."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pytest
import scipy.sparse as sp

from dwt.stages.bonds import BondGraph
from dwt.stages.cluster import ISOLATED, InfomapClusters, silent_members
from dwt.stages.weights import PRESETS
from dwt.store import INTERACTIONS_SCHEMA
from results import shown_members

KINDS = np.array(["tweet", "reply", "retweet", "quote"])


def planted_week(seed, groups=(30, 25, 20, 15), silent=24, tweets=6, mix=0.1, spread=0.5):
    """Planted groups of active members who address members of their own group (``mix``
    of the time anyone), and ``silent`` members who never tweet and are never addressed but
    follow 5 active members each: of one group, or (``spread`` of the follows) of any.
    Returns members, interactions, follows and the true silent mask."""
    rng = np.random.default_rng(seed)
    sizes = np.asarray(groups)
    starts = np.r_[0, np.cumsum(sizes)]
    group = np.repeat(np.arange(len(sizes)), sizes)
    active = len(group)
    n = active + silent
    ids = np.array([f"m{i:03d}" for i in range(n)], dtype=object)

    author = np.repeat(np.arange(active), tweets)
    own = group[author]
    target = starts[own] + (rng.random(len(author)) * sizes[own]).astype(int)
    anyone = rng.random(len(author)) < mix
    target[anyone] = rng.integers(0, active, anyone.sum())
    kind = KINDS[rng.integers(0, len(KINDS), len(author))]

    home = np.r_[group, rng.integers(0, len(sizes), silent)]
    src = np.repeat(np.arange(n), 5)
    dst = starts[home[src]] + (rng.random(len(src)) * sizes[home[src]]).astype(int)
    spread_out = (src >= active) & (rng.random(len(src)) < spread)
    dst[spread_out] = rng.integers(0, active, spread_out.sum())
    keep = src != dst

    rows = len(author)
    interactions = pa.table(
        {
            "tweet_id": pa.array(np.arange(rows).astype(str).tolist()),
            "author_id": pa.array(ids[author].tolist()),
            "created_at": pa.nulls(rows, pa.timestamp("ms", tz="UTC")),
            "conversation_id": pa.nulls(rows, pa.string()),
            "kind": pa.array(kind.tolist()),
            "directed_at": pa.array(ids[target].reshape(-1, 1).tolist()),
            "hashtags": pa.array([[]] * rows, pa.list_(pa.string())),
        }
    )
    follows = pa.table(
        {
            "source_id": pa.array(ids[src[keep]].tolist()),
            "target_id": pa.array(ids[dst[keep]].tolist()),
        }
    )
    return pa.array(ids.tolist()), interactions, follows, np.arange(n) >= active


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("preset", ["seed", "balanced"])
def test_silent_members_are_isolated_not_singletons(seed, preset):
    members, interactions, follows, truth = planted_week(seed)
    graph = BondGraph(PRESETS[preset]).fit(members, interactions, follows)
    silent = silent_members(members, interactions)
    assert silent.tolist() == truth.tolist()
    if preset == "seed":
        # Under the prototype's rule they do have bonds: follow-only ones, from the tweets
        # of the members they follow.
        assert (graph.matrix_[:, np.flatnonzero(silent)].sum(axis=0) > 0).all()

        # The bug: left in the flow, several end up as singleton clusters.
        before = InfomapClusters().fit(graph.matrix_).labels_
        sizes = np.bincount(before[before >= 0])
        assert (sizes[before[silent]] == 1).sum() > 0 and (before == ISOLATED).sum() == 0

    model = InfomapClusters().fit(graph.matrix_, silent=silent)
    labels = model.labels_
    assert (labels[silent] == ISOLATED).all() and int((labels == ISOLATED).sum()) == silent.sum()
    assert (labels[~silent] >= 0).all()
    assert (np.bincount(labels[labels >= 0]) > 1).all()  # no singleton cluster at all
    assert (model.flow_[silent] == 0).all() and model.silent_.tolist() == silent.tolist()


def _week(rows):
    return pa.Table.from_pylist(
        [
            {"tweet_id": str(i), "author_id": a, "kind": k, "directed_at": d, "hashtags": []}
            for i, (a, k, d) in enumerate(rows)
        ],
        schema=INTERACTIONS_SCHEMA,
    )


def test_who_is_silent():
    week = _week(
        [
            ("m1", "reply", ["m2"]),  # m2 never tweets but is replied to: not silent
            ("m1", "tweet", ["outsider"]),
            ("outsider", "reply", ["m3"]),  # an outsider's tweet: m3 stays silent
            ("m4", "tweet", []),  # a tweet without anyone in it: m4 is active
        ]
    )
    got = silent_members(["m1", "m2", "m3", "m4", "m5"], week)
    assert got.tolist() == [False, False, True, False, True]
    assert silent_members(["m1"], _week([])).tolist() == [True]
    assert silent_members([], week).tolist() == []


def test_a_member_only_talked_to_is_still_placed_with_its_partners():
    # 0, 1, 2 talk; 3 never tweets but 2 replies to it; 4 follows 0 and 1 only.
    bonds = sp.csr_matrix(
        np.array(
            [
                [0, 5, 5, 0, 0.03],
                [5, 0, 5, 0, 0.03],
                [5, 5, 0, 100, 0],
                [0, 0, 0, 0, 0],
                [0, 0, 0, 0, 0.0],
            ]
        )
    )
    silent = np.array([False, False, False, False, True])
    labels = InfomapClusters().fit(bonds, silent=silent).labels_
    assert labels.tolist() == [0, 0, 0, 0, ISOLATED]


def test_silent_mask_must_match_the_members():
    with pytest.raises(ValueError, match="silent"):
        InfomapClusters().fit(sp.csr_matrix((3, 3)), silent=np.zeros(2, bool))


def test_the_cluster_step_isolates_a_silent_member(store):
    """The sample week, plus a member who follows two active members and does nothing."""
    from dwt.pipeline.progress import Progress
    from dwt.pipeline.runner import run_pipeline
    from dwt.pipeline.spec import RunSpec
    from dwt.store import Coll
    from sample_week import load_sample

    load_sample(store)
    store.add_members("sample", [{"id": "1005", "username": "lurker"}])
    store.put_follows("1005", ["1001", "1002"])
    result = run_pipeline(
        store,
        RunSpec(community="sample", steps=["bonds", "cluster"]),
        run_id="r1",
        now=datetime(2026, 11, 28, tzinfo=UTC),
        progress=Progress(store, "r1", stream=None),
    )
    # 1004 has no bond at all, 1005 only follow-only ones: both isolated.
    assert result.counts["clusters"] == 1 and result.counts["isolated"] == 2
    bonds = {d["source_id"]: d["targets"] for d in store[Coll.BONDS].find()}
    assert "1005" in bonds["1001"]  # the follow-only bond is there, and stays stored
    members = {a: m["cluster"] for a, m in shown_members(store, "sample").items()}
    assert members["1005"] == members["1004"] == ISOLATED
    isolated = store[Coll.CLUSTERS].find_one({"community": "sample", "cluster": ISOLATED})
    assert sorted(isolated["members"]) == ["1004", "1005"]
