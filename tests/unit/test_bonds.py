"""The bonds stage equals the plain rule of MISSION.md step 3 (raw weights, the ``seed``
preset), its normalised default keeps follows and interactions in balance, and it handles
edge cases."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pyarrow as pa
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from dwt.stages.bonds import (
    BondGraph,
    IndexedWeek,
    bond_matrix,
    bond_rows,
    shard_authors,
    shared_contacts,
    stack_rows,
)
from dwt.stages.cluster import InfomapClusters
from dwt.stages.weights import PRESETS, BondWeights
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
    for u in members:  # a mutual follow binds both ways
        for v in members:
            if u != v and u in followers[v] and v in followers[u]:
                bonds[u, v] += weights.follow
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
    st.builds(
        BondWeights,
        *[st.sampled_from([0.0, 0.01, 0.1, 1.0, 10.0, 100.0])] * 6,
        normalize=st.booleans(),
        follow_share=st.sampled_from([0.0, 0.3, 0.5, 1.0]),
        one_way=st.sampled_from([0.0, 0.5, 2.0]),
        embeddedness=st.sampled_from([0.0, 4.0]),
    ),
)


@settings(max_examples=300, deadline=None)
@given(weeks)
def test_bonds_equal_the_reference_rule(week):
    members, tweets, follows, weights = week
    weights = BondWeights(**{**weights.to_dict(), "normalize": False})  # the raw rule
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
def test_blocks_of_rows_stack_to_the_whole_bit_for_bit(week, shards):
    """Each block of rows computed from its own inputs (its members' pairs, the pairs aimed
    at them, the shared follow graph) stacks to the whole matrix, every value identical."""
    members, tweets, follows, weights = week
    interactions, follow_table = _tables(tweets, follows)
    indexed = IndexedWeek.from_tables(members, interactions, follow_table)
    whole = bond_matrix(indexed, weights)
    graph = indexed.follow_graph()
    blocks = [
        (rows, bond_rows(indexed.row_inputs(rows), graph, weights))
        for rows in shard_authors(len(members), shards)
    ]
    stacked = stack_rows(len(members), blocks)
    whole.sort_indices()
    stacked.sort_indices()
    assert np.array_equal(stacked.indptr, whole.indptr)
    assert np.array_equal(stacked.indices, whole.indices)
    assert np.array_equal(stacked.data, whole.data)  # not approximately: the same floats


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
    zero = BondWeights(0, 0, 0, 0, 0, 0)
    graph = _fit(
        ["a", "b"], [{"author_id": "a", "kind": "reply", "directed_at": ["b"]}], [("b", "a")], zero
    )
    assert graph.edges().num_rows == 0


def test_follow_listed_twice_counts_once():
    graph = _fit(
        ["a", "b"],
        [{"author_id": "a", "kind": "tweet", "directed_at": []}],
        [("b", "a"), ("b", "a")],
        PRESETS["seed"],
    )
    assert graph.edges().to_pylist() == [{"source_id": "a", "target_id": "b", "weight": 0.01}]


def test_duplicate_members_are_refused():
    with pytest.raises(ValueError, match="unique"):
        _fit(["a", "a"])


@pytest.mark.parametrize(
    "bad", [{"reply": -1}, {"quote": float("nan")}, {"likes": 2}, {"followShare": 1.5}]
)
def test_bad_weights_are_refused(bad):
    with pytest.raises(ValueError, match=r"weight|follow_share"):
        BondWeights.from_dict(bad)


def test_shards_cover_every_member_once():
    parts = shard_authors(10, 3)
    assert sorted(np.concatenate(parts).tolist()) == list(range(10))
    with pytest.raises(ValueError):
        shard_authors(10, 0)


# ---- the normalised default (issue 15) -------------------------------------------------------


def _row(graph, member):
    i = graph.members_.to_pylist().index(member)
    row = graph.matrix_.getrow(i).toarray().ravel()
    return dict(zip(graph.members_.to_pylist(), row, strict=True))


def test_presets_are_the_default_and_the_prototype():
    assert PRESETS["balanced"] == BondWeights()
    seed = PRESETS["seed"]
    assert (seed.tweet, seed.mention, seed.retweet, seed.quote, seed.reply) == (
        0.01, 0.1, 1.0, 10.0, 100.0,
    )  # fmt: skip
    assert not seed.normalize and seed.follow == 0


def test_neither_signal_drowns_the_other():
    """A hundred replies to b and one mutual follow with c: half of a's bonds each."""
    replies = [{"author_id": "a", "kind": "reply", "directed_at": ["b"]}] * 100
    graph = _fit(["a", "b", "c"], replies, [("a", "c"), ("c", "a")])
    row = _row(graph, "a")
    assert row["b"] == pytest.approx(0.5) and row["c"] == pytest.approx(0.5)
    seed = _fit(["a", "b", "c"], replies, [("a", "c"), ("c", "a")], PRESETS["seed"])
    row = _row(seed, "a")  # the prototype's weights: follows have almost no say
    assert row["c"] / row["b"] == pytest.approx(1e-4)


def test_kind_ratios_set_inside_the_interactions_leave_the_follows_their_share():
    """Default kinds count alike (weights.py's doc: the MISSION ratios were no better);
    the ratios, when set, weigh the interactions only: follows keep follow_share."""
    tweets = [{"author_id": "a", "kind": "reply", "directed_at": ["b"]}]
    tweets += [{"author_id": "a", "kind": "tweet", "directed_at": ["d"]}] * 10
    follows = [("a", "c"), ("c", "a")]
    flat = _row(_fit(["a", "b", "c", "d"], tweets, follows), "a")
    assert flat["b"] == pytest.approx(0.5 / 11) and flat["d"] == pytest.approx(0.5 * 10 / 11)
    mission = BondWeights(mention=0.1, retweet=1.0, quote=10.0, reply=100.0)
    row = _row(_fit(["a", "b", "c", "d"], tweets, follows, mission), "a")
    assert row["c"] == pytest.approx(0.5)  # the mutual follow: follow_share, whatever the kinds
    assert row["b"] / row["d"] == pytest.approx(100.0)  # one reply vs ten mentions at 0.1


def test_rows_sum_to_one_and_one_signal_is_kept_whole():
    tweets = [
        {"author_id": "a", "kind": "retweet", "directed_at": ["b"]},
        {"author_id": "a", "kind": "quote", "directed_at": ["c"]},
    ]
    follows = [("b", "d"), ("d", "b")]  # b and d follow each other; a follows nobody
    graph = _fit(["a", "b", "c", "d"], tweets, follows)
    sums = np.asarray(graph.matrix_.sum(axis=1)).ravel()
    assert sums == pytest.approx([1.0, 1.0, 1.0, 1.0])
    assert _row(graph, "a") == pytest.approx({"a": 0, "b": 0.5, "c": 0.5, "d": 0})
    # b: one interaction received (half) and one mutual follow (half).
    assert _row(graph, "b") == pytest.approx({"a": 0.5, "b": 0, "c": 0, "d": 0.5})
    assert _row(graph, "d") == pytest.approx({"a": 0, "b": 1.0, "c": 0, "d": 0})


def test_one_way_follows_without_shared_contacts_make_no_bond():
    """A one-way follow between members who share no contact (a random follow) binds
    nothing; a mutual follow binds by itself."""
    graph = _fit(["a", "b", "c"], [], [("a", "b"), ("c", "b"), ("b", "c")])
    assert _row(graph, "a") == pytest.approx({"a": 0, "b": 0, "c": 0})
    assert _row(graph, "b")["c"] == pytest.approx(1.0)


@pytest.mark.parametrize("share", [0.0, 0.25, 1.0])
def test_follow_share_sets_the_mix(share):
    tweets = [{"author_id": "a", "kind": "reply", "directed_at": ["b"]}]
    weights = BondWeights(follow_share=share)
    row = _row(_fit(["a", "b", "c"], tweets, [("a", "c"), ("c", "a")], weights), "a")
    assert row["c"] == pytest.approx(share) and row["b"] == pytest.approx(1 - share)


# ---- embeddedness: shared contacts and one-way follows (issue 15) ----------------------------


def _clique(names):
    return [(a, b) for a in names for b in names if a != b]


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 12), st.integers(1, 60))
def test_shared_contacts_is_the_jaccard_overlap_of_neighbourhoods(seed, n, budget):
    """Whatever the blocks (``budget``: two-hop paths per block, 1 = a row at a time)."""
    rng = np.random.default_rng(seed)
    dense = np.triu(rng.random((n, n)) < 0.4, 1)
    dense = (dense | dense.T).astype(float)
    rows = np.flatnonzero(rng.random(n) < 0.6)
    got = shared_contacts(sp.csr_matrix(dense), rows, budget=budget).toarray()
    expected = np.zeros((n, n))
    for u in rows:
        for v in np.flatnonzero(dense[u]):
            both = np.sum(dense[u] * dense[v])
            either = np.sum(np.maximum(dense[u], dense[v]))
            expected[u, v] = both / either
    assert got == pytest.approx(expected)


def test_shared_contacts_refuses_a_budget_below_one_and_takes_no_rows():
    contacts = sp.csr_matrix(np.array([[0, 1], [1, 0]], dtype=float))
    with pytest.raises(ValueError, match="budget"):
        shared_contacts(contacts, budget=0)
    assert shared_contacts(contacts, np.array([], dtype=np.int64)).nnz == 0
    # A pair with one contact each, the other: overlap 0 (they share no third member).
    assert shared_contacts(contacts).nnz == 0


def test_an_embedded_one_way_follow_binds_through_its_shared_contacts():
    """a follows b (not back); both are mutual with c and d: the follow counts, at
    one_way · embeddedness · J; with one_way 0 it does not."""
    follows = [("a", "b"), *_clique(["a", "c", "d"]), *_clique(["b", "c", "d"])]
    members = ["a", "b", "c", "d"]
    weights = BondWeights(follow_share=1.0)
    row = _row(_fit(members, [], follows, weights), "a")
    j_ab = j_ac = 2 / 4  # N(a)={b,c,d}, N(b)={a,c,d}, N(c)={a,b,d}: 2 shared of 4
    expected_b = 0.5 * 4 * j_ab
    expected_c = 1 + 4 * j_ac
    total = expected_b + 2 * expected_c
    assert row["b"] == pytest.approx(expected_b / total)
    assert row["c"] == pytest.approx(expected_c / total)
    off = _row(_fit(members, [], follows, BondWeights(follow_share=1.0, one_way=0.0)), "a")
    assert off["b"] == 0 and off["c"] == pytest.approx(0.5)


def test_interactions_with_shared_contacts_weigh_more():
    """One reply each to a group mate (shared contacts) and to a stranger: the group
    mate's bond is 1 + embeddedness · J times the stranger's; without embeddedness equal."""
    replies = [{"author_id": "a", "kind": "reply", "directed_at": [t]} for t in ("b", "x")]
    follows = _clique(["a", "b", "c"])
    members = ["a", "b", "c", "x"]
    row = _row(_fit(members, replies, follows, BondWeights(follow_share=0.0)), "a")
    assert row["b"] / row["x"] == pytest.approx(1 + 4 * (1 / 3))  # N(a)={b,c}, N(b)={a,c}
    flat = _row(_fit(members, replies, follows, BondWeights(follow_share=0.0, embeddedness=0)), "a")
    assert flat["b"] == pytest.approx(flat["x"])


def _two_groups_and_a_celebrity(groups: int):
    names = [[f"g{g}m{i}" for i in range(6)] for g in range(groups)]
    members = [m for group in names for m in group] + ["star"]
    follows = [f for group in names for f in _clique(group)]
    follows += [(m, "star") for group in names for m in group]  # everyone follows the star
    replies = [
        {"author_id": a, "kind": "reply", "directed_at": [b]}
        for group in names
        for a, b in zip(group, group[1:] + group[:1], strict=True)
    ]
    return names, members, replies, follows


def test_a_celebrity_followed_by_everyone_merges_no_clusters():
    names, members, replies, follows = _two_groups_and_a_celebrity(2)
    graph = _fit(members, replies, follows)
    row = _row(graph, "g0m0")
    assert row["star"] < min(row[m] for m in names[0][1:]) / 3  # far below a group mate
    labels = InfomapClusters().fit(graph.matrix_).labels_
    by_member = dict(zip(members, labels.tolist(), strict=True))
    assert len({by_member[m] for m in names[0]}) == 1
    assert len({by_member[m] for m in names[1]}) == 1
    assert by_member[names[0][0]] != by_member[names[1][0]]


def test_a_celebrity_gains_less_the_more_unrelated_members_follow_it():
    """The overlap with any one follower shrinks as the celebrity's following grows."""
    shares = []
    for groups in (2, 4, 8):
        _, members, replies, follows = _two_groups_and_a_celebrity(groups)
        shares.append(_row(_fit(members, replies, follows), "g0m0")["star"])
    assert shares[0] > shares[1] > shares[2] > 0
