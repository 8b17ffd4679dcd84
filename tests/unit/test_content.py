"""The content stage: tiers, conversations, trends, related groups, ranking."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pytest

from dwt.stages.content import CONVERSATIONS_SCHEMA, ContentFinder
from dwt.store import INTERACTIONS_SCHEMA

T0 = datetime(2026, 11, 22, tzinfo=UTC)
WEEK = (T0, T0 + timedelta(days=7))
MEMBERS = ["a1", "a2", "b1", "b2", "lone"]
LABELS = np.array([0, 0, 1, 1, -1])


def _week(rows):
    out = []
    for i, row in enumerate(rows):
        base = {
            "tweet_id": f"{i:04d}",
            "kind": "tweet",
            "directed_at": [],
            "hashtags": [],
            "created_at": T0 + timedelta(hours=i),
            "engagement": 0,
            "referenced_id": None,
        }
        row = base | row
        row.setdefault("conversation_id", row["tweet_id"])
        out.append(row)
    return pa.Table.from_pylist(out, schema=INTERACTIONS_SCHEMA)


def _fit(rows, **params):
    return ContentFinder(**params).fit(_week(rows), MEMBERS, LABELS, window=WEEK)


def test_tiers():
    found = _fit(
        [
            {"author_id": "a1"},  # nobody: 1
            {"author_id": "a1", "directed_at": ["a2"]},  # same cluster: 1
            {"author_id": "a1", "directed_at": ["a2", "b1"]},  # other cluster: 2
            {"author_id": "b1", "directed_at": ["a1", "stranger"]},  # outsider wins: 3
            {"author_id": "lone", "directed_at": ["lone2"]},  # isolated member, outsider: 3
            {"author_id": "stranger", "directed_at": ["a1"]},  # not a member: dropped
        ]
    )
    assert found.tweets_.column("tier").to_pylist() == [1, 1, 2, 3, 3]
    assert found.tweets_.column("cluster").to_pylist() == [0, 0, 0, 1, -1]


def test_conversations_group_replies_and_retweets():
    found = _fit(
        [
            {"author_id": "a1", "tweet_id": "r"},
            {
                "author_id": "a2",
                "kind": "reply",
                "conversation_id": "r",
                "referenced_id": "r",
                "directed_at": ["a1"],
            },
            {
                "author_id": "a2",
                "kind": "retweet",
                "conversation_id": "rt1",
                "referenced_id": "r",
                "directed_at": ["a1"],
            },
            # Retweets of a tweet that is not in the week group together.
            {
                "author_id": "a1",
                "kind": "retweet",
                "conversation_id": "x1",
                "referenced_id": "ext",
                "directed_at": ["out"],
            },
            {
                "author_id": "a1",
                "kind": "retweet",
                "conversation_id": "x2",
                "referenced_id": "ext",
                "directed_at": ["out"],
            },
        ],
        related_top=0,
    )
    rows = {(r["tier"], r["conversation_id"]): r for r in found.conversations_.to_pylist()}
    assert rows[1, "r"]["size"] == 3 and rows[1, "r"]["participants"] == 2
    assert rows[1, "r"]["tweet_ids"] == ["r", "0001", "0002"]
    assert rows[3, "rt:ext"]["size"] == 2


def test_tweets_without_conversation_ids_are_grouped_by_similarity():
    # Tweets fetched with no fields: neither conversation nor kind is known.
    tag = {"hashtags": ["ai"], "directed_at": ["a2"], "conversation_id": None, "kind": None}
    found = _fit(
        [
            {"author_id": "a1", **tag, "created_at": T0},
            {"author_id": "a1", **tag, "created_at": T0 + timedelta(minutes=5)},
            {"author_id": "a1", **tag, "created_at": T0 + timedelta(minutes=9)},
            {
                "author_id": "b1",
                "conversation_id": None,
                "kind": None,
                "hashtags": ["cats"],
                "created_at": T0 + timedelta(days=3),
            },
        ]
    )
    conv = found.tweets_.column("conversation_id").to_pylist()
    assert conv[0] == conv[1] == conv[2] and conv[0].startswith("near:0:")
    assert conv[3] == "tweet:0003"


def test_missing_conversation_ids_follow_reply_chains():
    no_id = {"conversation_id": None}
    found = _fit(
        [
            {"author_id": "a1", "tweet_id": "r", **no_id},
            {"author_id": "a2", "tweet_id": "x", "kind": "reply", "referenced_id": "r", **no_id},
            {"author_id": "a1", "tweet_id": "y", "kind": "reply", "referenced_id": "x", **no_id},
            {"author_id": "a2", "tweet_id": "z", "kind": "reply", "referenced_id": "y", **no_id},
            {"author_id": "a1", "tweet_id": "q", "kind": "quote", "referenced_id": "r", **no_id},
            {"author_id": "a2", "tweet_id": "o1", "kind": "reply", "referenced_id": "out", **no_id},
            {"author_id": "a1", "tweet_id": "o2", "kind": "reply", "referenced_id": "out", **no_id},
        ],
        related_top=0,
    )
    conv = dict(
        zip(
            found.tweets_.column("tweet_id").to_pylist(),
            found.tweets_.column("conversation_id").to_pylist(),
            strict=True,
        )
    )
    assert conv == {
        "r": "r",
        "x": "r",
        "y": "r",
        "z": "r",
        "q": "q",
        "o1": "thread:out",
        "o2": "thread:out",
    }


def test_planted_burst_is_trending_and_ranked_first():
    # A quiet week of lone tweets, then one tweet that draws 7 replies and 2 quotes in an hour.
    rows = [{"author_id": "a1", "created_at": T0 + timedelta(hours=h)} for h in range(3, 160, 8)]
    burst = T0 + timedelta(days=4, minutes=10)
    news = {"hashtags": ["news"]}
    rows.append({"author_id": "a2", "tweet_id": "root", "created_at": burst, **news})
    rows += [
        {
            "author_id": ("a1", "a2")[m % 2],
            "kind": "reply",
            "conversation_id": "root",
            "referenced_id": "root",
            "directed_at": ["a2"] if m % 2 == 0 else [],
            "created_at": burst + timedelta(minutes=5 * m + 1),
            **news,
        }
        for m in range(7)
    ]
    rows += [
        {
            "author_id": "a1",
            "kind": "quote",
            "referenced_id": "root",
            "directed_at": ["a2"],
            "tweet_id": f"q{m}",
            "created_at": burst + timedelta(minutes=40 + m),
            **news,
        }
        for m in range(2)
    ]
    found = _fit(rows)
    convs = found.conversations_.filter(pa.compute.equal(found.conversations_["cluster"], 0))
    trending = convs.filter(convs["trending"])
    assert trending.column("conversation_id").to_pylist() == ["root"]
    first = convs.to_pylist()[0]
    assert (first["conversation_id"], first["rank"], first["size"]) == ("root", 0, 8)
    hot = found.buckets_.filter(found.buckets_["hot"]).to_pylist()
    assert [(b["cluster"], b["tier"], b["bucket_start"], b["tweets"]) for b in hot] == [
        (0, 1, T0 + timedelta(days=4), 10)
    ]
    # The quotes of the trending tweet are related to its conversation.
    related = {r["conversation_id"]: r["related"] for r in convs.to_pylist()}
    assert related["root"] >= 0 and related["q0"] == related["q1"] == related["root"]
    assert sum(r == related["root"] for r in related.values()) == 3


def test_one_tweet_in_a_busy_hour_is_not_a_trend():
    rows = [{"author_id": "a1", "created_at": T0 + timedelta(hours=h)} for h in range(3, 160, 8)]
    rows += [{"author_id": "a2", "created_at": T0 + timedelta(days=2, minutes=m)} for m in range(9)]
    found = _fit(rows)
    assert found.buckets_.filter(found.buckets_["hot"]).num_rows == 1  # the hour is hot...
    assert not any(found.conversations_.column("trending").to_pylist())  # ...no conversation


def test_quiet_week_has_no_trend():
    rows = [{"author_id": "a1", "created_at": T0 + timedelta(hours=h)} for h in range(0, 160, 12)]
    assert not any(_fit(rows).conversations_.column("trending").to_pylist())


def test_rank_orders_by_size_then_engagement():
    found = _fit(
        [
            {"author_id": "b1", "engagement": 5},
            {"author_id": "b1", "engagement": 50},
            {"author_id": "b2", "tweet_id": "root"},
            {"author_id": "b1", "conversation_id": "root", "kind": "reply", "directed_at": ["b2"]},
        ],
        trend_min=100,
    )
    ranked = [(r["conversation_id"], r["rank"]) for r in found.conversations_.to_pylist()]
    assert ranked == [("root", 0), ("0001", 1), ("0000", 2)]


@pytest.mark.parametrize("rows", [[], [{"author_id": "stranger"}]])
def test_empty_week(rows):
    found = _fit(rows)
    assert found.tweets_.num_rows == 0
    assert found.conversations_.num_rows == 0
    assert found.conversations_.schema.names == CONVERSATIONS_SCHEMA.names


def test_one_member_without_interactions():
    found = ContentFinder().fit(
        _week([{"author_id": "solo"}, {"author_id": "solo"}]),
        ["solo"],
        np.array([-1]),
        window=WEEK,
    )
    assert found.tweets_.column("tier").to_pylist() == [1, 1]
    assert found.conversations_.num_rows == 2


def test_labels_must_match_members():
    with pytest.raises(ValueError, match="one entry per member"):
        ContentFinder().fit(_week([]), MEMBERS, np.array([0]))


@pytest.mark.parametrize(
    "params", [{"bucket": timedelta(0)}, {"trend_sigma": -1}, {"eps": 0}, {"min_samples": 0}]
)
def test_bad_parameters(params):
    with pytest.raises(ValueError):
        ContentFinder(**params)
