"""Discovering the outsiders members interact with most."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from dwt.stages.discover import (
    CANDIDATES_SCHEMA,
    directed_pairs,
    discover_candidates,
    merge_candidates,
)
from dwt.store import INTERACTIONS_SCHEMA


def _week(rows):
    return pa.Table.from_pylist(
        [
            {
                "tweet_id": str(i),
                "author_id": a,
                "created_at": None,
                "conversation_id": None,
                "kind": k,
                "directed_at": d,
                "hashtags": [],
            }
            for i, (a, k, d) in enumerate(rows)
        ],
        schema=INTERACTIONS_SCHEMA,
    )


MEMBERS = ["m1", "m2", "m3"]


def test_ranked_by_interactions_then_breadth_then_id():
    week = _week(
        [
            ("m1", "reply", ["x"]),
            ("m1", "quote", ["x"]),
            ("m1", "tweet", ["x", "y"]),
            ("m2", "retweet", ["y"]),
            ("m3", "tweet", ["y", "m1"]),
            ("m1", "tweet", ["z"]),
            ("m1", "tweet", ["z"]),
            ("m1", "tweet", ["z"]),
            ("m2", "tweet", ["w"]),
        ]
    )
    got = discover_candidates(week, MEMBERS).to_pylist()
    assert got == [
        {"account_id": "y", "interactions": 3, "members": 3},
        {"account_id": "x", "interactions": 3, "members": 1},
        {"account_id": "z", "interactions": 3, "members": 1},
        {"account_id": "w", "interactions": 1, "members": 1},
    ]


def test_top_is_taken_after_sorting():
    # Many small outsiders first in the data, the biggest one last.
    rows = [("m1", "tweet", [f"o{i}"]) for i in range(40)] + [("m2", "reply", ["big"])] * 5
    got = discover_candidates(_week(rows), MEMBERS, top=30)
    assert got.num_rows == 30 and got.column("account_id")[0].as_py() == "big"


def test_members_muted_blocked_and_outsider_authors_are_not_proposed():
    week = _week(
        [
            ("m1", "reply", ["m2"]),
            ("m1", "reply", ["muted"]),
            ("m1", "reply", ["blocked"]),
            ("outsider", "reply", ["other"]),
            ("m2", "tweet", ["ok"]),
        ]
    )
    got = discover_candidates(week, MEMBERS, excluded=["muted", "blocked"])
    assert got.column("account_id").to_pylist() == ["ok"]


@pytest.mark.parametrize("rows", [[], [("m1", "tweet", [])]])
def test_empty_week_or_no_interactions(rows):
    got = discover_candidates(_week(rows), MEMBERS)
    assert got.num_rows == 0 and got.schema == CANDIDATES_SCHEMA


def test_everyone_excluded():
    week = _week([("m1", "reply", ["a"]), ("m2", "reply", ["b"])])
    assert discover_candidates(week, MEMBERS, excluded=["a", "b"]).num_rows == 0


def test_negative_top_is_refused():
    with pytest.raises(ValueError, match="top"):
        discover_candidates(_week([]), MEMBERS, top=-1)


def _reference(interactions, members, excluded, top):
    """The ranking by Arrow's group_by (the stage's earlier implementation)."""
    member_ids = pa.array(members, pa.string())
    pairs = directed_pairs(interactions)
    keep = pc.and_(
        pc.and_(
            pc.is_in(pairs.column("author_id"), value_set=member_ids),
            pc.invert(pc.is_in(pairs.column("target_id"), value_set=member_ids)),
        ),
        pc.invert(pc.is_in(pairs.column("target_id"), value_set=pa.array(excluded, pa.string()))),
    )
    pairs = pairs.filter(pc.and_(keep, pc.is_valid(pairs.column("target_id"))))
    ranked = (
        pairs.group_by("target_id")
        .aggregate([("tweet_id", "count"), ("author_id", "count_distinct")])
        .rename_columns(["account_id", "interactions", "members"])
        .sort_by(
            [("interactions", "descending"), ("members", "descending"), ("account_id", "ascending")]
        )
        .select(CANDIDATES_SCHEMA.names)
        .cast(CANDIDATES_SCHEMA)
    )
    return ranked if top is None else ranked.slice(0, top)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_same_ranking_as_a_group_by(seed):
    """Random weeks: repeated targets in a tweet, null targets, outsider authors, ties."""
    rng = np.random.default_rng(seed)
    members = [f"m{i}" for i in range(20)]
    accounts = [*members, *(f"o{i}" for i in range(40)), None]
    authors = [*members, "outsider"]
    rows = [
        (
            authors[rng.integers(len(authors))],
            "reply",
            [accounts[j] for j in rng.integers(0, len(accounts), rng.integers(0, 4))],
        )
        for _ in range(400)
    ]
    week = _week(rows)
    excluded = [f"o{i}" for i in range(0, 40, 9)]
    for top in (None, 30, 5, 0):
        got = discover_candidates(week, members, excluded, top)
        assert got.equals(_reference(week, members, excluded, top))
    assert not set(excluded) & set(
        discover_candidates(week, members, excluded, None)["account_id"].to_pylist()
    )


@pytest.mark.parametrize("shards", [1, 2, 3])
def test_author_shards_merged_rank_as_the_whole_week(shards):
    """Candidates found per shard of authors and merged are the whole week's, in order."""
    rng = np.random.default_rng(7)
    authors = [f"m{i}" for i in range(6)]
    outsiders = [f"o{i}" for i in range(12)]
    rows = [
        (str(a), str(rng.choice(["tweet", "reply", "quote"])), [str(t) for t in targets])
        for a, targets in zip(
            rng.choice(authors, 200),
            (rng.choice(outsiders + authors, 2) for _ in range(200)),
            strict=True,
        )
    ]
    week = _week(rows)
    excluded = ["o3"]
    whole = discover_candidates(week, authors, excluded, top=5)
    parts = [
        discover_candidates(week.filter(pc.is_in(week["author_id"], pa.array(group))), authors)
        for group in (authors[i::shards] for i in range(shards))
    ]
    assert merge_candidates(parts, excluded, top=5) == whole
    assert merge_candidates([], excluded, top=5).num_rows == 0
