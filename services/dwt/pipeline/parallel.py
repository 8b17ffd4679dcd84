"""Fan the vectorised stages out on Ray when a Ray runtime is up.

Bonds split cleanly by author: each shard's rows of the bond matrix depend only on that
shard's tweets (and the follow graph), so shards run as Ray tasks and their sparse
matrices are summed. Without Ray (or for one shard) the same functions run in-process.
"""

from __future__ import annotations

import functools

import numpy as np
import scipy.sparse as sp

from dwt.stages.bonds import IndexedWeek, bond_matrix, shard_authors
from dwt.stages.weights import BondWeights


def _shard_bonds(week: IndexedWeek, authors: np.ndarray, weights: BondWeights) -> sp.csr_matrix:
    return bond_matrix(week.select_authors(authors), weights)


@functools.cache
def _remote_shard_bonds():  # a Ray remote function, made on first use
    import ray

    return ray.remote(num_cpus=1)(_shard_bonds)


def ray_ready() -> bool:
    try:
        import ray
    except ImportError:  # pragma: no cover - ray is a dependency
        return False
    return ray.is_initialized()


def parallel_bond_matrix(week: IndexedWeek, weights: BondWeights, shards: int) -> sp.csr_matrix:
    """The bond matrix, computed in ``shards`` Ray tasks when Ray is initialised."""
    if shards <= 1 or not ray_ready() or week.n == 0:
        return bond_matrix(week, weights)
    import ray

    week_ref = ray.put(week)
    task = _remote_shard_bonds()
    parts = [task.remote(week_ref, authors, weights) for authors in shard_authors(week.n, shards)]
    total = sp.csr_matrix((week.n, week.n))
    for part in ray.get(parts):
        total = total + part
    return total.tocsr()
