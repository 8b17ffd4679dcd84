"""The store's domain reads and writes (what collection, the pipeline, export and the
benchmarks ask it for, instead of writing the query language themselves), on both engines.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa
import pytest

from dwt.store import Coll, Store
from dwt.store.store import FOLLOW_LISTS_SCHEMA, TEXTS_SCHEMA
from dwt.store.weeks import publish
from sample_week import load_sample

pytestmark = pytest.mark.both_stores


def nov(day: int) -> datetime:
    """Midnight UTC of a day of the sample's November."""
    return datetime(2026, 11, day, tzinfo=UTC)


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def test_accounts_by_id_and_by_username(store: Store):
    load_sample(store)
    assert store.usernames(["1001", "1003", "9999", ""]) == {"1001": "ada", "1003": "cyd"}
    assert store.usernames([]) == {}
    found = store.accounts(["1002", "9999", "1002"], ["public_metrics"])
    assert list(found) == ["1002"]
    assert found["1002"]["public_metrics"]["following_count"] == 60
    assert "username" not in found["1002"]  # only the fields asked for
    assert store.accounts(["1004"])["1004"]["username"] == "dee"  # every field
    assert store.accounts_named(["ADA", "Cyd", "nobody"]) == {
        "ada": {"id": "1001", "username": "ada"},
        "cyd": {"id": "1003", "username": "cyd"},
    }
    assert store.accounts_named([]) == {}


def test_follow_lists_by_account(store: Store):
    load_sample(store)
    assert store.follow_list_sizes(["1001", "1003", "1004", "1001"]) == {"1001": 2, "1003": 3}
    batches = list(store.follow_list_batches(["1001", "1003", "1004"], rows=1))
    assert batches and all(b.num_rows == 1 and b.schema == FOLLOW_LISTS_SCHEMA for b in batches)
    lists = pa.Table.from_batches(batches).sort_by("source_id").to_pylist()
    assert lists == [
        {"source_id": "1001", "targets": ["1002", "1003"]},
        {"source_id": "1003", "targets": ["1001", "1002", "2001"]},
    ]


def test_tweets_counted_and_read_by_author_and_window(store: Store):
    load_sample(store)
    members = ["1001", "1002", "1003"]
    assert store.posts_by_author(members, nov(23), nov(25)) == {"1001": 1, "1002": 3, "1003": 1}
    assert store.posts_by_author(["1004"], nov(23), nov(25)) == {}
    count, first, last = store.tweet_span(["1002"], nov(23), nov(25))
    assert (count, _utc(first), _utc(last)) == (
        3,
        datetime(2026, 11, 23, 10, tzinfo=UTC),
        datetime(2026, 11, 24, 15, tzinfo=UTC),
    )
    assert store.tweet_span()[0] == 7
    assert store.tweet_span(["1001"], since=nov(24))[0] == 1  # an open end
    texts = store.tweet_texts(["1002", "1003"], nov(23), nov(26), kinds=("tweet", "quote"))
    assert texts.schema == TEXTS_SCHEMA
    # The reply and the retweet are left out, as is the tweet of 26 November.
    assert texts.column("tweet_id").to_pylist() == ["1862000000000000004", "1862000000000000005"]
    quote = texts.to_pylist()[1]
    assert quote["text"].startswith("This is the clearest take")
    assert quote["urls"][0]["expanded_url"].startswith("https://x.com/outsider_olu/")
    every = store.tweet_texts(["1002"], nov(23), nov(26))
    assert every.num_rows == 3


def test_checkpoints_are_set_and_cleared(store: Store):
    store.update_checkpoint("1", {"status": "active"})
    assert store.checkpoints(["1"]) == {}  # none made unless asked
    store.update_checkpoint("1", {"pass.next": "t1", "pass.newest": "9"}, create=True)
    store.update_checkpoint("2", {"done": True}, create=True)
    assert store.checkpoints(["1"])["1"]["pass"] == {"next": "t1", "newest": "9"}
    store.update_checkpoint("1", {"pass.next": "t2"})
    assert store.checkpoints(["1"])["1"]["pass"] == {"next": "t2", "newest": "9"}
    store.update_checkpoint("1", {"done": True}, clear=["pass", "never.there"])
    assert store.checkpoints() == {"1": {"_id": "1", "done": True}, "2": {"_id": "2", "done": True}}
    store.update_checkpoint("1")  # nothing to do
    assert store.checkpoints(["3"]) == {}


def test_member_status_is_shown_in_every_community(store: Store):
    load_sample(store)
    store.add_members("other", [{"id": "1001", "username": "ada"}])
    assert store.mark_member_status("1001", "protected", nov(24)) == 2
    marked = list(store[Coll.MEMBERS].find({"status": "protected"}))
    assert sorted(d["community"] for d in marked) == ["other", "sample"]
    assert {d["account_id"] for d in marked} == {"1001"}
    assert store.mark_member_status("9999", "suspended", nov(24)) == 0


def test_conversation_ids_forgotten(store: Store):
    load_sample(store)
    assert store.interactions().column("conversation_id").null_count < 7
    assert store.forget_conversation_ids() == 7
    assert store.interactions().column("conversation_id").null_count == 7


def test_clustered_members_of_the_week_shown(store: Store):
    placed = [{"account_id": a, "cluster": c} for a, c in (("1", 0), ("2", -1), ("3", 1))]
    store.replace_results(Coll.PLACEMENTS, "c", "r1", placed)
    assert store.clustered_count("c") == 0  # not published yet
    publish(store, "c", "r1", ["clusters"], nov(24))
    assert store.clustered_count("c") == 2
    assert store.clustered_count("other") == 0
