"""Small helpers the stages share: Arrow ↔ numpy conversions, time buckets over a window,
run sums and the rank within (cluster, tier).

Conversations (:mod:`dwt.stages.content`) and topics (:mod:`dwt.stages.topics`) bucket the
same window the same way and rank their rows within the same groups; one copy keeps the
two from drifting apart (a tweet must fall in the same hour for both).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from scipy.stats import poisson


def ints(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """An Arrow integer column (without nulls) as an int64 numpy array."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    return values.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)


def seconds(times: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A timestamp column as float seconds since the epoch."""
    return pc.cast(times, pa.int64()).to_numpy() / 1000.0


def window_of(times: pa.Array | pa.ChunkedArray) -> tuple[datetime, datetime]:
    """The window ``[first, last + 1 ms)`` of a timestamp column; a 1 ms window at the
    epoch when it is empty (never an empty window: bucket counts stay >= 1)."""
    low, high = pc.min(times).as_py(), pc.max(times).as_py()
    if low is None:
        epoch = datetime.fromtimestamp(0).astimezone()
        return epoch, epoch + timedelta(milliseconds=1)
    return low, high + timedelta(milliseconds=1)


def time_buckets(
    times: pa.Array | pa.ChunkedArray, window: tuple[datetime, datetime], bucket: timedelta
) -> tuple[np.ndarray, int]:
    """Each time's bucket of ``bucket`` width from the window's start (times outside the
    window clipped to its first or last bucket), and the number of buckets (at least 1)."""
    start, end = window
    width = bucket.total_seconds()
    n_buckets = max(1, math.ceil((end - start).total_seconds() / width))
    offset = (seconds(times) - start.timestamp()) // width
    return np.clip(offset.astype(np.int64), 0, n_buckets - 1), n_buckets


def cumulative(per_bucket: np.ndarray) -> np.ndarray:
    """Row-wise cumulative sums with a leading 0 column: ``c[:, j] - c[:, i]`` is the sum
    of buckets ``i .. j - 1``."""
    zeros = np.zeros((per_bucket.shape[0], 1), per_bucket.dtype)
    return np.concatenate([zeros, per_bucket.cumsum(1)], 1)


def run_sums(per_bucket: np.ndarray, width: int) -> np.ndarray:
    """Sums over every run of ``width`` consecutive buckets: column s covers buckets
    ``s .. s + width - 1`` (``n_buckets - width + 1`` runs)."""
    cum = cumulative(per_bucket)
    return cum[:, width:] - cum[:, :-width]


def rank_within_tiers(table: pa.Table, order: Sequence[tuple[str, str]]) -> pa.Table:
    """``table`` sorted by cluster, tier, then ``order``, with ``rank`` (0 = first to show)
    counted within each (cluster, tier)."""
    ordered = table.sort_by([("cluster", "ascending"), ("tier", "ascending"), *order])
    groups = np.stack([ordered.column("cluster").to_numpy(), ordered.column("tier").to_numpy()], 1)
    new_group = np.ones(len(groups), dtype=bool)
    new_group[1:] = (groups[1:] != groups[:-1]).any(axis=1)
    position = np.arange(len(groups))
    start = np.maximum.accumulate(np.where(new_group, position, 0))
    return ordered.append_column("rank", pa.array(position - start, pa.int64()))


#: The highest tail score (decades of improbability); the Poisson tail underflows past ~300.
MAX_SCORE = 300.0


def poisson_score(count: np.ndarray, baseline: np.ndarray) -> np.ndarray:
    """-log10 P(X >= count) for X ~ Poisson(baseline): how unlikely a count is, the one
    test trending topics and trending conversations share."""
    tail = poisson.logsf(np.asarray(count) - 1, np.maximum(baseline, 1e-12))
    # Far out in the tail the log underflows to -inf: cap it (the store keeps JSON numbers).
    return np.clip(np.nan_to_num(-tail / math.log(10), posinf=MAX_SCORE), 0.0, MAX_SCORE)
