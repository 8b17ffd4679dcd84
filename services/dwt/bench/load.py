"""Fill a store with a generated week the way collection does: X API v2 pages through the
store's own writes.

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
