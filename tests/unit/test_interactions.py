"""Normalisation of X API v2 tweets into interaction records."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from dwt.model import (
    TweetFormatError,
    TweetKind,
    normalise_page,
    normalise_tweet,
    tweet_documents,
    unknown_summary,
    user_document,
)
from dwt.model.fields import TWEET_FIELDS
from recorded import read_cassette
from sample_week import read_sample

USERS = {"users": [{"id": "1", "username": "Ann"}, {"id": "2", "username": "bob"}]}


def _tweet(**fields):
    return {
        "id": "10",
        "text": "x",
        "author_id": "1",
        "conversation_id": "10",
        "created_at": "2026-11-20T10:00:00.000Z",
        **fields,
    }


def test_plain_tweet_with_mentions_resolved_through_includes():
    tweet = _tweet(
        entities={
            "mentions": [
                {"start": 0, "end": 4, "username": "BOB"},
                {"start": 5, "end": 9, "username": "ann"},
            ],
            "hashtags": [{"start": 10, "end": 12, "tag": "Rust"}],
        }
    )
    rec = normalise_tweet(tweet, USERS, TWEET_FIELDS)
    assert rec.kind is TweetKind.TWEET
    # Mentions resolve case-insensitively; the author mentioning herself is dropped.
    assert rec.directed_at == ("2",)
    assert rec.hashtags == ("rust",)
    assert rec.created_at == datetime(2026, 11, 20, 10, tzinfo=UTC)
    assert rec.complete


def test_reply_directed_at_replied_author_even_without_mention():
    tweet = _tweet(
        id="11",
        conversation_id="10",
        in_reply_to_user_id="2",
        referenced_tweets=[{"type": "replied_to", "id": "10"}],
    )
    rec = normalise_tweet(tweet, {}, TWEET_FIELDS)
    assert rec.kind is TweetKind.REPLY
    assert rec.directed_at == ("2",)
    assert rec.conversation_id == "10"


def test_reply_author_found_in_includes_tweets():
    tweet = _tweet(id="11", referenced_tweets=[{"type": "replied_to", "id": "7"}])
    includes = {"tweets": [{"id": "7", "text": "q", "author_id": "3"}]}
    assert normalise_tweet(tweet, includes, TWEET_FIELDS).directed_at == ("3",)


@pytest.mark.parametrize(
    ("ref", "kind"), [("quoted", TweetKind.QUOTE), ("retweeted", TweetKind.RETWEET)]
)
def test_quote_and_retweet_directed_at_the_referenced_author(ref, kind):
    tweet = _tweet(referenced_tweets=[{"type": ref, "id": "7"}])
    includes = {"tweets": [{"id": "7", "text": "q", "author_id": "3"}]}
    rec = normalise_tweet(tweet, includes, TWEET_FIELDS)
    assert rec.kind is kind
    assert rec.directed_at == ("3",)
    assert rec.referenced == {ref: "7"}
    assert rec.referenced_id == "7"


def test_reply_that_quotes_is_a_reply_directed_at_both():
    tweet = _tweet(
        in_reply_to_user_id="2",
        referenced_tweets=[{"type": "quoted", "id": "7"}, {"type": "replied_to", "id": "8"}],
    )
    includes = {"tweets": [{"id": "7", "text": "q", "author_id": "3"}]}
    rec = normalise_tweet(tweet, includes, TWEET_FIELDS)
    assert rec.kind is TweetKind.REPLY
    assert set(rec.directed_at) == {"2", "3"}


def test_self_reply_is_directed_at_nobody():
    tweet = _tweet(in_reply_to_user_id="1", referenced_tweets=[{"type": "replied_to", "id": "9"}])
    rec = normalise_tweet(tweet, {}, TWEET_FIELDS)
    assert rec.kind is TweetKind.REPLY
    assert rec.directed_at == ()


def test_unresolvable_parts_are_reported_not_guessed():
    tweet = _tweet(
        referenced_tweets=[{"type": "quoted", "id": "7"}],
        entities={"mentions": [{"start": 0, "end": 4, "username": "ghost"}]},
    )
    rec = normalise_tweet(tweet, {}, TWEET_FIELDS)
    assert rec.kind is TweetKind.QUOTE
    assert rec.directed_at == ()
    assert set(rec.unknown) == {"mention:@ghost", "quoted_author"}
    assert not rec.complete


def test_minimal_tweet_reports_every_missing_field():
    rec = normalise_tweet({"id": "5", "text": "hello", "edit_history_tweet_ids": ["5"]})
    assert rec.tweet_id == "5"
    assert rec.kind is None and rec.author_id is None and rec.created_at is None
    assert set(rec.unknown) == {"author_id", "kind", "entities", "conversation_id", "created_at"}


def test_requested_but_absent_fields_are_known_empty():
    # The API omits empty fields: no referenced_tweets/entities means none, if requested.
    rec = normalise_tweet(_tweet(), {}, TWEET_FIELDS)
    assert rec.kind is TweetKind.TWEET
    assert rec.unknown == ()


@pytest.mark.parametrize("bad", [{}, {"text": "no id"}, "a string", {"id": None}])
def test_non_tweets_are_refused_clearly(bad):
    with pytest.raises(TweetFormatError, match="not an X API v2 tweet"):
        normalise_tweet(bad)


def test_bad_timestamp_is_refused():
    with pytest.raises(TweetFormatError, match="ISO-8601"):
        normalise_tweet(_tweet(created_at="yesterday"))


def test_every_recorded_real_tweet_normalises(recorded_dir: Path):
    seen = 0
    for path in sorted(recorded_dir.glob("*.yaml")):
        for rec in read_cassette(path):
            body = rec.body
            if not isinstance(body, dict) or not body.get("data"):
                continue
            data = body["data"] if isinstance(body["data"], list) else [body["data"]]
            if "text" not in data[0]:
                continue  # users, lists, spaces
            records = normalise_page(body)
            assert [r.tweet_id for r in records] == [str(t["id"]) for t in data]
            seen += len(records)
            gaps = unknown_summary(records)
            # The recordings asked for no fields: each gap is named for every tweet.
            for field in ("author_id", "kind", "created_at", "conversation_id"):
                assert gaps[field] == len(records)
    assert seen > 300


def test_sample_week_covers_every_kind():
    sample = read_sample()
    kinds = [r.kind for page in sample["timelines"] for r in normalise_page(page, TWEET_FIELDS)]
    assert set(kinds) == set(TweetKind)
    records = [r for page in sample["timelines"] for r in normalise_page(page, TWEET_FIELDS)]
    assert all(r.complete for r in records)


def test_tweet_documents_keep_api_fields_and_add_interaction():
    page = {
        "data": [
            _tweet(in_reply_to_user_id="2", referenced_tweets=[{"type": "replied_to", "id": "9"}])
        ]
    }
    (doc,) = tweet_documents(page, TWEET_FIELDS)
    assert doc["_id"] == doc["id"] == "10"
    assert doc["created_at"] == datetime(2026, 11, 20, 10, tzinfo=UTC)
    assert doc["in_reply_to_user_id"] == "2"
    assert doc["dwt"] == {
        "kind": "reply",
        "directed_at": ["2"],
        "referenced_id": "9",
        "hashtags": [],
        "unknown": [],
    }


def test_user_document_requires_id_and_username():
    assert user_document({"id": 5, "username": "Zed"})["username_lower"] == "zed"
    with pytest.raises(TweetFormatError, match="needs id and username"):
        user_document({"id": "5"})
