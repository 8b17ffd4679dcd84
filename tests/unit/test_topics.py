"""The topics stage: standalone tweets grouped by hashtag, term or URL; bursts against each
topic's own baseline, with the tweets that make them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pytest

from dwt.stages.topics import TOPICS_SCHEMA, TopicFinder
from dwt.store import INTERACTIONS_SCHEMA

T0 = datetime(2026, 11, 22, tzinfo=UTC)
WEEK = (T0, T0 + timedelta(days=7))
CLUSTER_A = [f"a{i}" for i in range(12)]
CLUSTER_B = [f"b{i}" for i in range(12)]
MEMBERS = CLUSTER_A + CLUSTER_B
LABELS = np.array([0] * 12 + [1] * 12)
SCHEMA = INTERACTIONS_SCHEMA.append(pa.field("text", pa.string())).append(
    pa.field("urls", pa.list_(pa.string()))
)
FILLER = ["garden", "river", "coffee", "morning", "window", "bicycle", "letter", "market"]


def _table(rows: list[dict]) -> pa.Table:
    out = []
    for i, row in enumerate(rows):
        base = {
            "tweet_id": f"t{i:05d}",
            "kind": "tweet",
            "directed_at": [],
            "hashtags": [],
            "engagement": 0,
            "referenced_id": None,
            "urls": None,
        }
        row = base | row
        row.setdefault("conversation_id", row["tweet_id"])
        out.append(row)
    return pa.Table.from_pylist(out, schema=SCHEMA)


def _background(seed: int = 0, per_hour: int = 3) -> list[dict]:
    """A week of ordinary tweets in both clusters, with a daily rhythm, and one topic
    (#steady, the word "weather") that both clusters use every day."""
    rng = np.random.default_rng(seed)
    rows = []
    for hour in range(7 * 24):
        busy = 2 if 12 <= hour % 24 <= 18 else 1  # busier afternoons
        for _ in range(per_hour * busy):
            cluster = CLUSTER_A if rng.random() < 0.5 else CLUSTER_B
            author = cluster[rng.integers(len(cluster))]
            words = list(rng.choice(FILLER, 3, replace=False))
            tags = []
            if rng.random() < 0.3:
                tags = ["steady"]
                words.append("#steady")
            if rng.random() < 0.3:
                words.append("weather")
            rows.append(
                {
                    "author_id": author,
                    "created_at": T0 + timedelta(hours=hour, minutes=int(rng.integers(60))),
                    "text": " ".join(words),
                    "hashtags": tags,
                }
            )
    return rows


def _burst(topic_text: str, hashtags: list[str], start_hour: float, tweets: int = 14) -> list:
    """``tweets`` standalone tweets by 9 members of cluster A within two hours."""
    return [
        {
            "author_id": CLUSTER_A[i % 9],
            "created_at": T0 + timedelta(hours=start_hour, minutes=8 * i),
            "text": f"{FILLER[i % len(FILLER)]} {topic_text}",
            "hashtags": hashtags,
        }
        for i in range(tweets)
    ]


def _fit(rows: list[dict], **params) -> pa.Table:
    rows = sorted(rows, key=lambda r: r["created_at"])
    return TopicFinder(**params).fit(_table(rows), MEMBERS, LABELS, window=WEEK).topics_


def _trending(topics: pa.Table) -> list[tuple[int, int, str]]:
    hot = topics.filter(topics.column("trending"))
    return sorted(
        zip(
            hot.column("cluster").to_pylist(),
            hot.column("tier").to_pylist(),
            hot.column("topic").to_pylist(),
            strict=True,
        )
    )


def test_planted_hashtag_burst_is_found_with_its_tweets():
    rows = _background() + _burst("#launchday is here", ["launchday"], start_hour=100)
    topics = _fit(rows)
    assert topics.schema == TOPICS_SCHEMA
    assert _trending(topics) == [(0, 1, "#launchday")]
    row = topics.filter(topics.column("trending")).to_pylist()[0]
    assert row["kind"] == "hashtag" and row["rank"] == 0
    assert row["count"] == 14 and row["members"] == 9
    assert row["baseline"] < 1.0 and row["score"] > 6
    ids = _table(sorted(rows, key=lambda r: r["created_at"]))
    burst_ids = set(
        ids.filter(pa.compute.equal(ids.column("text"), ids.column("text")))
        .filter(pa.compute.match_substring(ids.column("text"), "#launchday"))
        .column("tweet_id")
        .to_pylist()
    )
    assert set(row["tweet_ids"]) == burst_ids and len(burst_ids) == 14
    assert row["first_at"] == T0 + timedelta(hours=100)
    assert row["last_at"] == T0 + timedelta(hours=100, minutes=8 * 13)


def test_term_and_url_bursts():
    url = "https://news.example.org/big-story"
    rows = (
        _background(seed=1)
        + _burst("quasarfest", [], start_hour=40)
        + _burst(f"read {url}.", [], start_hour=130)
    )
    topics = _fit(rows)
    assert _trending(topics) == [(0, 1, url), (0, 1, "quasarfest")]
    kinds = dict(
        zip(topics.column("topic").to_pylist(), topics.column("kind").to_pylist(), strict=True)
    )
    assert kinds["quasarfest"] == "term" and kinds[url] == "url"
    # "read" bursts with the link, on the same tweets: folded into the link's row.
    also = dict(
        zip(topics.column("topic").to_pylist(), topics.column("also").to_pylist(), strict=True)
    )
    assert also[url] == ["read"] and also["quasarfest"] == []


def test_stored_expanded_url_wins_over_the_text():
    rows = _background(seed=2) + [
        r | {"urls": ["https://example.org/expanded"]}
        for r in _burst("look https://t.co/abc", [], start_hour=50)
    ]
    assert _trending(_fit(rows)) == [(0, 1, "https://example.org/expanded")]


def test_topic_steady_all_week_does_not_trend():
    topics = _fit(_background(seed=3, per_hour=4))
    assert _trending(topics) == []
    steady = topics.filter(pa.compute.equal(topics.column("topic"), "#steady")).to_pylist()
    assert {r["cluster"] for r in steady} == {0, 1}  # still shown, as a top topic
    assert all(r["baseline"] > 1 for r in steady)


def test_daily_peak_of_a_steady_topic_is_not_a_burst():
    """A topic that follows its cluster's daily rhythm (much busier afternoons) is as
    common as ever relative to the cluster's traffic: no trend."""
    rows = []
    for day in range(7):
        for i in range(16):  # 16 tweets at 14:00-16:00, all tagged, 8 authors
            rows.append(
                {
                    "author_id": CLUSTER_A[i % 8],
                    "created_at": T0 + timedelta(days=day, hours=14, minutes=7 * i),
                    "text": "#rhythm daily",
                    "hashtags": ["rhythm"],
                }
            )
    assert _trending(_fit(rows)) == []


def test_retweets_and_replies_are_excluded():
    burst = _burst("#launchday", ["launchday"], start_hour=100)
    as_replies = [
        r | {"kind": "reply", "referenced_id": "x", "directed_at": [CLUSTER_A[0]]} for r in burst
    ]
    as_retweets = [r | {"kind": "retweet", "referenced_id": "x"} for r in burst]
    topics = _fit(_background(seed=4) + as_replies + as_retweets)
    assert "#launchday" not in topics.column("topic").to_pylist()
    as_quotes = [r | {"kind": "quote", "referenced_id": "x"} for r in burst]
    assert _trending(_fit(_background(seed=4) + as_quotes)) == [(0, 1, "#launchday")]


def test_too_few_authors_is_not_a_burst():
    one_author = [r | {"author_id": "a0"} for r in _burst("#spam", ["spam"], start_hour=60)]
    topics = _fit(_background(seed=5) + one_author)
    assert _trending(topics) == []
    row = topics.filter(pa.compute.equal(topics.column("topic"), "#spam")).to_pylist()[0]
    assert row["members"] == 1 and not row["trending"]


def test_burst_within_tier_and_cluster():
    """Tweets mentioning an outsider are tier 3; the burst is in (cluster 0, tier 3)."""
    burst = [r | {"directed_at": ["outsider"]} for r in _burst("#ask", ["ask"], start_hour=30)]
    assert _trending(_fit(_background(seed=6) + burst)) == [(0, 3, "#ask")]


def test_history_raises_the_baseline():
    """A topic that was as common in the previous weeks is not new: no burst."""
    rows = _background(seed=7) + _burst("#weekly", ["weekly"], start_hour=80)
    table = _table(sorted(rows, key=lambda r: r["created_at"]))
    assert _trending(TopicFinder().fit(table, MEMBERS, LABELS, window=WEEK).topics_) == [
        (0, 1, "#weekly")
    ]
    earlier = [
        r | {"created_at": r["created_at"] - timedelta(days=7 * w, hours=h)}
        for w in (1, 2)
        for h in range(0, 168, 6)
        for r in _burst("#weekly", ["weekly"], start_hour=80, tweets=3)
    ]
    history = _table(sorted(earlier, key=lambda r: r["created_at"]))
    found = TopicFinder().fit(table, MEMBERS, LABELS, window=WEEK, history=history).topics_
    row = found.filter(pa.compute.equal(found.column("topic"), "#weekly")).to_pylist()[0]
    assert not row["trending"] and row["baseline"] > 2


def test_hashtags_only_without_text():
    rows = _background(seed=8) + _burst("#launchday", ["launchday"], start_hour=100)
    table = _table(sorted(rows, key=lambda r: r["created_at"])).drop_columns(["text", "urls"])
    found = TopicFinder().fit(table, MEMBERS, LABELS, window=WEEK).topics_
    assert set(found.column("kind").to_pylist()) == {"hashtag"}
    assert _trending(found) == [(0, 1, "#launchday")]


def test_deterministic():
    rows = _background(seed=9) + _burst("#launchday", ["launchday"], start_hour=100)
    table = _table(sorted(rows, key=lambda r: r["created_at"]))
    shuffled = table.take(np.random.default_rng(0).permutation(table.num_rows))
    first = TopicFinder().fit(table, MEMBERS, LABELS, window=WEEK).topics_
    assert first.equals(TopicFinder().fit(shuffled, MEMBERS, LABELS, window=WEEK).topics_)


def test_empty_and_non_member_weeks():
    assert _fit([]).num_rows == 0
    strangers = [r | {"author_id": "stranger"} for r in _burst("#x", ["x"], start_hour=3)]
    assert _fit(strangers).num_rows == 0


def test_labels_must_match_members():
    with pytest.raises(ValueError, match="one entry per member"):
        TopicFinder().fit(_table([]), MEMBERS, LABELS[:3])


@pytest.mark.parametrize(
    "params",
    [
        {"bucket": timedelta(0)},
        {"span": 0},
        {"min_count": 0},
        {"min_members": 0},
        {"min_ratio": 0.5},
        {"max_p": 0},
        {"top": -1},
    ],
)
def test_bad_parameters(params):
    with pytest.raises(ValueError):
        TopicFinder(**params).fit(_table([]), MEMBERS, LABELS)


# ---- the content step: what the store holds after a run --------------------------------------


@pytest.fixture
def generated(store):
    """A small generated week (two planted topic bursts) written as collection writes it,
    plus a burst of tweets whose link is only in ``entities.urls`` (t.co in the text)."""
    from dwt.bench.load import load_week
    from dwt.generate import generate_community
    from dwt.model.fields import TWEET_FIELDS

    dataset = generate_community(
        members=60, communities=2, seed=4, tweets_per_member=8, bursts=1, topic_bursts=2
    )
    load_week(store, dataset, "gen")
    members = [u for u in dataset.users.to_pylist() if u["is_member"] and u["community"] == 0]
    start = dataset.now - timedelta(days=2)
    tweets = [
        {
            "id": f"9{i:05d}",
            "author_id": members[i % 12]["id"],
            "created_at": (start + timedelta(minutes=5 * i)).isoformat().replace("+00:00", "Z"),
            "text": f"worth a read https://t.co/ab{i}",
            "conversation_id": f"9{i:05d}",
            "entities": {
                "urls": [
                    {
                        "start": 13,
                        "end": 30,
                        "url": f"https://t.co/ab{i}",
                        "expanded_url": "https://example.org/story",
                    }
                ]
            },
        }
        for i in range(15)
    ]
    store.put_tweets({"data": tweets}, TWEET_FIELDS, set())
    return store, dataset


@pytest.mark.both_stores
def test_content_step_writes_trending_topics(generated):
    from dwt.pipeline.progress import Progress
    from dwt.pipeline.runner import run_pipeline
    from dwt.pipeline.spec import RunSpec
    from dwt.store import Coll

    store, dataset = generated
    result = run_pipeline(
        store,
        RunSpec(community="gen", steps=["bonds", "cluster", "content"]),
        now=dataset.now,
        run_id="r1",
        progress=Progress(store, "r1", stream=None),
    )
    assert result.status == "succeeded"
    docs = list(store[Coll.TOPICS].find({"community": "gen"}))
    assert len(docs) == result.counts["topics"] > 0
    hot = [d for d in docs if d["trending"]]
    assert len(hot) == result.counts["trending_topics"]
    for doc in docs:
        assert doc["run_id"] == "r1" and doc["kind"] in ("hashtag", "term", "url")
        assert doc["_id"] == f"gen/r1/{doc['cluster']}/{doc['tier']}/{doc['topic']}"
        assert len(doc["tweet_ids"]) == doc["count"] and doc["first_at"] <= doc["last_at"]
    by_topic: dict[str, set] = {}
    for doc in hot:
        by_topic.setdefault(doc["topic"], set()).update(doc["tweet_ids"])
    for burst in dataset.meta["topic_bursts"]:
        found = by_topic.get(burst["topic"], set()) & set(burst["tweet_ids"])
        assert len(found) >= burst["tweets"] / 2, burst["topic"]
    # The expanded URL, not the t.co link in the text, names the topic.
    # (most of the 15: an author the clustering put elsewhere posts alone there)
    assert 12 <= len(by_topic["https://example.org/story"]) <= 15
    assert not any(t.startswith("https://t.co/") for t in by_topic)
    # Ranked within cluster and tier: trending first, then by score.
    for cluster, tier in {(d["cluster"], d["tier"]) for d in docs}:
        ranked = sorted(
            (d for d in docs if (d["cluster"], d["tier"]) == (cluster, tier)),
            key=lambda d: d["rank"],
        )
        assert [d["rank"] for d in ranked] == list(range(len(ranked)))
        keys = [(not d["trending"], -d["score"]) for d in ranked]
        assert keys == sorted(keys)


def test_scores_stay_finite_far_in_the_tail():
    """A huge burst of a never-seen topic: the Poisson tail underflows, the score is capped
    (the store writes JSON numbers, which have no infinity)."""
    huge = [
        {
            "author_id": MEMBERS[i % 12],
            "created_at": T0 + timedelta(hours=50, seconds=10 * i),
            "text": "#flood",
            "hashtags": ["flood"],
        }
        for i in range(600)
    ]
    topics = _fit(_background(seed=10) + huge)
    score = topics.column("score").to_numpy()
    assert np.isfinite(score).all() and score.max() == 300.0
    assert _trending(topics) == [(0, 1, "#flood")]
