"""One function per X API v2 endpoint: validated query in, v2 response body out (HTTP 200).

Parameter problems raise :class:`~.problems.InvalidRequest` (400). Resource problems —
an account that is protected, suspended or gone — are answered the way X answers them: a
200 whose ``errors`` list says what could not be shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from werkzeug.datastructures import MultiDict

from . import problems
from .core import Emulator
from .params import (
    ID_PATTERN,
    ID_RE,
    USERNAME_PATTERN,
    USERNAME_RE,
    Params,
    check_path_id,
    encode_token,
)
from .render import (
    MEDIA_FIELDS,
    PLACE_FIELDS,
    POLL_FIELDS,
    TWEET_EXPANSIONS,
    TWEET_FIELDS,
    USER_EXPANSIONS,
    USER_FIELDS,
)
from .store import ACTIVE, PROTECTED, REPLY, RETWEET, SUSPENDED

Body = dict[str, Any]

_FIELD_PARAMS = (
    "expansions",
    "media.fields",
    "place.fields",
    "poll.fields",
    "tweet.fields",
    "user.fields",
)
_USER_PARAMS = ("expansions", "tweet.fields", "user.fields")
#: X serves only this many of an account's most recent tweets.
TIMELINE_DEPTH = 3200


@dataclass(frozen=True)
class Fields:
    tweet: tuple[str, ...]
    user: tuple[str, ...]
    expansions: tuple[str, ...]


def _tweet_fields(p: Params) -> Fields:
    fields = Fields(
        tweet=p.csv("tweet.fields", TWEET_FIELDS),
        user=p.csv("user.fields", USER_FIELDS),
        expansions=p.csv("expansions", TWEET_EXPANSIONS),
    )
    p.csv("media.fields", MEDIA_FIELDS)
    p.csv("poll.fields", POLL_FIELDS)
    p.csv("place.fields", PLACE_FIELDS)
    return fields


def _user_fields(p: Params) -> Fields:
    return Fields(
        tweet=p.csv("tweet.fields", TWEET_FIELDS),
        user=p.csv("user.fields", USER_FIELDS),
        expansions=p.csv("expansions", USER_EXPANSIONS),
    )


def _body(
    data: Any = None,
    includes: dict | None = None,
    errors: list | None = None,
    meta: dict | None = None,
) -> Body:
    body: Body = {}
    if data:
        body["data"] = data
    if includes:
        body["includes"] = includes
    if errors:
        body["errors"] = errors
    if meta is not None:
        body["meta"] = meta
    return body


def _account_error(em: Emulator, pos: int | None, parameter: str, value: str) -> dict | None:
    """Why an account's timeline / follows cannot be served with an app token, or None."""
    state = em.index.user_state_of(pos)
    if state == ACTIVE:
        return None
    if state == PROTECTED:
        return problems.not_authorized("user", parameter, value)
    if state == SUSPENDED:
        return problems.suspended(parameter, value)
    return problems.not_found("user", parameter, value)


def _render_tweets(em: Emulator, rows: np.ndarray, f: Fields) -> tuple[list, dict, list]:
    data, located = em.renderer.tweets(
        rows, f.tweet, want_mentions="entities.mentions.username" in f.expansions
    )
    expanded = em.renderer.expand_tweets(rows, located, f.expansions, f.tweet, f.user)
    em.record_posts(rows)
    return data, expanded.includes(), list(expanded.errors.values())


# --- tweet lists ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """Filters shared by timelines and search (milliseconds, ids as numbers)."""

    start_ms: int | None = None
    end_ms: int | None = None
    since_id: int | None = None
    until_id: int | None = None

    def apply(self, em: Emulator, rows: np.ndarray) -> np.ndarray:
        ix = em.index
        keep = np.ones(len(rows), dtype=bool)
        if self.start_ms is not None:
            keep &= ix.created_ms[rows] >= self.start_ms
        if self.end_ms is not None:
            keep &= ix.created_ms[rows] < self.end_ms
        if self.since_id is not None:
            keep &= ix.tweet_id[rows] > self.since_id
        if self.until_id is not None:
            keep &= ix.tweet_id[rows] < self.until_id
        return rows[keep]


def _window(em: Emulator, p: Params) -> tuple[Window, int | None, int | None]:
    """The window the caller asked for, plus its start/end."""
    start, end = p.time_ms("start_time"), p.time_ms("end_time")
    since, until = p.snowflake("since_id"), p.snowflake("until_id")
    if start is not None and end is not None and start >= end:
        p.fail(
            "start_time",
            p.get("start_time") or "",
            f"Invalid 'start_time':'{p.get('start_time')}'. 'start_time' must be before "
            f"'end_time':'{p.get('end_time')}'",
        )
    window = Window(start_ms=start, end_ms=end, since_id=since, until_id=until)
    return window, start, end


def _tweet_page(
    em: Emulator,
    rows: np.ndarray,
    max_results: int,
    token: tuple[str, int] | None,
    f: Fields,
    *,
    id_meta: bool,
    previous: bool,
) -> Body:
    """One page of ``rows`` (already newest first) with X's ``meta``."""
    ids = em.index.tweet_id[rows]
    neg = -ids
    n = len(rows)
    if token is None:
        lo, hi = 0, min(n, max_results)
    elif token[0] == "n":  # older than the token's id
        lo = int(np.searchsorted(neg, -token[1], side="right"))
        hi = min(n, lo + max_results)
    else:  # "p": the page just newer than the token's id
        hi = int(np.searchsorted(neg, -token[1], side="left"))
        lo = max(0, hi - max_results)
    page = rows[lo:hi]
    meta: dict[str, Any] = {"result_count": len(page)}
    if len(page) and id_meta:
        meta["newest_id"] = str(int(ids[lo]))
        meta["oldest_id"] = str(int(ids[hi - 1]))
    if hi < n:
        meta["next_token"] = encode_token("n", int(ids[hi - 1]))
    if previous and lo > 0 and len(page):
        meta["previous_token"] = encode_token("p", int(ids[lo]))
    if not len(page):
        return _body(meta=meta)
    data, includes, errors = _render_tweets(em, page, f)
    return _body(data, includes, errors, meta)


def _exclude(em: Emulator, excluded: tuple[str, ...], rows: np.ndarray) -> np.ndarray:
    kind = em.index.kind[rows]
    keep = np.ones(len(rows), dtype=bool)
    if "retweets" in excluded:
        keep &= kind != RETWEET
    if "replies" in excluded:
        keep &= kind != REPLY
    return rows[keep]


_TIMELINE_PARAMS = (
    "end_time", "exclude", "expansions", "max_results", "media.fields", "pagination_token",
    "place.fields", "poll.fields", "since_id", "start_time", "tweet.fields", "until_id",
    "user.fields",
)  # fmt: skip


def user_tweets(em: Emulator, user_id: str, args: MultiDict) -> Body:
    """GET /2/users/:id/tweets — the account's latest 3200 tweets, newest first."""
    check_path_id(user_id)
    p = Params(args, _TIMELINE_PARAMS, path_params=("id",))
    f = _tweet_fields(p)
    max_results = p.integer("max_results", 5, 100, 10)
    token = p.token("pagination_token", "np")
    window, _, _ = _window(em, p)
    excluded = p.csv("exclude", ("replies", "retweets"))
    p.raise_if_invalid()
    pos = em.index.find_user(user_id)
    error = _account_error(em, pos, "id", user_id)
    if error is not None or pos is None:
        return _body(errors=[error])
    rows = em.index.by_author.get(pos)[:TIMELINE_DEPTH]
    rows = window.apply(em, _exclude(em, excluded, rows))
    return _tweet_page(em, rows, max_results, token, f, id_meta=True, previous=True)


# --- users ---------------------------------------------------------------------------------


def _lookup_error(em: Emulator, pos: int | None, parameter: str, value: str) -> dict | None:
    """Protected accounts *can* be looked up (``protected: true``); the rest cannot."""
    state = em.index.user_state_of(pos)
    if state in (ACTIVE, PROTECTED):
        return None
    if state == SUSPENDED:
        return problems.suspended(parameter, value)
    return problems.not_found("user", parameter, value)


def _users_answer(
    em: Emulator, found: list[tuple[int | None, str]], parameter: str, f: Fields, single: bool
) -> Body:
    positions, errors = [], []
    for pos, value in found:
        error = _lookup_error(em, pos, parameter, value)
        if error is None and pos is not None:
            positions.append(pos)
        elif error is not None:
            errors.append(error)
    data = em.renderer.users(positions, f.user)
    if single:
        return _body(data[0] if data else None, errors=errors)
    return _body(data, errors=errors)


def users_by(em: Emulator, args: MultiDict) -> Body:
    """GET /2/users/by?usernames=a,b."""
    p = Params(args, ("usernames", *_USER_PARAMS))
    f = _user_fields(p)
    names = p.id_list("usernames", USERNAME_RE, USERNAME_PATTERN)
    p.raise_if_invalid()
    found = [(em.index.find_username(n), n) for n in names]
    return _users_answer(em, found, "usernames", f, False)


def users(em: Emulator, args: MultiDict) -> Body:
    """GET /2/users?ids=."""
    p = Params(args, ("ids", *_USER_PARAMS))
    f = _user_fields(p)
    ids = p.id_list("ids", ID_RE, ID_PATTERN)
    p.raise_if_invalid()
    return _users_answer(em, [(em.index.find_user(i), i) for i in ids], "ids", f, False)


def _user_page(
    em: Emulator,
    positions: np.ndarray,
    max_results: int,
    token: tuple[str, int] | None,
    f: Fields,
    *,
    previous: bool,
) -> Body:
    n = len(positions)
    if token is None:
        lo, hi = 0, min(n, max_results)
    elif token[0] == "o":  # the page starting at the token's offset
        lo = min(token[1], n)
        hi = min(n, lo + max_results)
    else:  # "q": the page ending where the token's offset starts
        hi = min(token[1], n)
        lo = max(0, hi - max_results)
    page = positions[lo:hi]
    meta: dict[str, Any] = {"result_count": len(page)}
    if hi < n:
        meta["next_token"] = encode_token("o", hi)
    if previous and lo > 0:
        meta["previous_token"] = encode_token("q", lo)
    return _body(em.renderer.users(page, f.user), meta=meta)


def following(em: Emulator, user_id: str, args: MultiDict) -> Body:
    """GET /2/users/:id/following — up to 1000 accounts a page."""
    check_path_id(user_id)
    p = Params(
        args,
        ("expansions", "max_results", "pagination_token", "tweet.fields", "user.fields"),
        ("id",),
    )
    f = _user_fields(p)
    max_results = p.integer("max_results", 1, 1000, 100)
    token = p.token("pagination_token", "oq")
    p.raise_if_invalid()
    pos = em.index.find_user(user_id)
    error = _account_error(em, pos, "id", user_id)
    if error is not None or pos is None:
        return _body(errors=[error])
    listed = em.index.listed_users(em.index.following_of.get(pos))
    return _user_page(em, listed, max_results, token, f, previous=True)
