"""The MongoDB store: indexes, idempotent bulk writes, columnar reads.

Runs on the in-process engine, or on a real server when DWT_TEST_MONGO_URL is set.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa
import pytest

from dwt.model.fields import TWEET_FIELDS
from dwt.samples import load_sample, read_sample
from dwt.store import (
    FOLLOWS_SCHEMA,
    INTERACTIONS_SCHEMA,
    MEMBERS_SCHEMA,
    NATURAL_KEYS,
    Coll,
    Store,
    StoreError,
    index_models,
)
from dwt.store.schema import doc_id


def _index_names(store: Store, coll: Coll) -> set[str]:
    return set(store[coll].index_information())


def test_every_collection_has_its_declared_indexes(store: Store):
    for coll in Coll:
        declared = {m.document["name"] for m in index_models(coll)}
        assert declared <= _index_names(store, coll), coll


def test_ids_are_made_from_natural_keys(store: Store):
    store.add_members("c1", [{"id": "7", "username": "seven"}])
    assert store[Coll.MEMBERS].find_one()["_id"] == "c1/7"
    assert (
        doc_id(
            Coll.CONVERSATIONS,
            {"community": "c", "cluster": 2, "tier": 1, "conversation_id": "rt:9"},
        )
        == "c/2/1/rt:9"
    )
    for coll, key in NATURAL_KEYS.items():
        assert key == ("_id",) or all(k.isidentifier() for k in key), coll


def test_lookups_by_id_agree_with_a_scan(store: Store):
    store.upsert(
        Coll.ACCOUNTS, [{"_id": str(i), "id": str(i), "username": f"u{i}"} for i in range(50)]
    )
    coll = store[Coll.ACCOUNTS]
    assert [d["_id"] for d in coll.find({"_id": "7"})] == ["7"]
    assert sorted(d["_id"] for d in coll.find({"_id": {"$in": ["3", "99", "4", "3"]}})) == [
        "3",
        "4",
    ]
    assert coll.find_one({"_id": "nope"}) is None
    # A filter with more than _id goes the ordinary way and still works.
    assert coll.find_one({"_id": "5", "username": "u6"}) is None
    assert coll.count_documents({"username": {"$in": ["u1", "u2"]}}) == 2


def test_ensure_indexes_is_idempotent(store: Store):
    before = {c: _index_names(store, c) for c in Coll}
    store.ensure_indexes()
    store.ensure_indexes()
    assert {c: _index_names(store, c) for c in Coll} == before


def test_same_page_twice_leaves_one_copy(store: Store):
    page = read_sample()["timelines"][1]
    first = store.put_tweets(page, TWEET_FIELDS)
    collected = {d["_id"]: d["collected_at"] for d in store[Coll.TWEETS].find()}
    second = store.put_tweets(page, TWEET_FIELDS)
    assert first.inserted == len(page["data"]) and first.unchanged == 0
    assert second.inserted == 0 and second.unchanged == len(page["data"])
    assert store[Coll.TWEETS].count_documents({}) == len(page["data"])
    # The first collection time is kept on re-writes.
    assert {d["_id"]: d["collected_at"] for d in store[Coll.TWEETS].find()} == collected


def test_loading_the_sample_twice_gives_the_same_counts(store: Store):
    load_sample(store)
    counts = store.counts()
    again = load_sample(store)
    assert again.inserted == 0
    assert store.counts() == counts
    assert counts["tweets"] == 7 and counts["members"] == 4 and counts["follows"] == 3
    assert store.follows().num_rows == 6


def test_changed_tweet_is_updated_in_place(store: Store):
    page = {"data": [{"id": "1", "text": "a", "public_metrics": {"like_count": 1}}]}
    store.put_tweets(page)
    page["data"][0]["public_metrics"] = {"like_count": 5}
    summary = store.put_tweets(page)
    assert summary.updated == 1
    assert store[Coll.TWEETS].find_one({"_id": "1"})["public_metrics"]["like_count"] == 5


def test_upsert_refuses_documents_without_their_key(store: Store):
    with pytest.raises(StoreError, match="lacks its key"):
        store.upsert(Coll.FOLLOWS, [{"source_id": "1"}])
    assert store[Coll.FOLLOWS].count_documents({}) == 0


def test_members_add_is_idempotent_and_keeps_added_at(store: Store):
    users = read_sample()["users"]["data"]
    store.add_members("c1", users[:2])
    added = {d["account_id"]: d["added_at"] for d in store[Coll.MEMBERS].find()}
    store.add_members("c1", users[:2], core=True)
    docs = list(store[Coll.MEMBERS].find())
    assert len(docs) == 2
    assert all(d["core"] for d in docs)
    assert {d["account_id"]: d["added_at"] for d in docs} == added
    assert store.remove_members("c1", ["1001"]) == 1
    assert store.members("c1").column("account_id").to_pylist() == ["1002"]


def test_same_account_in_two_communities(store: Store):
    users = read_sample()["users"]["data"][:1]
    store.add_members("a", users)
    store.add_members("b", users)
    assert store[Coll.MEMBERS].count_documents({}) == 2
    assert store[Coll.ACCOUNTS].count_documents({}) == 1


def test_interactions_read_is_columnar_and_filtered(store: Store):
    load_sample(store)
    table = store.interactions()
    assert table.schema == INTERACTIONS_SCHEMA
    assert table.num_rows == 7
    assert table.column("tweet_id").to_pylist() == sorted(table.column("tweet_id").to_pylist())
    by_id = {r["tweet_id"]: r for r in table.to_pylist()}
    assert by_id["1862000000000000005"]["kind"] == "quote"
    assert by_id["1862000000000000005"]["directed_at"] == ["2001"]
    assert by_id["1862000000000000006"]["directed_at"] == ["2001", "1001"]

    only_cyd = store.interactions(author_ids=["1003"])
    assert set(only_cyd.column("author_id").to_pylist()) == {"1003"}
    window = store.interactions(
        since=datetime(2026, 11, 24, tzinfo=UTC), until=datetime(2026, 11, 25, tzinfo=UTC)
    )
    assert window.column("tweet_id").to_pylist() == ["1862000000000000004", "1862000000000000005"]


def test_follows_and_members_tables(store: Store):
    load_sample(store)
    follows = store.follows()
    assert follows.schema == FOLLOWS_SCHEMA and follows.num_rows == 6
    inside = store.follows(account_ids=["1001", "1002", "1003"])
    assert ("1003", "2001") not in set(zip(*inside.to_pydict().values(), strict=True))
    assert inside.num_rows == 5
    members = store.members("sample")
    assert members.schema == MEMBERS_SCHEMA
    assert members.column("username").to_pylist() == ["ada", "brook", "cyd", "dee"]


def test_empty_reads_have_the_schema(store: Store):
    assert store.interactions() == pa.Table.from_pylist([], schema=INTERACTIONS_SCHEMA)
    assert store.members("nobody").num_rows == 0


def test_in_process_store_is_shared_per_url(store_url: str):
    if not store_url.startswith("mongomock://"):
        pytest.skip("in-process engine only")
    a = Store.open(store_url)
    b = Store.open(store_url, ensure_indexes=False)
    a.put_follows("1", ["2"])
    assert b[Coll.FOLLOWS].count_documents({}) == 1


def test_server_url_password_never_shown():
    # pymongo connects lazily, so no server is needed to open the store object.
    store = Store.open("mongodb://dwt:s3cret@127.0.0.1:1/dwt", ensure_indexes=False)
    assert "s3cret" not in repr(store) and "dwt:***@127.0.0.1:1" in repr(store)
    store.db.client.close()


def test_follow_lists_in_pages_replace_the_old_list(store: Store):
    store.put_follows("1", ["2", "3", "4"])
    # A new pass in two pages: 3 was unfollowed, 5 followed; page 1 repeated (a retry).
    store.put_follows("1", ["2"], last_page=False)
    store.put_follows("1", ["2"], last_page=False)
    assert store.follows().column("target_id").to_pylist() == ["2", "3", "4"]  # until done
    store.put_follows("1", ["4", "5"])
    assert store.follows().column("target_id").to_pylist() == ["2", "4", "5"]
    assert "pass_targets" not in store[Coll.FOLLOWS].find_one({"_id": "1"})


def test_in_process_store_persists_to_a_file(tmp_path):
    from dwt.store import inprocess

    url = f"mongomock://localhost/dwt?file={tmp_path / 'store.json'}"
    store = Store.open(url)
    load_sample(store)
    counts = store.counts()
    store.flush()
    inprocess.drop(url)  # as if the process ended
    again = Store.open(url)
    assert again.counts() == counts
    table = again.interactions()
    assert table.column("created_at")[0].as_py().tzinfo is not None
    assert again.members("sample").num_rows == 4
    Store.open("mongomock://localhost/other").flush()  # no file: nothing to do
