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
    assert one.structure_ == "none"


def _stale_week(mixing: float, seed: int):
    """An independent week's bonds with follow lists 12 weeks old, its silent mask and
    the planted community of each member (``None`` for the silent)."""
    from dwt.bench.follow_modes import WEEKLY_CHURN, mode_follows
    from dwt.bench.independent.world import WorldConfig, generate_world
    from dwt.bench.truth import stage_inputs
    from dwt.stages.bonds import BondGraph
    from dwt.stages.cluster import silent_members

    dataset, plan = generate_world(WorldConfig(members=400, mixing=mixing, seed=seed))
    inputs = stage_inputs(dataset)
    follows = mode_follows("stale_12w", inputs.follows, inputs.members, WEEKLY_CHURN, seed)
    graph = BondGraph().fit(inputs.members, inputs.interactions, follows)
    truth = dict(zip(plan.members, plan.community, strict=True))
    ids = inputs.members.to_pylist()
    planted = np.array([truth[m] for m in ids])
    speaking = ~np.isin(ids, plan.silent)
    return graph.matrix_, silent_members(inputs.members, inputs.interactions), planted, speaking


def test_one_module_on_a_modular_week_falls_back_to_significant_modularity():
    """Mixing 0.5, follow lists 12 weeks old (tuning seed 10): every Infomap trial, either
    flow, ends in one module; the bonds' modularity beats random graphs' by far more than
    the threshold, so Leiden's groups are reported and say which criterion found them."""
    bonds, silent, planted, speaking = _stale_week(0.5, 10)
    infomap_only = InfomapClusters(min_excess=None).fit(bonds, silent=silent)
    assert infomap_only.n_clusters_ == 1 and infomap_only.structure_ == "none"
    model = InfomapClusters().fit(bonds, silent=silent)
    assert model.structure_ == "modularity"
    assert model.modularity_excess_ >= 0.04
    assert model.n_clusters_ >= len(set(planted)) // 2
    assert normalized_mutual_info_score(planted[speaking], model.labels_[speaking]) >= 0.65
    # The labels are renumbered by size like Infomap's, and repeatable for a seed.
    sizes = np.bincount(model.labels_[model.labels_ != ISOLATED])
    assert sizes.tolist() == sorted(sizes, reverse=True)
    again = InfomapClusters().fit(bonds, silent=silent)
    assert again.labels_.tolist() == model.labels_.tolist()


def test_a_graph_without_groups_is_one_cluster_flagged_as_no_structure():
    """A random graph reaches modularity ~0.2 with many small groups, no more than its own
    null: nothing beats the threshold, the answer stays one cluster and says so."""
    rng = np.random.default_rng(0)
    mask = rng.random((300, 300)) < 0.05
    np.fill_diagonal(mask, False)
    model = InfomapClusters().fit(sp.csr_matrix(rng.uniform(1, 10, (300, 300)) * mask))
    assert model.n_clusters_ == 1 and model.structure_ == "none"
    assert model.modularity_excess_ < 0.01
    # A triangle: one group, whatever random graph is drawn (some have no edge left).
    triangle = InfomapClusters().fit(sp.csr_matrix(np.ones((3, 3)) - np.eye(3)))
    assert triangle.n_clusters_ == 1 and triangle.structure_ == "none"
    # Planted blocks are the map equation's: no fallback, no excess computed.
    bonds, _ = planted([40, 25, 15, 10])
    blocks = InfomapClusters(trials=5, seed=1).fit(bonds)
    assert blocks.structure_ == "map_equation" and blocks.modularity_excess_ is None


def test_null_graph_keeps_degrees_and_weights():
    """The null's edge ends are the graph's, shuffled: on a sparse graph each member keeps
    its degree and the weight stays, less the few self-loops and repeated pairs dropped."""
    from dwt.stages.cluster import null_graph

    bonds, _ = planted([150, 150], p_in=0.02, p_out=0.005, seed=2)
    sym = sp.triu(bonds + bonds.T, k=1).tocsr()
    null = null_graph(bonds, np.random.default_rng(0))
    assert null.diagonal().sum() == 0

    def degrees(m):
        return np.diff(sp.csr_matrix((m + m.T) > 0).indptr)

    assert (degrees(null) <= degrees(sym)).all()
    assert degrees(null).sum() >= 0.95 * degrees(sym).sum()
    assert 0.95 * sym.sum() <= null.sum() <= sym.sum() + 1e-9
    # Different draws, different graphs: a null, not a copy.
    other = null_graph(bonds, np.random.default_rng(1))
    assert (other != null).nnz > 0
    with pytest.raises(ValueError, match="min_excess"):
        InfomapClusters(min_excess=1.5).fit(bonds)


def test_spec_default_is_the_clustering_threshold():
    from dwt.pipeline.spec import Clustering
    from dwt.stages.cluster import MIN_MODULARITY_EXCESS

    assert Clustering().min_modularity_excess == MIN_MODULARITY_EXCESS
