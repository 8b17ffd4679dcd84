"""The store's contract: indexes, idempotent bulk writes, columnar reads, the query and
update language the product speaks, and several processes on one embedded store.

Every test runs on the embedded store (SQLite) and on a real MongoDB wire-protocol server
(FerretDB; see tests/conftest.py), so the two engines are held to the same answers.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa
import pytest

from dwt.model.fields import TWEET_FIELDS
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
from dwt.store.ops import Update
from dwt.store.query import UnsupportedQuery
from dwt.store.schema import doc_id
from dwt.store.weeks import publish, published
from sample_week import load_sample, read_sample

pytestmark = pytest.mark.both_stores


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
            {"community": "c", "run_id": "r1", "cluster": 2, "tier": 1, "conversation_id": "rt:9"},
        )
        == "c/r1/2/1/rt:9"
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
    """FerretDB 1.24 departs from MongoDB here: asking it to create an existing compound index
    closes the connection (a Go panic, "slice bounds out of range"); MongoDB answers ok.
    The store sends only missing indexes, which is right on both."""
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


def test_reads_stream_in_bounded_record_batches(store: Store):
    """A read comes a few rows at a time (memory bounded by a batch, never one string of
    the whole read), and the batches hold exactly what the whole read holds."""
    load_sample(store)
    batches = list(store.interaction_batches(rows=3))
    assert [b.num_rows for b in batches] and max(b.num_rows for b in batches) <= 3
    assert sum(b.num_rows for b in batches) == 7
    streamed = pa.Table.from_batches(batches).sort_by("tweet_id")
    assert streamed == store.interactions()
    members = list(store.batches(Coll.MEMBERS, {}, [("account_id", -1)], {}, MEMBERS_SCHEMA, 2))
    assert [b.num_rows for b in members] == [2, 2]
    ids = pa.Table.from_batches(members).column("account_id").to_pylist()
    assert ids == sorted(ids, reverse=True)  # the engine's sort, across batches
    with pytest.raises(ValueError, match="rows must be >= 1"):
        next(store.batches(Coll.MEMBERS, {}, [], {}, MEMBERS_SCHEMA, 0))


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


def test_server_url_password_never_shown():
    # pymongo connects lazily, so no server is needed to open the store object.
    store = Store.open("mongodb://dwt:s3cret@127.0.0.1:1/dwt", ensure_indexes=False)
    assert "s3cret" not in repr(store) and "dwt:***@127.0.0.1:1" in repr(store)
    store.close()


def test_follow_lists_in_pages_replace_the_old_list(store: Store):
    store.put_follows("1", ["2", "3", "4"])
    # A new pass in two pages: 3 was unfollowed, 5 followed; page 1 repeated (a retry).
    store.put_follows("1", ["2"], last_page=False)
    store.put_follows("1", ["2"], last_page=False)
    assert store.follows().column("target_id").to_pylist() == ["2", "3", "4"]  # until done
    store.put_follows("1", ["4", "5"])
    assert store.follows().column("target_id").to_pylist() == ["2", "4", "5"]
    assert "pass_targets" not in store[Coll.FOLLOWS].find_one({"_id": "1"})


def _conversations(ids: range, **fields) -> list[dict]:
    return [{"cluster": 0, "tier": 1, "conversation_id": str(i), "size": i, **fields} for i in ids]


def _shown(store: Store, community: str) -> dict[str, dict]:
    return {d["_id"]: d for d in store[Coll.CONVERSATIONS].find(
        store.shown(Coll.CONVERSATIONS, community))}  # fmt: skip


@pytest.mark.timeout(60)  # FerretDB 1.24 stalled for minutes on a re-run's per-doc upserts
def test_a_runs_results_are_shown_together_when_it_publishes(store: Store):
    # More than 100 documents: one update command of that many stalls FerretDB 1.24.
    store.replace_results(Coll.CONVERSATIONS, "c", "r1", _conversations(range(150), old=True))
    assert _shown(store, "c") == {}  # written, not shown: r1 has not published
    publish(store, "c", "r1", ["content"], T0)
    store.replace_results(Coll.CONVERSATIONS, "other", "o1", _conversations(range(3)))
    publish(store, "other", "o1", ["content"], T0)
    # The next run finds 120 of those conversations again and 30 new ones, without "old".
    second = _conversations(range(30, 180))
    assert store.replace_results(Coll.CONVERSATIONS, "c", "r2", second) == 150
    assert sorted(_shown(store, "c")) == sorted(f"c/r1/0/1/{i}" for i in range(150))
    # The same run again (a retry) rewrites its own documents only.
    store.replace_results(Coll.CONVERSATIONS, "c", "r2", second)
    publish(store, "c", "r2", ["content"], T0)
    docs = _shown(store, "c")
    assert sorted(docs) == sorted(f"c/r2/0/1/{i}" for i in range(30, 180))
    assert {d["run_id"] for d in docs.values()} == {"r2"}
    assert not any("old" in d for d in docs.values())  # whole documents, not merged ones
    assert docs["c/r2/0/1/42"]["size"] == 42
    # r1 is kept one publish longer (a reader may have read the old pointer), then gone.
    assert store[Coll.CONVERSATIONS].count_documents({"community": "c"}) == 300
    store.replace_results(Coll.CONVERSATIONS, "c", "r3", second)
    publish(store, "c", "r3", ["content"], T0)
    assert store[Coll.CONVERSATIONS].count_documents({"community": "c", "run_id": "r1"}) == 0
    assert store[Coll.CONVERSATIONS].count_documents({"community": "c"}) == 300  # r2, r3
    assert len(_shown(store, "other")) == 3  # another community is never touched


def test_a_run_that_never_published_leaves_nothing_shown_and_is_collected(store: Store):
    store.replace_results(Coll.CONVERSATIONS, "c", "r1", _conversations(range(4)))
    publish(store, "c", "r1", ["content"], T0)
    store.replace_results(Coll.CONVERSATIONS, "c", "dead", _conversations(range(9)))  # killed
    assert len(_shown(store, "c")) == 4
    assert published(store, "c") == {"bonds": None, "clusters": None, "content": "r1"}
    store.replace_results(Coll.CONVERSATIONS, "c", "r2", _conversations(range(2)))
    publish(store, "c", "r2", ["content"], T0)
    assert store[Coll.CONVERSATIONS].count_documents({"community": "c", "run_id": "dead"}) == 0
    assert len(_shown(store, "c")) == 2


@pytest.mark.timeout(120)
def test_the_content_step_run_again_replaces_its_results(store: Store):
    """The content step twice on one generated week (the re-run took minutes on FerretDB
    when results were upserted one by one): the second run's results, nothing left over."""
    from dwt.bench.load import load_week
    from dwt.generate import generate_community
    from dwt.pipeline.progress import Progress
    from dwt.pipeline.runner import run_pipeline
    from dwt.pipeline.spec import RunSpec

    dataset = generate_community(members=40, communities=2, seed=4, tweets_per_member=8)
    load_week(store, dataset, "gen")
    runs = {}
    for run_id, steps in (("r1", ["bonds", "cluster", "content"]), ("r2", ["content"])):
        spec = RunSpec(community="gen", steps=steps)
        progress = Progress(store, run_id, stream=None)
        runs[run_id] = run_pipeline(store, spec, now=dataset.now, run_id=run_id, progress=progress)
        assert runs[run_id].status == "succeeded"
    assert runs["r2"].counts["conversations"] > 100  # enough to have stalled FerretDB
    for coll in (Coll.CONVERSATIONS, Coll.TOPICS, Coll.TABLES):
        docs = list(store[coll].find(store.shown(coll, "gen"), {"run_id": 1}))
        assert docs and {d["run_id"] for d in docs} == {"r2"}
    topics = store.shown(Coll.TOPICS, "gen")
    assert len(list(store[Coll.TOPICS].find(topics))) == runs["r2"].counts["topics"]
    # Every conversation is in the run's columnar table; the top ones are documents too.
    schema = pa.schema([("conversation_id", pa.string()), ("rank", pa.int64())])
    table = store.result_table("gen", "conversations", "r2", schema)
    assert table.num_rows == runs["r2"].counts["conversations"]
    shown = store.shown(Coll.CONVERSATIONS, "gen")
    top = store[Coll.CONVERSATIONS].find(shown, {"conversation_id": 1})
    assert {d["conversation_id"] for d in top} <= set(table["conversation_id"].to_pylist())


@pytest.mark.stores("mongo")  # the embedded store replaces in one transaction
def test_a_writer_inserting_the_same_results_meanwhile_is_replaced(store: Store):
    # Another process re-running the same step inserted one of the documents between this
    # writer's delete and its insert: ours replaces it instead of failing the run.
    coll = store.backend.db[Coll.CONVERSATIONS.value]
    coll.insert_one({"_id": "c/0/1/1", "community": "c", "run_id": "r2", "size": -1})
    docs = [{"_id": f"c/0/1/{i}", "community": "c", "run_id": "r2", "size": i} for i in (1, 2)]
    store.backend._insert_or_replace(coll, docs)
    assert sorted(coll.find({"community": "c"}), key=lambda d: d["_id"]) == docs


def test_publishing_nothing_clears_a_community(store: Store):
    store.replace_results(Coll.CONVERSATIONS, "other", "o1", _conversations(range(2)))
    publish(store, "other", "o1", ["content"], T0)
    store.replace_results(Coll.CONVERSATIONS, "c", "r1", _conversations(range(5)))
    publish(store, "c", "r1", ["content"], T0)
    assert store.replace_results(Coll.CONVERSATIONS, "c", "r3", []) == 0
    publish(store, "c", "r3", ["content"], T0)
    assert _shown(store, "c") == {}
    assert len(_shown(store, "other")) == 2


# ---- the query and update language, held to the same answers on both engines -----------

T0 = datetime(2026, 11, 23, tzinfo=UTC)
RUNS = [
    {"_id": "r1", "community": "a", "steps": ["collect"], "status": "succeeded",
     "started_at": T0, "counts": {"tweets": 5}, "params": {"window": {"days": 7}}},
    {"_id": "r2", "community": "a", "steps": ["bonds", "content"], "status": "failed",
     "started_at": T0.replace(day=24), "error": "boom", "counts": {}},
    {"_id": "r3", "community": "b", "steps": ["content"], "status": "succeeded",
     "started_at": T0.replace(day=25), "counts": {"clusters": 3}, "next": None},
    {"_id": "r4", "community": "a", "steps": [], "status": "running",
     "started_at": T0.replace(day=26), "counts": {"clusters": 0}, "rank": 2},
]  # fmt: skip

QUERIES = [
    ({"community": "a"}, ["r1", "r2", "r4"]),
    ({"steps": "content"}, ["r2", "r3"]),  # an array field contains the value
    ({"community": "a", "steps": "content", "status": "failed"}, ["r2"]),
    ({"_id": {"$in": ["r3", "nope", "r1"]}}, ["r1", "r3"]),
    ({"status": {"$nin": ["succeeded", "running"]}}, ["r2"]),
    ({"status": {"$ne": "failed"}}, ["r1", "r3", "r4"]),
    ({"rank": {"$ne": 2}}, ["r1", "r2", "r3"]),  # a missing field is not equal
    ({"error": None}, ["r1", "r3", "r4"]),  # missing counts as null
    ({"next": None}, ["r1", "r2", "r3", "r4"]),
    ({"next": {"$exists": True}}, ["r3"]),
    ({"counts.clusters": {"$exists": True}}, ["r3", "r4"]),
    ({"counts.clusters": {"$gte": 1}}, ["r3"]),
    ({"started_at": {"$gte": T0.replace(day=24), "$lt": T0.replace(day=26)}}, ["r2", "r3"]),
    ({"started_at": {"$gt": T0.replace(day=25, hour=12)}}, ["r4"]),
    ({"rank": {"$lt": 5}}, ["r4"]),  # documents without the field never match a range
    ({"status": {"$gt": "running"}}, ["r1", "r3"]),  # strings compare as strings
    ({"community": "a", "$or": [{"status": "running"}, {"counts.tweets": 5}]}, ["r1", "r4"]),
    (
        {"community": "a", "$or": [{"status": "failed"}, {"counts.tweets": {"$ne": 5}}]},
        ["r2", "r4"],
    ),
]


@pytest.mark.parametrize(("query", "expected"), QUERIES, ids=[str(q) for q, _ in QUERIES])
def test_queries_answer_as_mongodb_does(store: Store, query, expected):
    store.upsert(Coll.RUNS, RUNS)
    coll = store[Coll.RUNS]
    assert sorted(d["_id"] for d in coll.find(query)) == expected
    assert coll.count_documents(query) == len(expected)


def test_sort_limit_projection_and_types_round_trip(store: Store):
    store.upsert(Coll.RUNS, RUNS)
    coll = store[Coll.RUNS]
    newest = list(coll.find({"community": "a"}).sort("started_at", -1).limit(2))
    assert [d["_id"] for d in newest] == ["r4", "r2"]
    assert newest[0]["started_at"] == T0.replace(day=26)
    assert newest[0]["started_at"].tzinfo is not None  # tz-aware UTC, as pymongo tz_aware
    assert newest[0]["steps"] == [] and newest[0]["counts"] == {"clusters": 0}
    by_two = [d["_id"] for d in coll.find({}, sort=[("community", 1), ("started_at", -1)])]
    assert by_two == ["r4", "r2", "r1", "r3"]
    assert coll.find_one({"_id": "r1"}, {"status": 1}) == {"_id": "r1", "status": "succeeded"}
    assert coll.find_one({"_id": "r1"}, {"_id": 0, "counts": 1}) == {"counts": {"tweets": 5}}
    assert coll.find_one({"_id": "r1"}, {"counts.tweets": 1, "_id": 0}) == {"counts": {"tweets": 5}}
    latest = coll.find_one({"community": "a", "status": "succeeded"}, sort=[("started_at", -1)])
    assert latest["_id"] == "r1"
    # Milliseconds are kept (MongoDB's precision), microseconds dropped as a server does.
    store.upsert(Coll.RUNS, [{"_id": "r9", "started_at": T0.replace(microsecond=123456)}])
    assert coll.find_one({"_id": "r9"})["started_at"] == T0.replace(microsecond=123000)


def test_update_operators_answer_as_mongodb_does(store: Store):
    coll = store[Coll.COLLECT_STATE]
    first = coll.update_one(
        {"_id": "1"},
        {"$set": {"pass.next": "t1"}, "$setOnInsert": {"made": T0}, "$inc": {"tries": 1}},
        upsert=True,
    )
    assert first.upserted_id == "1" and first.matched_count == 0
    again = coll.update_one(
        {"_id": "1"},
        {"$set": {"pass.next": "t2"}, "$setOnInsert": {"made": "later"}, "$inc": {"tries": 1}},
        upsert=True,
    )
    assert again.matched_count == 1 and again.modified_count == 1
    assert coll.find_one({"_id": "1"}) == {
        "_id": "1", "pass": {"next": "t2"}, "made": T0, "tries": 2
    }  # fmt: skip
    same = coll.update_one({"_id": "1"}, {"$set": {"pass.next": "t2"}})
    assert same.matched_count == 1 and same.modified_count == 0
    coll.update_one({"_id": "1"}, {"$addToSet": {"seen": {"$each": ["a", "b", "a"]}}})
    coll.update_one({"_id": "1"}, {"$addToSet": {"seen": {"$each": ["b", "c"]}}})
    coll.update_one({"_id": "1"}, {"$unset": {"pass": "", "absent.field": ""}})
    assert coll.find_one({"_id": "1"}, {"_id": 0, "seen": 1, "pass": 1}) == {
        "seen": ["a", "b", "c"]
    }
    missing = coll.update_one({"_id": "2"}, {"$set": {"x": 1}})
    assert missing.matched_count == 0 and coll.count_documents({}) == 1
    coll.update_one({"_id": "2"}, {"$set": {"x": 1}}, upsert=True)
    many = coll.update_many({}, {"$set": {"x": 1}})
    assert (many.matched_count, many.modified_count) == (2, 1)
    assert coll.delete_many({"x": 1}).deleted_count == 2


def test_embedded_store_refuses_what_it_cannot_answer(tmp_path):
    store = Store.open(f"sqlite:///{tmp_path / 'dwt.db'}")
    coll = store[Coll.RUNS]
    # What no method of the store writes is refused, not answered some other way.
    for bad in (
        {"$where": "1"},
        {"a": {"$regex": "x"}},
        {"a": {"b": 1}},
        {"a.$b": 1},
        {"$and": [{"a": 1}]},
        {"a": {"$exists": False}},
        {"a": {"$exists": 1}},
        {"a": {"$ne": None}},
        {"a": {"$in": ["x", None]}},
        {"a": {"$nin": [None]}},
    ):
        with pytest.raises(UnsupportedQuery):
            list(coll.find(bad))
    for update in ({"$addToSet": {"seen": "a"}}, {"$addToSet": {"seen": {"$each": [{"a": 1}]}}}):
        with pytest.raises(UnsupportedQuery, match=r"\$addToSet"):
            coll.update_one({"_id": "1"}, update, upsert=True)
    with pytest.raises(UnsupportedQuery, match="update operator status"):
        coll.update_one({"_id": "1"}, {"status": "x"})
    with pytest.raises(UnsupportedQuery, match="_id"):
        coll.update_one({"community": "a"}, {"$set": {"x": 1}}, upsert=True)
    assert coll.count_documents({}) == 0


def test_store_urls_are_checked(tmp_path):
    with pytest.raises(StoreError, match="not sqlite, mongodb"):
        Store.open("mongomock://localhost/dwt")
    with pytest.raises(StoreError, match="sqlite:///PATH"):
        Store.open("sqlite:///")


def test_embedded_store_keeps_the_interactions_line_and_upgrades_old_files(tmp_path):
    """The tweets table keeps each tweet's interactions line (a stored generated column); a
    file written before that column existed is rebuilt on open, documents and indexes kept."""
    import sqlite3

    path = tmp_path / "dwt.db"
    old = sqlite3.connect(path)
    old.execute('CREATE TABLE "tweets" (_id TEXT PRIMARY KEY, doc TEXT NOT NULL)')
    old.execute(
        "INSERT INTO tweets VALUES ('9', ?)",
        ('{"_id":"9","author_id":"1","created_at":{"$date":"2026-11-24T10:00:00.000Z"},'
         '"dwt":{"kind":"reply","directed_at":["2"],"hashtags":[]}}',),
    )  # fmt: skip
    old.execute(
        """CREATE INDEX "tweets.author_time" ON "tweets" (json_extract(doc, '$.author_id'))"""
    )
    old.commit()
    old.close()
    store = Store.open(f"sqlite:///{path}")
    rows = store.interactions().to_pylist()
    assert [(r["tweet_id"], r["kind"], r["directed_at"]) for r in rows] == [("9", "reply", ["2"])]
    columns = [r[1] for r in sqlite3.connect(path).execute('PRAGMA table_xinfo("tweets")')]
    assert any(c.startswith("line_") for c in columns)
    load_sample(store)
    assert store.interactions().num_rows == 8
    assert "author_time" in store[Coll.TWEETS].index_information()


def test_a_large_batch_rewriting_existing_documents_is_answered(store: Store):
    """300 tweets changed at once: every statement counted, none stalls the server (FerretDB
    1.24 holds a command of 100+ such statements for minutes; the store sends them in
    smaller commands)."""
    page = {"data": [{"id": str(i), "text": "a", "public_metrics": {"like_count": 1}}
                     for i in range(300)]}  # fmt: skip
    assert store.put_tweets(page).inserted == 300
    for tweet in page["data"]:
        tweet["public_metrics"] = {"like_count": 2}
    assert store.put_tweets(page).updated == 300
    assert store[Coll.TWEETS].count_documents({"public_metrics.like_count": 2}) == 300


def test_a_failed_statement_is_reported(store: Store, store_backend):
    """A statement the engine refuses raises, naming it, and leaves the document as it was.
    The embedded store refuses the whole batch in its transaction; on MongoDB the rest of
    the batch is written, then `StoreError` names the failed statement."""
    store.upsert(Coll.ACCOUNTS, [{"_id": "a", "username": "ann"}])
    ops = [Update("a", {"$inc": {"username": 1}}), Update("b", {"$set": {"username": "bo"}}, True)]
    refused = UnsupportedQuery if store_backend == "sqlite" else StoreError
    with pytest.raises(refused, match="username" if store_backend == "sqlite" else "1 of 2"):
        store.bulk_update(Coll.ACCOUNTS, ops)
    assert store[Coll.ACCOUNTS].find_one({"_id": "a"})["username"] == "ann"
    written = store[Coll.ACCOUNTS].find_one({"_id": "b"})
    assert (written is None) if store_backend == "sqlite" else (written["username"] == "bo")


def test_a_store_of_the_old_layout_shows_its_week_after_opening(store: Store, store_url: str):
    """Results written before weeks existed (one set per community, ``_id`` without the run,
    clusters and activity on the members) are adopted as the community's week on open."""
    store.add_members("c", [{"id": "1", "username": "one"}, {"id": "2", "username": "two"}])
    store[Coll.BONDS].insert_many(
        [{"_id": "c/1", "community": "c", "run_id": "old", "source_id": "1", "targets": ["2"],
          "weights": [0.5]}]
    )  # fmt: skip
    store[Coll.CLUSTERS].insert_many(
        [{"_id": "c/0", "community": "c", "run_id": "old", "cluster": 0, "size": 2}]
    )
    store.set_member_fields(
        "c",
        [{"account_id": "1", "cluster": 0, "activity": 3, "x": 1.0, "y": 2.0},
         {"account_id": "2", "cluster": 0, "activity": 1, "x": 3.0, "y": 4.0}],
    )  # fmt: skip
    reopened = Store.open(store_url)
    assert published(reopened, "c") == {"bonds": "old", "clusters": "old", "content": None}
    members = reopened.members("c").to_pylist()
    assert [(m["cluster"], m["activity"]) for m in members] == [(0, 3), (0, 1)]
    assert reopened.bond_lists("c").num_rows == 2  # member 2 got its (empty) list
    assert Store.open(store_url).members("c").to_pylist() == members  # adopted once
