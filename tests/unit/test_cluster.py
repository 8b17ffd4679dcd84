"""Infomap clustering of the bond graph."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.metrics import normalized_mutual_info_score

from dwt.stages.cluster import ISOLATED, InfomapClusters


def planted(sizes, p_in=0.3, p_out=0.01, seed=0):
    """A directed weighted graph with planted blocks, and the true labels."""
    rng = np.random.default_rng(seed)
    truth = np.repeat(np.arange(len(sizes)), sizes)
    n = len(truth)
    same = truth[:, None] == truth[None, :]
    mask = rng.random((n, n)) < np.where(same, p_in, p_out)
    np.fill_diagonal(mask, False)
    weights = rng.uniform(1, 10, size=(n, n)) * mask
    return sp.csr_matrix(weights), truth


def test_recovers_planted_blocks():
    bonds, truth = planted([40, 25, 15, 10])
    model = InfomapClusters(trials=5, seed=1).fit(bonds)
    assert normalized_mutual_info_score(truth, model.labels_) > 0.95
    assert model.n_clusters_ == 4
    # Renumbered by size: cluster 0 is the largest.
    assert np.bincount(model.labels_).tolist() == sorted(np.bincount(model.labels_), reverse=True)


def test_deterministic_for_a_seed():
    bonds, _ = planted([20, 20, 20], p_in=0.15, p_out=0.05, seed=3)
    a = InfomapClusters(trials=3, seed=7).fit(bonds).labels_
    b = InfomapClusters(trials=3, seed=7).fit(bonds).labels_
    assert a.tolist() == b.tolist()


def test_isolated_members_get_the_explicit_cluster():
    bonds, _ = planted([10, 10])
    bonds = sp.block_diag([bonds, sp.csr_matrix((3, 3))]).tocsr()
    model = InfomapClusters().fit(bonds)
    assert model.labels_[-3:].tolist() == [ISOLATED] * 3
    assert (model.labels_[:-3] >= 0).all()
    assert model.flow_[-3:].tolist() == [0, 0, 0]


def test_member_only_talked_to_is_clustered_with_its_partners():
    # 0 <-> 1 <-> 2 talk; 3 never tweets but 2 replies to 3 every day.
    bonds = sp.csr_matrix(np.array([[0, 5, 5, 0], [5, 0, 5, 0], [5, 5, 0, 100], [0, 0, 0, 0.0]]))
    model = InfomapClusters().fit(bonds)
    assert model.labels_.tolist() == [0, 0, 0, 0]


def test_disconnected_components_are_separate_clusters():
    a, _ = planted([12], p_in=0.5)
    b, _ = planted([8], p_in=0.5, seed=2)
    model = InfomapClusters().fit(sp.block_diag([a, b]).tocsr())
    assert len(set(model.labels_[:12])) == 1 and len(set(model.labels_[12:])) == 1
    assert model.labels_[0] != model.labels_[-1]


@pytest.mark.parametrize("n", [0, 1])
def test_empty_and_single_member(n):
    model = InfomapClusters().fit(sp.csr_matrix((n, n)))
    assert model.labels_.tolist() == [ISOLATED] * n and model.n_clusters_ == 0


def test_self_bonds_are_ignored():
    model = InfomapClusters().fit(sp.csr_matrix(np.eye(3)))
    assert model.labels_.tolist() == [ISOLATED] * 3


@pytest.mark.parametrize(
    ("bonds", "message"),
    [
        (sp.csr_matrix((2, 3)), "square"),
        (sp.csr_matrix(np.array([[0, -1.0], [0, 0]])), "non-negative"),
    ],
)
def test_bad_input_is_refused(bonds, message):
    with pytest.raises(ValueError, match=message):
        InfomapClusters().fit(bonds)


def test_bad_parameters_are_refused():
    with pytest.raises(ValueError, match="trials"):
        InfomapClusters(trials=0).fit(sp.eye(2, format="csr"))
    with pytest.raises(ValueError, match="teleportation"):
        InfomapClusters(teleportation=1.5).fit(sp.eye(2, format="csr"))


@pytest.mark.parametrize("seed", [0, 3])
def test_generated_communities_are_recovered(seed):
    """Bonds + Infomap on a generated week find the planted sub-communities (NMI >= 0.9)."""
    from dwt.bench.truth import stage_inputs
    from dwt.generate import generate_community
    from dwt.stages.bonds import BondGraph

    inputs = stage_inputs(generate_community(seed=seed))
    graph = BondGraph().fit(inputs.members, inputs.interactions, inputs.follows)
    labels = InfomapClusters().fit(graph.matrix_).labels_
    assert normalized_mutual_info_score(inputs.community, labels) >= 0.9
    raw = InfomapClusters(weight_transform="none").fit(graph.matrix_).labels_
    assert normalized_mutual_info_score(inputs.community, raw) <= normalized_mutual_info_score(
        inputs.community, labels
    )


def test_directed_flow_without_modules_falls_back_to_undirected_flow():
    """An independent week (mixing 0.5, seed 33) on which every directed trial ends in one
    module: the undirected flow of the same bonds is used, since it compresses the flow."""
    from dwt.bench.independent.world import WorldConfig, generate_world
    from dwt.bench.truth import stage_inputs
    from dwt.stages.bonds import BondGraph
    from dwt.stages.cluster import silent_members

    dataset, plan = generate_world(WorldConfig(mixing=0.5, seed=33))
    inputs = stage_inputs(dataset)
    graph = BondGraph().fit(inputs.members, inputs.interactions, inputs.follows)
    silent = silent_members(inputs.members, inputs.interactions)
    model = InfomapClusters().fit(graph.matrix_, silent=silent)
    assert model.flow_model_ == "undirected"
    assert model.n_clusters_ >= len(set(plan.community)) // 2
    truth = dict(zip(plan.members, plan.community, strict=True))
    placed = model.labels_ != ISOLATED
    labels = [truth[m] for m in np.asarray(inputs.members)[placed]]
    assert normalized_mutual_info_score(labels, model.labels_[placed]) >= 0.75
    # A single tight group compresses no better split: one cluster, the directed flow.
    bonds, _ = planted([12], p_in=0.9)
    one = InfomapClusters().fit(bonds)
    assert one.n_clusters_ == 1 and one.flow_model_ == "directed"
