"""The bonds stage equals the plain rule of MISSION.md step 3, and handles edge cases."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pyarrow as pa
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from dwt.stages.bonds import BondGraph, IndexedWeek, bond_matrix, shard_authors
from dwt.stages.weights import BondWeights
from dwt.store import FOLLOWS_SCHEMA, INTERACTIONS_SCHEMA

KINDS = ["tweet", "retweet", "quote", "reply", None]


def reference_bonds(members, tweets, follows, weights: BondWeights) -> dict:
    """The rule as written, one tweet and one member at a time (obviously correct, slow)."""
    members = list(members)
    followers = defaultdict(set)
    for source, target in follows:
        followers[target].add(source)
    per_kind = weights.for_kind()
    bonds = defaultdict(float)
    for tweet in tweets:
        u = tweet["author_id"]
        if u not in members:
            continue
        for v in members:
            if v == u:
                continue
            if v in followers[u]:
                bonds[u, v] += weights.tweet
            if v in tweet["directed_at"]:
                bonds[u, v] += per_kind[tweet["kind"] or "tweet"]
    return {k: w for k, w in bonds.items() if w != 0}


def _tables(tweets, follows):
    rows = [
        {
            "tweet_id": str(i),
            "author_id": t["author_id"],
            "created_at": None,
            "conversation_id": None,
            "kind": t["kind"],
            "directed_at": t["directed_at"],
            "hashtags": [],
        }
        for i, t in enumerate(tweets)
    ]
    interactions = pa.Table.from_pylist(rows, schema=INTERACTIONS_SCHEMA)
    follow_table = pa.Table.from_pylist(
        [{"source_id": s, "target_id": t} for s, t in follows], schema=FOLLOWS_SCHEMA
    )
    return interactions, follow_table


accounts = st.sampled_from([f"a{i}" for i in range(8)])  # members and outsiders alike
weeks = st.tuples(
    st.lists(accounts, min_size=0, max_size=6, unique=True),  # members
    st.lists(
        st.fixed_dictionaries(
            {
                "author_id": accounts,
                "kind": st.sampled_from(KINDS),
                "directed_at": st.lists(accounts, max_size=4, unique=True),
            }
        ),
        max_size=30,
    ),
    st.lists(st.tuples(accounts, accounts), max_size=30),
    st.builds(BondWeights, *[st.sampled_from([0.0, 0.01, 0.1, 1.0, 10.0, 100.0])] * 5),
)


@settings(max_examples=300, deadline=None)
@given(weeks)
def test_bonds_equal_the_reference_rule(week):
    members, tweets, follows, weights = week
    # The normaliser never lists the author among the accounts a tweet is directed at.
    for t in tweets:
        t["directed_at"] = [a for a in t["directed_at"] if a != t["author_id"]]
    interactions, follow_table = _tables(tweets, follows)
    graph = BondGraph(weights).fit(members, interactions, follow_table)
    got = {(r["source_id"], r["target_id"]): r["weight"] for r in graph.edges().to_pylist()}
    expected = reference_bonds(members, tweets, follows, weights)
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        assert got[key] == pytest.approx(value)


@settings(max_examples=100, deadline=None)
@given(weeks, st.integers(1, 5))
def test_author_shards_sum_to_the_whole(week, shards):
    members, tweets, follows, weights = week
    interactions, follow_table = _tables(tweets, follows)
    indexed = IndexedWeek.from_tables(members, interactions, follow_table)
    whole = bond_matrix(indexed, weights)
    parts = [
        bond_matrix(indexed.select_authors(s), weights) for s in shard_authors(len(members), shards)
    ]
    summed = sum(parts, sp.csr_matrix(whole.shape))
    assert abs(summed - whole).sum() == pytest.approx(0, abs=1e-9)


def _fit(members, tweets=(), follows=(), weights=None):
    interactions, follow_table = _tables(list(tweets), list(follows))
    return BondGraph(weights).fit(members, interactions, follow_table)


def test_empty_week():
    graph = _fit(["a", "b"])
    assert graph.matrix_.nnz == 0 and graph.edges().num_rows == 0
    assert graph.activity_.tolist() == [0, 0]


def test_no_members():
    graph = _fit([], [{"author_id": "a", "kind": "reply", "directed_at": ["b"]}])
    assert graph.matrix_.shape == (0, 0) and graph.edges().num_rows == 0


def test_one_member_has_no_bonds_but_activity():
    graph = _fit(["a"], [{"author_id": "a", "kind": "tweet", "directed_at": []}] * 3, [("a", "a")])
    assert graph.matrix_.nnz == 0 and graph.activity_.tolist() == [3]


def test_zero_weights_give_no_edges():
    zero = BondWeights(0, 0, 0, 0, 0)
    graph = _fit(
        ["a", "b"], [{"author_id": "a", "kind": "reply", "directed_at": ["b"]}], [("b", "a")], zero
    )
    assert graph.edges().num_rows == 0


def test_follow_listed_twice_counts_once():
    graph = _fit(
        ["a", "b"],
        [{"author_id": "a", "kind": "tweet", "directed_at": []}],
        [("b", "a"), ("b", "a")],
    )
    assert graph.edges().to_pylist() == [{"source_id": "a", "target_id": "b", "weight": 0.01}]


def test_duplicate_members_are_refused():
    with pytest.raises(ValueError, match="unique"):
        _fit(["a", "a"])


@pytest.mark.parametrize("bad", [{"reply": -1}, {"quote": float("nan")}, {"likes": 2}])
def test_bad_weights_are_refused(bad):
    with pytest.raises(ValueError, match="weight"):
        BondWeights.from_dict(bad)


def test_shards_cover_every_member_once():
    parts = shard_authors(10, 3)
    assert sorted(np.concatenate(parts).tolist()) == list(range(10))
    with pytest.raises(ValueError):
        shard_authors(10, 0)
