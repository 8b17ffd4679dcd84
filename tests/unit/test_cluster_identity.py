"""Stable cluster identities across weeks (issue 15): the matcher and the cluster step."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from dwt.stages.cluster import ISOLATED, InfomapClusters
from dwt.stages.identity import CHANGES, CHANGES_SCHEMA, ClusterMatcher

# Last week: four clusters of 40, 30, 20 and 10 members, then 5 isolated members.
PREVIOUS = np.r_[np.repeat([0, 1, 2, 3], [40, 30, 20, 10]), [ISOLATED] * 5]


def _changes(matcher: ClusterMatcher) -> dict[int, dict]:
    return {row.pop("cluster"): row for row in matcher.changes_.to_pylist()}


def test_permuted_labels_map_back_exactly():
    perm = np.array([2, 0, 3, 1])
    current = np.where(PREVIOUS >= 0, perm[np.maximum(PREVIOUS, 0)], ISOLATED)
    matcher = ClusterMatcher().fit(PREVIOUS, current)
    assert matcher.labels_.tolist() == PREVIOUS.tolist()
    assert matcher.mapping_ == {2: 0, 0: 1, 3: 2, 1: 3}
    assert matcher.transform(current).tolist() == PREVIOUS.tolist()
    changes = _changes(matcher)
    assert {c["change"] for c in changes.values()} == {"kept"}
    assert [c["similarity"] for c in changes.values()] == [1.0] * 4
    assert matcher.gone_.tolist() == []
    assert matcher.changes_.schema == CHANGES_SCHEMA


def test_split_is_detected_and_the_larger_piece_keeps_the_id():
    current = PREVIOUS.copy()
    current[25:40] = 7  # 15 of cluster 0's 40 members form a cluster of their own
    matcher = ClusterMatcher().fit(PREVIOUS, current)
    changes = _changes(matcher)
    assert matcher.labels_[:25].tolist() == [0] * 25
    assert matcher.labels_[25:40].tolist() == [4] * 15  # a fresh id above last week's max
    assert changes[0] == {
        "change": "split",
        "size": 25,
        "size_before": 40,
        "previous": [0],
        "similarity": 25 / 40,
    }
    assert changes[4]["change"] == "split" and changes[4]["previous"] == [0]
    assert changes[4]["size_before"] is None
    assert [changes[c]["change"] for c in (1, 2, 3)] == ["kept"] * 3


def test_merge_is_detected_and_the_absorbed_cluster_is_gone():
    current = PREVIOUS.copy()
    current[current == 3] = 2  # clusters 2 (20) and 3 (10) become one
    matcher = ClusterMatcher().fit(PREVIOUS, current)
    changes = _changes(matcher)
    assert changes[2]["change"] == "merged" and changes[2]["previous"] == [2, 3]
    assert changes[2]["size"] == 30 and changes[2]["size_before"] == 20
    assert matcher.gone_.tolist() == [3]
    assert set(matcher.labels_[PREVIOUS == 3]) == {2}


def test_grew_shrank_kept_new_and_gone():
    current = PREVIOUS.copy()
    current[35:40] = 1  # 0 loses 5 of 40 (12.5%: shrank), 1 gains them (30 -> 35: grew)
    current[90:100] = ISOLATED  # cluster 3 dissolves: gone
    current[100:105] = 9  # last week's isolated members form a cluster: new
    current[70] = ISOLATED  # cluster 2 loses one of 20 (5%: within tolerance, kept)
    matcher = ClusterMatcher().fit(PREVIOUS, current)
    changes = _changes(matcher)
    assert {c: v["change"] for c, v in changes.items()} == {
        0: "shrank",
        1: "grew",
        2: "kept",
        4: "new",
    }
    assert matcher.gone_.tolist() == [3]
    assert matcher.labels_[100:105].tolist() == [4] * 5
    assert set(CHANGES) >= {v["change"] for v in changes.values()}


def test_first_week_keeps_the_numbering_and_everything_is_new():
    current = np.array([0, 0, 0, 1, 1, ISOLATED, 2])  # Infomap's: by size
    matcher = ClusterMatcher().fit(np.full(7, ISOLATED), current)
    assert matcher.labels_.tolist() == current.tolist()
    assert {c["change"] for c in _changes(matcher).values()} == {"new"}
    # Fresh ids go by size (ties: first member), whatever the raw numbering.
    raw = np.array([2, 2, 2, 0, 0, ISOLATED, 1])
    assert ClusterMatcher().fit(np.full(7, ISOLATED), raw).labels_.tolist() == current.tolist()


def test_fresh_ids_start_above_the_largest_old_id():
    previous = np.array([0, 0, 5, 5, 5, ISOLATED, ISOLATED])
    current = np.array([1, 1, 0, 0, 0, 2, 2])
    matcher = ClusterMatcher().fit(previous, current)
    assert matcher.labels_.tolist() == [0, 0, 5, 5, 5, 6, 6]


def test_weak_overlap_is_not_a_match():
    previous = np.r_[np.zeros(20, int), [ISOLATED] * 20]
    current = np.r_[[ISOLATED] * 18, np.zeros(22, int)]  # 2 of 20 old members; Jaccard 0.05
    matcher = ClusterMatcher(min_similarity=0.1).fit(previous, current)
    assert matcher.labels_[18:].tolist() == [1] * 22
    assert _changes(matcher)[1]["change"] == "new" and matcher.gone_.tolist() == [0]
    loose = ClusterMatcher(min_similarity=0.01).fit(previous, current)
    assert loose.labels_[18:].tolist() == [0] * 22


def test_deterministic_and_independent_of_the_raw_numbering():
    rng = np.random.default_rng(5)
    previous = rng.integers(-1, 12, size=500)
    current = np.where(rng.random(500) < 0.8, previous, rng.integers(-1, 14, size=500))
    a = ClusterMatcher().fit(previous, current)
    b = ClusterMatcher().fit(previous, current)
    assert a.labels_.tolist() == b.labels_.tolist() and a.changes_.equals(b.changes_)
    perm = rng.permutation(14)  # the same partition, numbered otherwise
    relabelled = np.where(current >= 0, perm[np.maximum(current, 0)], current)
    c = ClusterMatcher().fit(previous, relabelled)
    assert c.labels_.tolist() == a.labels_.tolist()


def test_overlap_similarity_matches_a_cluster_that_absorbed_a_small_one():
    previous = np.r_[np.zeros(10, int), np.ones(30, int)]
    current = np.zeros(40, int)  # one cluster of 40
    jaccard = ClusterMatcher().fit(previous, current)
    overlap = ClusterMatcher(similarity="overlap").fit(previous, current)
    assert jaccard.labels_[0] == 1  # Jaccard 30/40 beats 10/40
    assert overlap.labels_[0] == 0  # overlap 1.0 for both: the first id wins the tie
    assert _changes(overlap)[0]["change"] == "merged"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"similarity": "cosine"}, "similarity"),
        ({"min_similarity": 2}, "min_similarity"),
        ({"min_share": -0.1}, "min_share"),
        ({"min_members": 0}, "min_members"),
    ],
)
def test_bad_parameters_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ClusterMatcher(**kwargs).fit(np.zeros(3, int), np.zeros(3, int))


def test_misaligned_labels_are_refused():
    with pytest.raises(ValueError, match="aligned"):
        ClusterMatcher().fit(np.zeros(3, int), np.zeros(4, int))
    matcher = ClusterMatcher().fit(np.zeros(3, int), np.zeros(3, int))
    with pytest.raises(ValueError, match="not fitted"):
        matcher.transform(np.array([0, 1]))


# ---- the cluster step --------------------------------------------------------------------

NOW = datetime(2026, 11, 29, tzinfo=UTC)  # generate_community's default now


@pytest.fixture
def generated(store):
    from dwt.bench.load import load_week
    from dwt.generate import generate_community

    load_week(store, generate_community(members=120, communities=4, tweets_per_member=10), "gen")
    return store


def _cluster(store, run_id, steps=("cluster",), **clustering):
    from dwt.pipeline.progress import Progress
    from dwt.pipeline.runner import run_pipeline
    from dwt.pipeline.spec import RunSpec
    from dwt.store import Coll

    spec = RunSpec(community="gen", steps=list(steps), clustering=clustering)
    run_pipeline(store, spec, run_id=run_id, now=NOW, progress=Progress(store, run_id, stream=None))
    from results import shown, shown_members

    members = {a: m["cluster"] for a, m in shown_members(store, "gen").items()}
    docs = {d["cluster"]: d for d in shown(store, Coll.CLUSTERS, "gen")}
    return members, docs


class _Renumbered(InfomapClusters):
    """Infomap as if its raw numbering had come out the other way round."""

    def fit(self, *args, **kwargs):
        super().fit(*args, **kwargs)
        labels = self.labels_
        self.labels_ = np.where(labels >= 0, self.n_clusters_ - 1 - labels, labels)
        return self


def test_rerunning_the_cluster_step_keeps_the_numbers(generated, monkeypatch):
    from dwt.pipeline import tasks

    first, docs = _cluster(generated, "r1", steps=("bonds", "cluster"), seed=1)
    assert len({c for c in first.values() if c >= 0}) >= 3
    assert {d["change"] for c, d in docs.items() if c >= 0} == {"new"}
    assert "change" not in docs.get(ISOLATED, {})

    # A different seed and a raw numbering turned round: the same groups, the same numbers.
    monkeypatch.setattr(tasks, "InfomapClusters", _Renumbered)  # the step runs it in-process
    second, docs = _cluster(generated, "r2", seed=7)
    assert second == first
    clustered = {c: d for c, d in docs.items() if c >= 0}
    assert {d["change"] for d in clustered.values()} == {"kept"}
    assert all(d["size_before"] == d["size"] and d["previous"] == [c] for c, d in clustered.items())
    labels = {d["label"] for d in clustered.values()}

    monkeypatch.undo()
    third, docs = _cluster(generated, "r3", seed=3)
    assert third == first
    assert {d["label"] for c, d in docs.items() if c >= 0} == labels
