"""Fill a store with a generated week the way collection does: X API v2 pages through the
store's own writes (:func:`load_week`), or — for benchmarks at sizes where a page per
transaction takes most of an hour — the same documents written whole, in large batches
(:func:`load_week_bulk`, labelled "bulk-loaded" wherever its figures are shown).

Benchmarks that time the pipeline "as the product runs it" need the store to hold what a
collection would have left; going through the emulator over HTTP would time the emulator,
so the emulator's renderer builds the same v2 pages (the fields and expansions the product
asks for) and :meth:`Store.put_tweets` / :meth:`Store.put_follows` write them, a page per
transaction.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dwt.model.fields import EXPANSIONS, TWEET_FIELDS, USER_FIELDS
from dwt.store import Store, WriteSummary
from dwt.xapi.dataset import Dataset
from dwt.xapi.emulator.render import Renderer
from dwt.xapi.emulator.store import DataIndex

#: Tweets per page: the X API's largest user-timeline page.
PAGE = 100


def load_week(store: Store, dataset: Dataset, community: str) -> WriteSummary:
    """Members, their follow lists and their tweets, written as a collection run would."""
    users = dataset.users
    members = users.filter(users["is_member"]).select(["id", "username"])
    store.add_members(community, members.to_pylist(), source="import")
    follows = dataset.follows.sort_by("source_id")
    sources = follows.column("source_id").combine_chunks()
    targets = follows.column("target_id").combine_chunks()
    changes = pc.not_equal(sources[1:], sources[:-1]).to_numpy(zero_copy_only=False)
    starts = np.flatnonzero(np.r_[True, changes])
    for begin, end in zip(starts, np.r_[starts[1:], len(sources)], strict=True):
        store.put_follows(sources[int(begin)].as_py(), targets[int(begin) : int(end)].to_pylist())
    renderer = Renderer(DataIndex(dataset))
    member_set = pa.array(members.column("id").to_pylist(), pa.string())
    rows = np.flatnonzero(pc.is_in(dataset.tweets["author_id"], member_set).to_numpy(False))
    written = WriteSummary()
    seen: set[str] = set()
    for start in range(0, len(rows), PAGE):
        page = rows[start : start + PAGE]
        tweets, located = renderer.tweets(page, TWEET_FIELDS, want_mentions=True)
        # The expansions collection asks for: referenced tweets and their authors are what
        # tells whom a quote or a retweet is directed at.
        includes = renderer.expand_tweets(page, located, EXPANSIONS, TWEET_FIELDS, USER_FIELDS)
        body = {"data": tweets, "includes": includes.includes()}
        written += store.put_tweets(body, TWEET_FIELDS, seen)
    return written


#: Documents per batch of the bulk loader.
BULK = 20_000


def load_week_bulk(store: Store, dataset: Dataset, community: str) -> int:
    """The documents :func:`load_week` would leave (the same pages through the same
    normaliser), written whole in batches of :data:`BULK`: not collection's page-by-page
    upserts. Returns how many tweets were written."""
    from datetime import UTC, datetime

    from dwt.model.documents import tweet_documents, user_document
    from dwt.store import Coll

    users = dataset.users
    members = users.filter(users["is_member"]).select(["id", "username"])
    store.add_members(community, members.to_pylist(), source="import")
    follows = dataset.follows.sort_by("source_id")
    lists = follows.group_by("source_id", use_threads=False).aggregate([("target_id", "list")])
    now = datetime.now(UTC)
    docs = [
        {"_id": s, "targets": t, "seen_at": now}
        for s, t in zip(
            lists["source_id"].to_pylist(), lists["target_id_list"].to_pylist(), strict=True
        )
    ]
    for start in range(0, len(docs), BULK):
        store.backend.put(Coll.FOLLOWS.value, docs[start : start + BULK])
    renderer = Renderer(DataIndex(dataset))
    member_set = pa.array(members.column("id").to_pylist(), pa.string())
    rows = np.flatnonzero(pc.is_in(dataset.tweets["author_id"], member_set).to_numpy(False))
    tweets: dict[str, dict] = {}
    accounts: dict[str, dict] = {}
    written = 0

    def flush() -> None:
        store.backend.put(Coll.TWEETS.value, list(tweets.values()))
        store.backend.put(Coll.ACCOUNTS.value, list(accounts.values()))
        tweets.clear()
        accounts.clear()

    for start in range(0, len(rows), PAGE):
        page = rows[start : start + PAGE]
        data, located = renderer.tweets(page, TWEET_FIELDS, want_mentions=True)
        includes = renderer.expand_tweets(page, located, EXPANSIONS, TWEET_FIELDS, USER_FIELDS)
        body = {"data": data, "includes": includes.includes()}
        for doc in tweet_documents(body, TWEET_FIELDS):
            tweets[doc["_id"]] = doc | {"collected_at": now}
        for user in body["includes"].get("users") or []:
            accounts[str(user["id"])] = user_document(user) | {"seen_at": now}
        written += len(data)
        if len(tweets) >= BULK:
            flush()
    flush()
    return written
