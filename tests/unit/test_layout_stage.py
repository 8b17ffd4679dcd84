"""The map stage (dwt.stages.layout): seeded, clusters apart, members inside their disc,
and the cluster step stores the positions the dashboard draws."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest
import scipy.sparse as sp

from dwt.pipeline.progress import Progress
from dwt.pipeline.runner import run_pipeline
from dwt.pipeline.spec import RunSpec
from dwt.stages.cluster import ISOLATED
from dwt.stages.layout import MapLayout, map_discs, strongest_bonds, sunflower
from dwt.store import Coll
from results import shown_members
from sample_week import load_sample


def planted(n: int, k: int, seed: int = 0, degree: int = 8, mixing: float = 0.05):
    """A directed bond matrix with ``k`` planted groups (contiguous labels)."""
    rng = np.random.default_rng(seed)
    labels = np.sort(rng.integers(0, k, n))
    m = n * degree
    src = rng.integers(0, n, m)
    starts = np.searchsorted(labels, np.arange(k))
    ends = np.append(starts[1:], n)
    lo, hi = starts[labels[src]], ends[labels[src]]
    same = rng.random(m) > mixing
    dst = np.where(same, lo + (rng.random(m) * (hi - lo)).astype(int), rng.integers(0, n, m))
    weights = rng.choice([0.01, 0.1, 1.0, 10.0, 100.0], m)
    return sp.csr_matrix((weights, (src, dst)), shape=(n, n)), labels


def test_same_seed_same_map_other_seed_another():
    bonds, labels = planted(400, 5)
    a = MapLayout(seed=3).fit(bonds, labels)
    b = MapLayout(seed=3).fit(bonds, labels)
    c = MapLayout(seed=4).fit(bonds, labels)
    assert np.array_equal(a.positions_, b.positions_)
    assert np.array_equal(a.centres_, b.centres_)
    assert not np.allclose(a.positions_, c.positions_)
    assert np.isfinite(a.positions_).all()


def test_clusters_are_separate_discs_holding_their_members():
    bonds, labels = planted(600, 6, seed=1)
    labels = labels.copy()
    labels[:20] = ISOLATED  # members without a cluster get a disc of their own
    fitted = MapLayout(seed=1).fit(bonds, labels)
    assert list(fitted.clusters_) == [ISOLATED, 0, 1, 2, 3, 4, 5]
    sizes = np.array([(labels == c).sum() for c in fitted.clusters_])
    assert np.allclose(fitted.radii_, fitted.scale * np.sqrt(sizes))
    # No two discs overlap ...
    for i in range(len(fitted.clusters_)):
        for j in range(i + 1, len(fitted.clusters_)):
            gap = np.linalg.norm(fitted.centres_[i] - fitted.centres_[j])
            assert gap >= fitted.radii_[i] + fitted.radii_[j] - 1e-6, (i, j)
    # ... and every member lies in its own cluster's disc, nearer its centre than any other.
    where = np.searchsorted(fitted.clusters_, labels)
    offset = np.linalg.norm(fitted.positions_ - fitted.centres_[where], axis=1)
    assert (offset <= fitted.radii_[where] + 1e-6).all()
    dists = np.linalg.norm(fitted.positions_[:, None, :] - fitted.centres_[None], axis=2)
    assert (dists.argmin(axis=1) == where).all()


def test_bonded_members_sit_closer_than_strangers_in_a_cluster():
    # Two tight pairs inside one cluster of four: bonded pairs end up nearer each other.
    bonds = sp.csr_matrix(([100.0, 100.0, 0.01], ([0, 2, 1], [1, 3, 2])), shape=(4, 4))
    xy = MapLayout(seed=0).fit(bonds, np.zeros(4, dtype=int)).positions_
    d = lambda i, j: np.linalg.norm(xy[i] - xy[j])  # noqa: E731
    assert d(0, 1) < d(0, 3) and d(2, 3) < d(0, 3)


def test_cluster_weights_sum_bonds_between_clusters():
    bonds = sp.csr_matrix(([1.0, 2.0, 5.0, 7.0], ([0, 1, 2, 3], [2, 3, 0, 1])), shape=(4, 4))
    fitted = MapLayout().fit(bonds, np.array([0, 0, 1, ISOLATED]))
    w = fitted.cluster_weights_.toarray()
    # clusters_ = [-1, 0, 1]: 0↔1 carries 1 + 5 (both directions); the isolated, nothing
    assert w[1, 2] == w[2, 1] == 6.0 and w[0].sum() == 0


def test_bad_input_is_refused_with_a_sentence():
    with pytest.raises(ValueError, match="one row per label"):
        MapLayout().fit(sp.eye(3), np.zeros(4, dtype=int))
    with pytest.raises(ValueError, match="non-negative"):
        MapLayout().fit(-sp.eye(2, format="csr"), np.zeros(2, dtype=int))
    with pytest.raises(ValueError, match="scale"):
        MapLayout(scale=0).fit(sp.eye(2, format="csr"), np.zeros(2, dtype=int))


def test_edge_cases_single_members_and_empty():
    assert MapLayout().fit(sp.csr_matrix((0, 0)), np.zeros(0, dtype=int)).positions_.shape == (0, 2)
    one = MapLayout().fit(sp.csr_matrix((1, 1)), np.array([0]))
    assert np.allclose(one.positions_, one.centres_)
    spiral = sunflower(50)
    assert (np.linalg.norm(spiral, axis=1) <= 1).all() and len(np.unique(spiral, axis=0)) == 50


def test_the_cluster_step_stores_positions_on_members_and_discs_on_clusters(store):
    load_sample(store)
    run_pipeline(
        store,
        RunSpec(community="sample", steps=["bonds", "cluster"]),
        now=datetime(2026, 11, 28, tzinfo=UTC),
        progress=Progress(store, "r0", stream=None),
        run_id="r0",
    )
    members = list(shown_members(store, "sample").values())
    assert members and all(isinstance(m["x"], float) and isinstance(m["y"], float)
                           for m in members)  # fmt: skip
    clusters = {d["cluster"]: d for d in store[Coll.CLUSTERS].find({"community": "sample"})}
    for doc in clusters.values():
        assert {"x", "y", "radius"} <= set(doc) and doc["radius"] > 0
    for m in members:
        disc = clusters[m["cluster"]]
        assert np.hypot(m["x"] - disc["x"], m["y"] - disc["y"]) <= disc["radius"] + 0.2


def test_map_discs_are_the_fitted_discs():
    bonds, labels = planted(100, 3)
    fitted = MapLayout().fit(bonds, labels)
    discs = map_discs(fitted)
    assert sorted(discs) == [0, 1, 2]
    assert discs[1]["radius"] == round(float(fitted.radii_[1]), 1)


@pytest.mark.parametrize("k", [1, 3])
def test_strongest_bonds_keeps_each_members_top_k_of_either_end(k):
    bonds, _ = planted(80, 3, seed=5, degree=6)
    sym = (bonds + bonds.T).toarray()
    np.fill_diagonal(sym, 0)
    kept = strongest_bonds(sp.coo_matrix(sym), k).toarray()
    assert (kept == kept.T).all() and ((kept == 0) | (kept == sym)).all()
    # Brute force: an entry is kept when it is in its row's top k (ties: lower column first).
    top = np.zeros_like(sym, dtype=bool)
    for i in range(len(sym)):
        nz = np.flatnonzero(sym[i])
        best = nz[np.lexsort((nz, -sym[i, nz]))][:k]
        top[i, best] = True
    assert ((kept > 0) == (top | top.T)).all()
    assert ((kept > 0).sum(axis=1) >= np.minimum(k, (sym > 0).sum(axis=1))).all()


def test_a_large_cluster_is_laid_out_on_its_strongest_bonds():
    """One 3,000-member cluster with ~60 bonds each (the dense graph took minutes with DrL):
    every member lands inside the disc, spread out rather than collapsed."""
    bonds, labels = planted(3000, 1, seed=2, degree=60)
    fitted = MapLayout(seed=1).fit(bonds, labels)
    xy = fitted.positions_
    centre, radius = fitted.centres_[0], fitted.radii_[0]
    assert (np.sqrt(((xy - centre) ** 2).sum(axis=1)) <= radius * (1 + 1e-9)).all()
    assert np.isfinite(xy).all() and len(np.unique(xy.round(3), axis=0)) > 2900
