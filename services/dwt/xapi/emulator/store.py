"""Numpy indexes over a :class:`~dwt.xapi.dataset.Dataset`, built once when the emulator starts.

Every endpoint answers from these arrays: a timeline is a slice of the author's tweets sorted
newest first, a follow list a slice of the account's follows. JSON objects are only built for
the rows of the page being answered (see :mod:`.render`).

What is *visible* follows X: only tweets of active accounts are served in timelines;
protected and suspended accounts' tweets exist (an expansion says why it cannot show them);
deleted accounts and their tweets do not exist at all.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dwt.xapi.dataset import Dataset

#: User state codes (index into ``STATES``); ``DELETED`` also stands for "not in the dataset".
STATES = ("active", "protected", "suspended", "deleted")
ACTIVE, PROTECTED, SUSPENDED, DELETED = range(4)
KINDS = ("tweet", "retweet", "quote", "reply")
TWEET, RETWEET, QUOTE, REPLY = range(4)


def _array(table: pa.Table, name: str) -> pa.Array:
    column = table.column(name)
    if column.num_chunks == 0:
        return pa.array([], type=column.type)
    return column.combine_chunks()


def _positions(values: pa.Array, universe: pa.Array) -> np.ndarray:
    """Position of each value in ``universe`` (-1 when null or absent), as int64."""
    if len(values) == 0:
        return np.zeros(0, dtype=np.int64)
    found = pc.index_in(values, value_set=universe)
    return pc.fill_null(found, -1).to_numpy(zero_copy_only=False).astype(np.int64)


def _ids(values: pa.Array) -> np.ndarray:
    """Numeric snowflake ids (0 for null) — ids compare as numbers, not strings."""
    if len(values) == 0:
        return np.zeros(0, dtype=np.int64)
    return pc.fill_null(pc.cast(values, pa.int64()), 0).to_numpy(zero_copy_only=False)


def _millis(values: pa.Array) -> np.ndarray:
    if len(values) == 0:
        return np.zeros(0, dtype=np.int64)
    return pc.fill_null(pc.cast(values, pa.int64()), 0).to_numpy(zero_copy_only=False)


class Grouping:
    """Rows grouped by an integer key, each group ordered by tweet id descending."""

    def __init__(self, keys: np.ndarray, rows: np.ndarray, order_ids: np.ndarray | None) -> None:
        if order_ids is None:
            order = np.argsort(keys, kind="stable")
        else:
            order = np.lexsort((-order_ids, keys))
        self._keys = keys[order]
        self._rows = rows[order]

    def get(self, key: int) -> np.ndarray:
        lo = np.searchsorted(self._keys, key, side="left")
        hi = np.searchsorted(self._keys, key, side="right")
        return self._rows[lo:hi]


class DataIndex:
    """Read-only lookups the endpoints need; safe to share between request threads."""

    def __init__(self, dataset: Dataset) -> None:
        users, tweets, follows = dataset.users, dataset.tweets, dataset.follows

        # --- users -------------------------------------------------------------------------
        user_id_arr = _array(users, "id")
        self.user_ids: list[str] = user_id_arr.to_pylist()
        self.usernames: list[str] = _array(users, "username").to_pylist()
        self.names: list[str] = _array(users, "name").to_pylist()
        self.descriptions: list[str | None] = _array(users, "description").to_pylist()
        self.user_created_ms = _millis(_array(users, "created_at"))
        self.protected_flag: list[bool | None] = _array(users, "protected").to_pylist()
        self.user_metrics: dict[str, list[int | None]] = {
            name: _array(users, name).to_pylist()
            for name in ("followers_count", "following_count", "tweet_count", "listed_count")
        }
        states = _array(users, "state").to_pylist()
        self.user_state = np.array(
            [STATES.index(s) if s in STATES else ACTIVE for s in states], dtype=np.int8
        )
        self.user_pos: dict[str, int] = {uid: i for i, uid in enumerate(self.user_ids)}
        self.username_pos: dict[str, int] = {
            name.lower(): i for i, name in enumerate(self.usernames) if name
        }

        # --- tweets ------------------------------------------------------------------------
        self.n_tweets = tweets.num_rows
        tweet_id_arr = _array(tweets, "id")
        self.tweet_id = _ids(tweet_id_arr)
        self.tweet_id_str: pa.Array = tweet_id_arr
        self.author_pos = _positions(_array(tweets, "author_id"), user_id_arr)
        self.created_ms = _millis(_array(tweets, "created_at"))
        kinds = _positions(_array(tweets, "kind"), pa.array(KINDS))
        self.kind = np.where(kinds < 0, TWEET, kinds).astype(np.int8)
        self.ref_id = _ids(_array(tweets, "referenced_id"))
        self.ref_row = _positions(_array(tweets, "referenced_id"), tweet_id_arr)
        self.reply_to_pos = _positions(_array(tweets, "in_reply_to_user_id"), user_id_arr)
        self.text: pa.Array = _array(tweets, "text")
        self.lang: pa.Array = _array(tweets, "lang")
        self.mentions: pa.Array = _array(tweets, "mentions")
        self.hashtags: pa.Array = _array(tweets, "hashtags")
        self.reply_to_id: pa.Array = _array(tweets, "in_reply_to_user_id")
        self.referenced_id: pa.Array = _array(tweets, "referenced_id")
        self.conversation_str: pa.Array = _array(tweets, "conversation_id")
        self.tweet_metrics = {
            name: _array(tweets, name)
            for name in ("retweet_count", "reply_count", "like_count", "quote_count")
        }
        self.impressions = _array(tweets, "impression_count")
        # The columns a page renders, as one table: one take per page, not one per column.
        self._render_table = pa.table(
            {
                "id": self.tweet_id_str,
                "text": self.text,
                "lang": self.lang,
                "mentions": self.mentions,
                "hashtags": self.hashtags,
                "in_reply_to_user_id": self.reply_to_id,
                "referenced_id": self.referenced_id,
                "conversation_id": self.conversation_str,
                "impression_count": self.impressions,
                **self.tweet_metrics,
            }
        )

        author_state = np.where(
            self.author_pos >= 0, self.user_state[np.maximum(self.author_pos, 0)], DELETED
        )
        self.tweet_author_state = author_state.astype(np.int8)
        #: Tweets served in lists: written by an active account.
        self.visible = author_state == ACTIVE
        rows = np.arange(self.n_tweets, dtype=np.int64)
        vis = rows[self.visible]
        ids = self.tweet_id
        self.by_author = Grouping(self.author_pos[vis], vis, ids[vis])

        # --- follows -----------------------------------------------------------------------
        src = _positions(_array(follows, "source_id"), user_id_arr)
        dst = _positions(_array(follows, "target_id"), user_id_arr)
        known = (src >= 0) & (dst >= 0)
        src, dst = src[known], dst[known]
        self.following_of = Grouping(src, dst, None)

    # --- lookups -------------------------------------------------------------------------
    def user_state_of(self, pos: int | None) -> int:
        return DELETED if pos is None or pos < 0 else int(self.user_state[pos])

    def find_user(self, user_id: str) -> int | None:
        return self.user_pos.get(user_id)

    def find_username(self, username: str) -> int | None:
        return self.username_pos.get(username.lower())

    def listed_users(self, positions: np.ndarray) -> np.ndarray:
        """Users X shows in follow lists: existing, not suspended (protected ones appear)."""
        if len(positions) == 0:
            return positions
        state = self.user_state[positions]
        return positions[(state == ACTIVE) | (state == PROTECTED)]

    def tweet_columns(self, rows: np.ndarray) -> dict[str, list[Any]]:
        """The rendered columns of tweet ``rows``, as Python lists (one take for all)."""
        taken = self._render_table.take(pa.array(np.asarray(rows, dtype=np.int64)))
        return taken.to_pydict()
