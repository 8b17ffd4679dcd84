"""Cluster profiles and per-member bond stats."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import scipy.sparse as sp

from dwt.stages.summaries import (
    BOND_STATS_SCHEMA,
    PROFILES_SCHEMA,
    bond_stats,
    cluster_profiles,
    member_hashtags,
    outsider_partners,
)
from dwt.stages.weights import PRESETS
from dwt.store import INTERACTIONS_SCHEMA

MEMBERS = ["a", "b", "c", "d", "e"]
LABELS = np.array([0, 0, 1, 1, -1])
#           a    b    c    d    e
BONDS = sp.csr_matrix(
    np.array(
        [
            [0.0, 5.0, 1.0, 0.0, 0.0],  # a
            [2.0, 0.0, 0.0, 0.5, 0.0],  # b
            [0.0, 0.0, 0.0, 9.0, 0.0],  # c
            [0.0, 0.0, 3.0, 0.0, 0.0],  # d
            [0.0, 0.0, 0.0, 0.0, 0.0],  # e
        ]
    )
)


def _week(rows):
    return pa.Table.from_pylist(
        [
            {"tweet_id": str(i), "author_id": a, "kind": k, "directed_at": d, "hashtags": h}
            for i, (a, k, d, h) in enumerate(rows)
        ],
        schema=INTERACTIONS_SCHEMA,
    )


WEEK = _week(
    [
        ("a", "tweet", [], ["ai", "news"]),
        ("b", "tweet", [], ["ai", "llm"]),
        ("c", "reply", ["x"], ["cats", "news"]),
        ("c", "quote", ["y"], ["cats"]),
        ("d", "retweet", ["y"], ["news"]),
        ("c", "tweet", ["y"], []),
    ]
)


def test_profiles():
    flow = np.array([0.1, 0.3, 0.2, 0.2, 0.0])
    rows = {
        r["cluster"]: r
        for r in cluster_profiles(
            MEMBERS, LABELS, BONDS, flow, member_hashtags(MEMBERS, WEEK)
        ).to_pylist()
    }
    assert set(rows) == {-1, 0, 1}
    assert rows[0]["size"] == 2 and rows[0]["members"] == ["b", "a"]  # by flow
    assert rows[0]["internal_weight"] == 7.0
    assert rows[0]["external_weight"] == 1.5  # a→c and b→d
    assert rows[1]["internal_weight"] == 12.0 and rows[1]["external_weight"] == 1.5
    assert rows[1]["central"] == ["c", "d"]  # equal flow: member order
    # "news" is used by both clusters: each label leads with its own tag.
    assert rows[0]["hashtags"][0] == "ai" and rows[1]["hashtags"][0] == "cats"
    assert rows[0]["label"].startswith("#ai")
    assert rows[-1]["label"] == "no interactions this week"


def test_bond_stats_per_tier():
    stats = {
        r["account_id"]: r
        for r in bond_stats(MEMBERS, LABELS, BONDS, outsider_partners(MEMBERS, WEEK)).to_pylist()
    }
    assert (stats["a"]["tier1_partner"], stats["a"]["tier1_weight"]) == ("b", 7.0)
    assert (stats["a"]["tier2_partner"], stats["a"]["tier2_weight"]) == ("c", 1.0)
    assert stats["b"]["tier2_partner"] == "d"
    # Balanced weights count every kind alike: c replied to x once, quoted and mentioned y.
    assert (stats["c"]["tier3_partner"], stats["c"]["tier3_weight"]) == ("y", 2.0)
    # The seed's weights: a reply (100) outweighs a quote (10) and a mention (0.1).
    seed = bond_stats(
        MEMBERS, LABELS, BONDS, outsider_partners(MEMBERS, WEEK, PRESETS["seed"])
    ).to_pylist()
    assert (seed[2]["account_id"], seed[2]["tier3_partner"], seed[2]["tier3_weight"]) == (
        "c",
        "x",
        100.0,
    )
    assert (stats["d"]["tier3_partner"], stats["d"]["tier3_weight"]) == ("y", 1.0)
    assert stats["e"] == {"account_id": "e", **{f: None for f in BOND_STATS_SCHEMA.names[1:]}}


def test_empty_community():
    empty = _week([])
    assert (
        cluster_profiles(
            [], np.array([]), sp.csr_matrix((0, 0)), np.array([]), member_hashtags([], empty)
        ).num_rows
        == 0
    )
    outsiders = outsider_partners([], empty)
    assert bond_stats([], np.array([]), sp.csr_matrix((0, 0)), outsiders).num_rows == 0
    profiles = cluster_profiles(
        ["a"], np.array([-1]), sp.csr_matrix((1, 1)), np.zeros(1), member_hashtags(["a"], empty)
    )
    assert profiles.schema == PROFILES_SCHEMA and profiles.column("hashtags").to_pylist() == [[]]


def test_per_author_tables_of_shards_put_together_equal_the_whole():
    """Hashtag counts and outside partners found per shard of authors and concatenated give
    the profiles and bond stats of the whole week."""
    flow = np.array([0.1, 0.3, 0.2, 0.2, 0.0])
    shards = [["a", "c", "e"], ["b", "d"]]
    parts = [WEEK.filter(pa.compute.is_in(WEEK["author_id"], pa.array(s))) for s in shards]
    tags = pa.concat_tables([member_hashtags(MEMBERS, p) for p in parts])
    outsiders = pa.concat_tables([outsider_partners(MEMBERS, p) for p in parts])
    whole_tags, whole_out = member_hashtags(MEMBERS, WEEK), outsider_partners(MEMBERS, WEEK)
    assert cluster_profiles(MEMBERS, LABELS, BONDS, flow, tags) == cluster_profiles(
        MEMBERS, LABELS, BONDS, flow, whole_tags
    )
    assert bond_stats(MEMBERS, LABELS, BONDS, outsiders) == bond_stats(
        MEMBERS, LABELS, BONDS, whole_out
    )
