"""The X API v2 read endpoints the product uses, named once for the client and the emulator.

X meters each endpoint separately (per app token and 15-minute window), so both sides need
the same name for "which budget does this request spend". The limits are X's published
app-auth (bearer token) limits, as the recorded responses in ``x-api-v2-recorded`` show in
their ``x-rate-limit-limit`` headers.
"""

from __future__ import annotations

import re

#: Endpoint name → (route pattern as X documents it, app-auth requests per 15 minutes).
ENDPOINTS: dict[str, tuple[str, int]] = {
    "users_by_username": ("/2/users/by/username/:username", 300),
    "users_by": ("/2/users/by", 300),
    "user_by_id": ("/2/users/:id", 300),
    "users": ("/2/users", 300),
    "user_tweets": ("/2/users/:id/tweets", 1500),
    "user_mentions": ("/2/users/:id/mentions", 450),
    "following": ("/2/users/:id/following", 15),
    "followers": ("/2/users/:id/followers", 15),
    "tweets": ("/2/tweets", 300),
    "tweet_by_id": ("/2/tweets/:id", 300),
    "quote_tweets": ("/2/tweets/:id/quote_tweets", 75),
    "retweeted_by": ("/2/tweets/:id/retweeted_by", 75),
    "search_recent": ("/2/tweets/search/recent", 450),
}

#: X's rate-limit window for all of the above, in seconds.
DEFAULT_WINDOW_S = 15 * 60

DEFAULT_LIMITS: dict[str, int] = {name: limit for name, (_, limit) in ENDPOINTS.items()}

_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^/2/users/by/username/[^/]+$"), "users_by_username"),
    (re.compile(r"^/2/users/by$"), "users_by"),
    (re.compile(r"^/2/users$"), "users"),
    (re.compile(r"^/2/users/[^/]+/tweets$"), "user_tweets"),
    (re.compile(r"^/2/users/[^/]+/mentions$"), "user_mentions"),
    (re.compile(r"^/2/users/[^/]+/following$"), "following"),
    (re.compile(r"^/2/users/[^/]+/followers$"), "followers"),
    (re.compile(r"^/2/users/[^/]+$"), "user_by_id"),
    (re.compile(r"^/2/tweets/search/recent$"), "search_recent"),
    (re.compile(r"^/2/tweets$"), "tweets"),
    (re.compile(r"^/2/tweets/[^/]+/quote_tweets$"), "quote_tweets"),
    (re.compile(r"^/2/tweets/[^/]+/retweeted_by$"), "retweeted_by"),
    (re.compile(r"^/2/tweets/[^/]+$"), "tweet_by_id"),
]


def endpoint_of(path: str) -> str | None:
    """The endpoint name of a request path (``/2/users/42/tweets`` → ``user_tweets``)."""
    path = path.rstrip("/") or "/"
    for pattern, name in _PATTERNS:
        if pattern.match(path):
            return name
    return None
