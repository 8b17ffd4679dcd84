"""The oracle (issue 27): community detection on the true relation graph, and the ratios
the bench reports beside every NMI."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from dwt.bench.independent.grid import oracle_by_mixing, vs_oracle_by_mixing
from dwt.bench.independent.score import BurstCounts, RunScore
from dwt.bench.oracle import oracle_scores, ratio, relation_matrix


def _blocks(sizes, p_in=0.5, p_out=0.02, seed=0):
    rng = np.random.default_rng(seed)
    truth = np.repeat(np.arange(len(sizes)), sizes)
    n = len(truth)
    i, j = np.triu_indices(n, 1)
    p = np.where(truth[i] == truth[j], p_in, p_out)
    keep = rng.random(len(i)) < p
    return truth, np.c_[i[keep], j[keep]]


def test_both_methods_find_clear_blocks_and_fail_on_noise():
    truth, pairs = _blocks([30, 25, 20])
    clear = oracle_scores(truth, pairs)
    assert clear.infomap == 1.0 and clear.leiden == 1.0
    # A graph that says nothing about the truth: neither method can recover it.
    noise_truth = np.random.default_rng(1).integers(0, 3, len(truth))
    noise = oracle_scores(noise_truth, pairs)
    assert max(noise.infomap, noise.leiden) < 0.2


def test_only_counted_members_are_scored():
    truth, pairs = _blocks([20, 20])
    wrong = truth.copy()
    wrong[:5] = 1  # five members the relation graph places in block 0
    counted = np.ones(len(truth), bool)
    assert oracle_scores(wrong, pairs).infomap < 1.0
    counted[:5] = False
    assert oracle_scores(wrong, pairs, counted).infomap == 1.0
    with pytest.raises(ValueError, match="counted"):
        oracle_scores(truth, pairs, counted[:3])


def test_relation_matrix_is_symmetric_with_unit_weights():
    matrix = relation_matrix(3, [[0, 1], [1, 0], [1, 2]])
    assert (matrix != matrix.T).nnz == 0 and set(matrix.data) == {1.0}
    with pytest.raises(ValueError, match="index"):
        relation_matrix(2, [[0, 2]])


def test_ratio_and_the_summary_give_mean_and_worst_seed():
    assert ratio(0.9, 1.0) == 0.9 and ratio(0.9, 0.0) is None and ratio(None, 1.0) is None
    row = RunScore(
        mixing=0.35, realised_mixing=0.36, noise=0.3, activity=20.0, seed=1, nmi=0.9,
        nmi_all=0.9, clusters=5, planted=5, singletons=0, singleton_silent=0, silent=0,
        isolated=0, threads=BurstCounts(), topics=None, ari=None, ari_without_ids=None,
        oracle_infomap=1.0, oracle_leiden=0.95, nmi_vs_oracle=0.9, nmi_vs_leiden=0.9474,
    )  # fmt: skip
    rows = [row, replace(row, seed=2, nmi=1.0, nmi_vs_oracle=1.0, oracle_leiden=1.0)]
    assert vs_oracle_by_mixing(rows) == {"0.35": {"mean": 0.95, "worst": 0.9}}
    assert oracle_by_mixing(rows) == {"0.35": {"infomap": 1.0, "leiden": 0.975}}
