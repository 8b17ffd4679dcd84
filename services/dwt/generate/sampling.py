"""Vectorised sampling helpers shared by the generator's modules.

Everything here works on whole arrays so that a million tweets cost a few numpy passes:
weighted choice inside per-row index ranges (the workhorse for "pick a member of community
k" and "pick a recent tweet of that group"), pointer jumping (reply trees, topic
inheritance) and X-style snowflake ids.
"""

from __future__ import annotations

import numpy as np

#: X's snowflake epoch (2010-11-04T01:42:54.657Z), in Unix milliseconds.
TWITTER_EPOCH_MS = 1288834974657
_SEQUENCE_BITS = 22


def group_starts(groups: np.ndarray, n_groups: int) -> np.ndarray:
    """Start offsets (length ``n_groups + 1``) of each group in an array sorted by group."""
    counts = np.bincount(groups, minlength=n_groups)
    return np.concatenate(([0], np.cumsum(counts))).astype(np.int64)


def cumulative(weights: np.ndarray) -> np.ndarray:
    """Cumulative weights with a leading 0, the input of :func:`choose_in_ranges`."""
    return np.concatenate(([0.0], np.cumsum(weights, dtype=np.float64)))


def choose_in_ranges(
    rng: np.random.Generator, cum: np.ndarray, lo: np.ndarray, hi: np.ndarray
) -> np.ndarray:
    """One index per row in ``[lo, hi)``, with probability proportional to its weight.

    ``cum`` comes from :func:`cumulative`; weights must be positive. Rows whose range is
    empty get -1, so callers can fall back without a second pass.
    """
    lo = np.asarray(lo, dtype=np.int64)
    hi = np.asarray(hi, dtype=np.int64)
    a = cum[lo]
    b = cum[hi]
    x = a + rng.random(lo.shape[0]) * (b - a)
    idx = np.searchsorted(cum, x, side="right") - 1
    idx = np.clip(idx, lo, np.maximum(hi - 1, lo))
    return np.where(hi > lo, idx, -1)


def choose_in_groups(
    rng: np.random.Generator, cum: np.ndarray, starts: np.ndarray, groups: np.ndarray
) -> np.ndarray:
    """One item per row from group ``groups[i]`` (items sorted by group, see group_starts)."""
    return choose_in_ranges(rng, cum, starts[groups], starts[groups + 1])


def categorical(rng: np.random.Generator, probs: np.ndarray, size: int) -> np.ndarray:
    """``size`` draws from one categorical distribution (faster than ``rng.choice`` with p)."""
    cum = np.cumsum(probs / probs.sum())
    return np.minimum(np.searchsorted(cum, rng.random(size), side="right"), len(probs) - 1)


def categorical_rows(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """One draw per row of a (rows × categories) probability matrix."""
    cum = np.cumsum(probs, axis=1)
    cum /= cum[:, -1:]
    u = rng.random(probs.shape[0])
    return np.minimum((u[:, None] >= cum).sum(axis=1), probs.shape[1] - 1)


def other_group(rng: np.random.Generator, own: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """For each row a group different from ``own[i]``, drawn by ``weights``.

    A few rejection rounds, then the next group round-robin; with one group the own group
    is returned (there is no other).
    """
    n_groups = len(weights)
    if n_groups == 1:
        return own.copy()
    out = categorical(rng, weights, own.shape[0])
    for _ in range(4):
        clash = np.flatnonzero(out == own)
        if clash.size == 0:
            break
        out[clash] = categorical(rng, weights, clash.size)
    clash = out == own
    out[clash] = (own[clash] + 1) % n_groups
    return out


def resolve_pointers(parent: np.ndarray) -> np.ndarray:
    """Follow ``parent`` links to their fixed point (``parent[r] == r``) by pointer jumping.

    Takes log2(depth) passes, so deep reply chains cost no per-tweet loop.
    """
    root = parent.copy()
    while True:
        nxt = root[root]
        if np.array_equal(nxt, root):
            return root
        root = nxt


def snowflake_ids(ms: np.ndarray) -> np.ndarray:
    """X-style ids (``(ms - epoch) << 22 | sequence``): unique, increasing with time.

    Rows with equal milliseconds get consecutive sequence numbers in row order, so ids
    sorted numerically are sorted by (time, row).
    """
    ms = np.asarray(ms, dtype=np.int64)
    order = np.argsort(ms, kind="stable")
    sorted_ms = ms[order]
    n = sorted_ms.shape[0]
    positions = np.arange(n, dtype=np.int64)
    new_run = np.ones(n, dtype=bool)
    new_run[1:] = sorted_ms[1:] != sorted_ms[:-1]
    run_start = np.maximum.accumulate(np.where(new_run, positions, 0))
    sequence = positions - run_start
    if n and sequence.max() >= 1 << _SEQUENCE_BITS:
        raise ValueError("more than 4 million ids in one millisecond")
    if n and sorted_ms[0] < TWITTER_EPOCH_MS:
        raise ValueError("snowflake ids start in November 2010")
    ids = np.empty(n, dtype=np.int64)
    ids[order] = ((sorted_ms - TWITTER_EPOCH_MS) << _SEQUENCE_BITS) | sequence
    return ids
