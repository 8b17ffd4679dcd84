"""What activity does to the clusters (issue 27): nothing in the product, and the docs say
so; teleporting to nodes (the measured alternative) is what would make it count."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import scipy.sparse as sp

import dwt.stages.cluster as cluster
from dwt.bench.activity_flow import ActivityTeleportation
from dwt.stages.cluster import InfomapClusters


def _bonds(seed: int = 0) -> sp.csr_matrix:
    """Two loosely joined directed groups of 12, random weights."""
    rng = np.random.default_rng(seed)
    truth = np.repeat([0, 1], 12)
    same = truth[:, None] == truth[None, :]
    mask = rng.random((24, 24)) < np.where(same, 0.4, 0.05)
    np.fill_diagonal(mask, False)
    return sp.csr_matrix(rng.uniform(1, 10, (24, 24)) * mask)


def test_the_product_takes_no_activity_and_its_docs_claim_none():
    assert list(inspect.signature(InfomapClusters.fit).parameters) == ["self", "bonds", "silent"]
    with pytest.raises(TypeError):
        InfomapClusters().fit(_bonds(), np.ones(24))  # activity positionally: refused
    doc = (cluster.__doc__ or "") + (InfomapClusters.__doc__ or "")
    assert "weights = activity" not in doc and "not weighted by" in doc


def test_activity_changes_the_flow_only_when_teleporting_to_nodes():
    """The docs' reason: with link teleportation (the product) node weights leave flow and
    code length as they are; teleporting to nodes by activity changes the flow, more of it
    on the active members."""
    import infomap

    bonds = _bonds()

    def plain_flow(node_weights: np.ndarray) -> tuple[np.ndarray, float]:
        im = infomap.Infomap(two_level=True, directed=True, seed=3, num_trials=2, silent=True)
        im.add_nodes([(i, "", float(w)) for i, w in enumerate(node_weights)])
        im.add_scipy_sparse_matrix(bonds, directed=True)
        result = im.run()
        flow = np.zeros(24)
        for node in result.nodes():
            flow[node.node_id] = node.flow
        return flow, result.codelength

    quiet, busy = np.ones(24), np.r_[np.full(12, 1000.0), np.ones(12)]
    (flow_a, code_a), (flow_b, code_b) = plain_flow(quiet), plain_flow(busy)
    assert np.allclose(flow_a, flow_b) and code_a == pytest.approx(code_b)

    from sklearn.base import clone

    assert clone(ActivityTeleportation(busy, "sqrt_activity", seed=3)).variant == "sqrt_activity"
    to_nodes_quiet = ActivityTeleportation(np.zeros(24), seed=3).fit(bonds).flow_
    to_nodes_busy = ActivityTeleportation(busy, seed=3).fit(bonds).flow_
    assert np.abs(to_nodes_quiet - to_nodes_busy).max() > 0.01
    assert to_nodes_busy[:12].sum() > to_nodes_quiet[:12].sum() + 0.05


def test_activity_teleportation_is_measured_against_the_product():
    from dwt.bench.activity_flow import compare

    table = compare([1], [0.35], members=120)
    assert set(table["0.35"]) == {"links", "activity", "sqrt_activity"}
    assert all(0 <= mean <= 1 and worst <= mean for mean, worst in table["0.35"].values())
