"""The stage estimators follow scikit-learn's contract (issue 28): parameters stored as
given in ``__init__``, checked in ``fit``, ``get_params``/``set_params``, ``clone``."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import BaseEstimator, clone

from dwt.stages.bonds import BondGraph
from dwt.stages.cluster import InfomapClusters
from dwt.stages.content import ContentFinder
from dwt.stages.identity import ClusterMatcher
from dwt.stages.layout import MapLayout
from dwt.stages.topics import TopicFinder
from dwt.stages.weights import PRESETS

#: Each estimator with non-default parameters, and one parameter fit must refuse.
CASES = [
    (InfomapClusters(trials=3, seed=7, weight_transform="log1p"), {"trials": 0}),
    (ContentFinder(bucket=timedelta(minutes=30), trend_sigma=4.0), {"trend_span": 0}),
    (TopicFinder(span=2, max_p=1e-4, terms=False), {"max_p": 0.0}),
    (ClusterMatcher(similarity="overlap", min_share=0.3), {"similarity": "cosine"}),
    (MapLayout(seed=3, gap=0.5), {"scale": -1.0}),
    (BondGraph(PRESETS["seed"]), {"weights": "seed"}),
]


def _fit(estimator: BaseEstimator) -> BaseEstimator:
    """Fit each estimator on a tiny input of its kind."""
    import pyarrow as pa

    from dwt.store.store import INTERACTIONS_SCHEMA

    members = ["a", "b", "c"]
    if isinstance(estimator, InfomapClusters):
        return estimator.fit(sp.csr_matrix(np.ones((3, 3))))
    if isinstance(estimator, MapLayout):
        return estimator.fit(sp.csr_matrix(np.ones((3, 3))), np.zeros(3, int))
    if isinstance(estimator, ClusterMatcher):
        return estimator.fit(np.zeros(3, int), np.zeros(3, int))
    empty = INTERACTIONS_SCHEMA.empty_table()
    if isinstance(estimator, BondGraph):
        follows = pa.table({"source_id": ["a"], "target_id": ["b"]})
        return estimator.fit(members, empty, follows)
    return estimator.fit(empty, members, np.zeros(3, int))


@pytest.mark.parametrize(("estimator", "bad"), CASES, ids=[type(e).__name__ for e, _ in CASES])
def test_estimator_follows_the_sklearn_contract(estimator, bad):
    assert isinstance(estimator, BaseEstimator)
    params = estimator.get_params()
    copy = clone(estimator)  # clone checks every parameter comes back as it was given
    assert copy is not estimator and copy.get_params() == params
    assert type(copy)(**params).get_params() == params

    # Any parameter is accepted at construction and by set_params; fit refuses it.
    refused = clone(estimator).set_params(**bad)
    assert refused.get_params() == params | bad
    type(estimator)(**(params | bad))  # no error before fit
    with pytest.raises(ValueError):
        _fit(refused)

    fitted = _fit(clone(estimator))
    assert [k for k in vars(fitted) if k.endswith("_") and not k.startswith("_")]
    assert not [k for k in vars(clone(fitted)) if k.endswith("_") and not k.startswith("_")]
