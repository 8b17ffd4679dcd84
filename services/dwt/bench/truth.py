"""A generated :class:`Dataset` as the insight stages' input, with its planted truth aligned.

The stages read what collection stores: member tweets as ``INTERACTIONS_SCHEMA`` rows,
member ids and follow edges. Collection derives ``directed_at`` from the API's tweet
(``dwt.model.interactions.normalise_tweet``): mentions, then the replied-to user (or the
replied-to tweet's author), then the author of the quoted or retweeted tweet, first
occurrence kept, minus the author. The same rule is applied here with Arrow and numpy
only, because the benchmark converts a million tweets and a per-tweet loop would dominate.

The planted truth (sub-community per member, burst per tweet) travels aligned with the
stage input, so the benchmark scores stage output without joining by id again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dwt.stages.columns import ints
from dwt.store import INTERACTIONS_SCHEMA
from dwt.xapi.dataset import Dataset

_ENGAGEMENT = ("like_count", "retweet_count", "reply_count", "quote_count")


@dataclass(frozen=True, slots=True)
class StageInputs:
    """What the bonds, cluster and content stages take, plus the truth aligned with it.

    ``community[i]`` is the planted sub-community of ``members[i]``; ``burst[j]`` the
    planted burst of ``interactions`` row j (-1 for none).
    """

    members: pa.Array
    interactions: pa.Table
    follows: pa.Table
    window: tuple[datetime, datetime]
    community: np.ndarray
    burst: np.ndarray


def stage_inputs(dataset: Dataset) -> StageInputs:
    """Members (``is_member``), their tweets as interactions, all follow edges, the window.

    Every member tweet is kept, whatever the member's account state: the truth covers
    them all, and the stages must place every member.
    """
    users = dataset.users.filter(dataset.users.column("is_member"))
    members = users.column("id").combine_chunks()
    everything = dataset.tweets
    mine = pc.is_valid(pc.index_in(everything.column("author_id"), value_set=members))
    tweets = everything.filter(mine)
    interactions = pa.table(
        {
            "tweet_id": tweets.column("id"),
            "author_id": tweets.column("author_id"),
            "created_at": tweets.column("created_at"),
            "conversation_id": tweets.column("conversation_id"),
            "kind": tweets.column("kind"),
            "referenced_id": tweets.column("referenced_id"),
            "directed_at": _directed_at(tweets, everything),
            "hashtags": _hashtags(tweets),
            "engagement": _engagement(tweets),
        },
        schema=INTERACTIONS_SCHEMA,
    )
    now = dataset.now
    if now is None:
        raise ValueError("the dataset has no meta['now']: its window is unknown")
    window = (now - timedelta(days=int(dataset.meta["days"])), now)
    return StageInputs(
        members=members,
        interactions=interactions,
        follows=dataset.follows,
        window=window,
        community=ints(users.column("community")),
        burst=ints(tweets.column("burst")),
    )


def true_conversations(interactions: pa.Table, dataset: Dataset | None = None) -> pa.ChunkedArray:
    """The conversation each interaction row truly belongs to, by the product's rule.

    X (and the generator) give a retweet its own id as ``conversation_id``; the product
    means the conversation of the retweeted tweet. So a retweet's true conversation is the
    one of the tweet it retweets when that tweet is in the data, and otherwise the group of
    retweets of that same tweet (``rt:<id>``): nothing else tells where it belongs.

    "In the data" is the stage's input (member tweets) by default, the rule the content
    stage applies. With ``dataset`` it is every generated tweet, outsiders' included: a
    stricter truth that also counts retweets of outsiders' tweets, whose conversation the
    stage cannot see (the interactions schema carries no referenced tweet's conversation).
    """
    conversation = interactions.column("conversation_id")
    reference = interactions.column("referenced_id")
    if dataset is None:
        pool_ids, pool_conversations = interactions.column("tweet_id"), conversation
    else:
        pool_ids = dataset.tweets.column("id")
        pool_conversations = dataset.tweets.column("conversation_id")
    position = pc.index_in(reference, value_set=pool_ids.combine_chunks())
    retweeted = pc.if_else(
        pc.is_valid(position),
        pc.take(pool_conversations, pc.fill_null(position, 0)),
        pc.binary_join_element_wise("rt", reference, ":"),
    )
    is_retweet = pc.and_(
        pc.fill_null(pc.equal(interactions.column("kind"), "retweet"), False),
        pc.is_valid(reference),
    )
    return pc.if_else(is_retweet, retweeted, conversation)


# ---- vectorised list columns ---------------------------------------------------------------


def _directed_at(tweets: pa.Table, everything: pa.Table) -> pa.ListArray:
    """mentions ∪ replied-to user ∪ quoted/retweeted author, in that order, minus the author."""
    n = tweets.num_rows
    mentions = tweets.column("mentions").combine_chunks()
    mention_rows = ints(pc.list_parent_indices(mentions))
    mention_ids = pc.list_flatten(mentions)

    kind = tweets.column("kind")
    position = pc.index_in(
        tweets.column("referenced_id"), value_set=everything.column("id").combine_chunks()
    )
    referenced_author = pc.take(everything.column("author_id"), position)
    is_reply = pc.fill_null(pc.equal(kind, "reply"), False)
    is_shared = pc.fill_null(pc.is_in(kind, value_set=pa.array(["quote", "retweet"])), False)
    extra = pc.if_else(
        is_reply,
        pc.coalesce(tweets.column("in_reply_to_user_id"), referenced_author),
        pc.if_else(is_shared, referenced_author, pa.scalar(None, pa.string())),
    )
    extra = extra.combine_chunks() if isinstance(extra, pa.ChunkedArray) else extra
    extra_valid = pc.is_valid(extra)
    extra_rows = np.flatnonzero(extra_valid.to_numpy(zero_copy_only=False))

    rows = np.concatenate([mention_rows, extra_rows])
    targets = pa.concat_arrays([mention_ids.cast(pa.string()), extra.filter(extra_valid)])
    order = np.argsort(rows, kind="stable")  # per tweet: mentions first, then the extra one
    rows, targets = rows[order], targets.take(pa.array(order))
    authors = tweets.column("author_id").combine_chunks().take(pa.array(rows))
    keep = pc.and_(pc.is_valid(targets), pc.fill_null(pc.not_equal(targets, authors), True))
    keep_np = keep.to_numpy(zero_copy_only=False)
    return _list_array(n, *_first_occurrences(rows[keep_np], targets.filter(keep)))


def _hashtags(tweets: pa.Table) -> pa.ListArray:
    """Lower-cased, de-duplicated hashtags (as collection stores them)."""
    tags = tweets.column("hashtags").combine_chunks()
    rows = ints(pc.list_parent_indices(tags))
    values = pc.utf8_lower(pc.list_flatten(tags))
    keep = pc.is_valid(values)
    return _list_array(
        tweets.num_rows,
        *_first_occurrences(rows[keep.to_numpy(zero_copy_only=False)], values.filter(keep)),
    )


def _engagement(tweets: pa.Table) -> pa.Array:
    total = np.zeros(tweets.num_rows, dtype=np.int64)
    for name in _ENGAGEMENT:
        total += ints(pc.fill_null(tweets.column(name), 0))
    return pa.array(total)


def _first_occurrences(rows: np.ndarray, values: pa.Array) -> tuple[np.ndarray, pa.Array]:
    """Drop repeated (row, value) pairs, keeping the first; ``rows`` must be sorted."""
    if len(rows) == 0:
        return rows, values
    codes = ints(pc.dictionary_encode(values).indices)
    key = rows * (int(codes.max()) + 1) + codes
    _, first = np.unique(key, return_index=True)
    first.sort()
    return rows[first], values.take(pa.array(first))


def _list_array(n: int, rows: np.ndarray, values: pa.Array) -> pa.ListArray:
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(np.bincount(rows, minlength=n), out=offsets[1:])
    return pa.ListArray.from_arrays(pa.array(offsets), values.cast(pa.string()))
