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
            # Retweets join what they retweet: a reply's conversation, a quote's own.
            {"author_id": "b1", "tweet_id": "t1", "kind": "retweet", "referenced_id": "y", **no_id},
            {"author_id": "a2", "tweet_id": "t2", "kind": "retweet", "referenced_id": "q", **no_id},
            {
                "author_id": "a2",
                "tweet_id": "t3",
                "kind": "retweet",
                "referenced_id": "gone",
                **no_id,
            },
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
        "t1": "r",
        "t2": "q",
        "t3": "rt:gone",
        "o1": "thread:out",
        "o2": "thread:out",
    }


# A busy cluster: ten members, 150 ordinary conversations over the week (a tweet and 0-3
# replies within a few hours), plus a quiet second cluster.
BUSY = [f"p{i}" for i in range(10)] + ["q0", "q1"]
BUSY_LABELS = np.array([0] * 10 + [1] * 2)


def _busy_week(extra=(), seed=7):
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(150):
        start = T0 + timedelta(minutes=int(rng.integers(0, 7 * 24 * 60 - 600)))
        root = {"author_id": f"p{rng.integers(10)}", "tweet_id": f"bg{c}", "created_at": start}
        rows.append(root)
        for r in range(int(rng.integers(0, 4))):
            rows.append(
                {
                    "author_id": f"p{rng.integers(10)}",
                    "tweet_id": f"bg{c}r{r}",
                    "kind": "reply",
                    "referenced_id": f"bg{c}",
                    "conversation_id": f"bg{c}",
                    "directed_at": [root["author_id"]],
                    "created_at": start + timedelta(minutes=int(rng.integers(1, 300))),
                }
            )
    rows += [{"author_id": "q0", "created_at": T0 + timedelta(hours=h)} for h in range(5, 160, 9)]
    return sorted([*rows, *extra], key=lambda r: r["created_at"])


def _thread(root_id, start, replies, authors, every=timedelta(minutes=4), **extra):
    """A root and ``replies`` replies to it, one each ``every``, by ``authors`` in turn."""
    rows = [{"author_id": authors[0], "tweet_id": root_id, "created_at": start, **extra}]
    rows += [
        {
            "author_id": authors[(m + 1) % len(authors)],
            "tweet_id": f"{root_id}-{m}",
            "kind": "reply",
            "conversation_id": root_id,
            "referenced_id": root_id,
            "directed_at": [authors[0]],
            "created_at": start + every * (m + 1),
            **extra,
        }
        for m in range(replies)
    ]
    return rows


def _fit_busy(rows, **params):
    return ContentFinder(**params).fit(_week(rows), BUSY, BUSY_LABELS, window=WEEK)


def _trending(found):
    hot = found.conversations_.filter(found.conversations_["trending"])
    return hot.column("conversation_id").to_pylist()


def test_planted_fast_thread_in_a_busy_cluster_trends_and_ranks_first():
    burst = T0 + timedelta(days=4, minutes=10)
    authors = ["p1", "p2", "p3", "p4", "p5"]
    found = _fit_busy(_busy_week(_thread("hot", burst, 15, authors)))
    assert _trending(found) == ["hot"]
    first = found.conversations_.to_pylist()[0]
    assert (first["conversation_id"], first["rank"], first["size"]) == ("hot", 0, 16)
    trend = found.trends_.to_pylist()[0]  # trends_ follows conversations_' order
    assert trend["conversation_id"] == "hot" and trend["trending"]
    assert trend["count"] == 16 and trend["members"] == 5
    # Its fastest run (3 hourly buckets, the earliest of equals) covers the whole burst.
    assert (
        trend["run_start"]
        <= burst
        < burst + timedelta(hours=1)
        < trend["run_start"] + timedelta(hours=3)
    )
    # The baseline is the other conversations' fastest runs: a tweet or two, not the burst.
    assert 1.0 <= trend["baseline"] < 3.0 and trend["score"] > 6.5


def test_modest_conversation_in_a_busy_hour_does_not_trend():
    """The first cut's failure: a busy hour (lone tweets of the whole cluster) made any
    conversation with 5 tweets in it trend. Growth of 5 in an hour from 3 members is what
    the cluster's conversations do at their fastest now and then, busy hour or not."""
    busy = T0 + timedelta(days=2)
    lone = [
        {"author_id": f"p{m % 10}", "created_at": busy + timedelta(minutes=m)} for m in range(30)
    ]
    modest = _thread("modest", busy + timedelta(minutes=5), 4, ["p6", "p7", "p8"])
    found = _fit_busy(_busy_week([*lone, *modest]))
    assert _trending(found) == []
    trend = found.trends_.filter(pa.compute.equal(found.trends_["conversation_id"], "modest"))
    assert trend.column("count").to_pylist() == [5]
    assert trend.column("score")[0].as_py() < 6.5  # 5σ: -log10(norm.sf(5)) ≈ 6.5


def test_a_large_conversation_that_grows_slowly_does_not_trend():
    slow = _thread(
        "slow", T0 + timedelta(hours=2), 15, ["p1", "p2", "p3"], every=timedelta(hours=9)
    )
    found = _fit_busy(_busy_week(slow))
    assert _trending(found) == []
    first = found.conversations_.to_pylist()[0]
    assert (first["conversation_id"], first["size"]) == ("slow", 16)  # ranked by size


def test_a_fast_thread_needs_several_members():
    burst = T0 + timedelta(days=3)
    two = _fit_busy(_busy_week(_thread("duo", burst, 15, ["p1", "p2"])))
    assert _trending(two) == []
    three = _fit_busy(_busy_week(_thread("duo", burst, 15, ["p1", "p2", "p3"])))
    assert _trending(three) == ["duo"]
    assert (
        _trending(
            _fit_busy(_busy_week(_thread("duo", burst, 15, ["p1", "p2", "p3"])), trend_members=4)
        )
        == []
    )


def test_planted_burst_quotes_are_related():
    burst = T0 + timedelta(days=4, minutes=10)
    news = {"hashtags": ["news"]}
    rows = _thread("root", burst, 15, ["a2", "a1"], **news)
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
    rows += [{"author_id": "a1", "created_at": T0 + timedelta(hours=h)} for h in range(3, 160, 8)]
    found = _fit(sorted(rows, key=lambda r: r["created_at"]), trend_members=2)
    convs = found.conversations_.filter(pa.compute.equal(found.conversations_["cluster"], 0))
    assert _trending(found) == ["root"]
    # The quotes of the trending tweet are related to its conversation.
    related = {r["conversation_id"]: r["related"] for r in convs.to_pylist()}
    assert related["root"] >= 0 and related["q0"] == related["q1"] == related["root"]
    assert sum(r == related["root"] for r in related.values()) == 3


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
    "params",
    [
        {"bucket": timedelta(0)},
        {"trend_sigma": -1},
        {"trend_min": 0},
        {"trend_members": 0},
        {"trend_span": 0},
        {"eps": 0},
        {"min_samples": 0},
    ],
)
def test_bad_parameters(params):
    with pytest.raises(ValueError):
        ContentFinder(**params).fit(_week([]), MEMBERS, np.zeros(len(MEMBERS), int))
