"""The X API v2 read endpoints the product uses and their rate limits: the one limits table.

X meters each endpoint separately (per app token and 15-minute window), so the client, the
collector, the plan and the emulator need the same name for "which budget does this request
spend". The limits are X's published **app-only (bearer token)** limits per 15 minutes:

* source: X's rate-limit table, https://docs.x.com/x-api/fundamentals/rate-limits
  (``x-api/fundamentals/rate-limits.mdx`` of github.com/xdevplatform/docs, commit
  0bfed9f09b71), as read on :data:`LIMITS_AS_OF`.

The recordings in ``x-api-v2-recorded`` carry older values in their ``x-rate-limit-limit``
headers (2021–22: following 15, user timelines 1,500 per 15 minutes — what the legacy
Basic/Pro plans still show); an account on such a plan overrides the table
(``collection.rateLimits`` in a spec, ``DWT_X_RATE_LIMITS`` in the settings), and the
collector learns each key's real limit from the headers anyway (:mod:`dwt.collect.learned`).
Prices are the other table, :mod:`dwt.xapi.prices`.
"""

from __future__ import annotations

import re

#: When the table below was read from X's documentation.
LIMITS_AS_OF = "2026-09"
LIMITS_SOURCE = "https://docs.x.com/x-api/fundamentals/rate-limits"

#: Endpoint name → (route pattern as X documents it, app-only requests per 15 minutes).
ENDPOINTS: dict[str, tuple[str, int]] = {
    "users_by": ("/2/users/by", 300),
    "users": ("/2/users", 300),
    "user_tweets": ("/2/users/:id/tweets", 10_000),
    "following": ("/2/users/:id/following", 300),
}

#: X's rate-limit window for all of the above, in seconds.
DEFAULT_WINDOW_S = 15 * 60

DEFAULT_LIMITS: dict[str, int] = {name: limit for name, (_, limit) in ENDPOINTS.items()}

_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^/2/users/by$"), "users_by"),
    (re.compile(r"^/2/users$"), "users"),
    (re.compile(r"^/2/users/[^/]+/tweets$"), "user_tweets"),
    (re.compile(r"^/2/users/[^/]+/following$"), "following"),
]


def endpoint_of(path: str) -> str | None:
    """The endpoint name of a request path (``/2/users/42/tweets`` → ``user_tweets``)."""
    path = path.rstrip("/") or "/"
    for pattern, name in _PATTERNS:
        if pattern.match(path):
            return name
    return None


def parse_limits(text: str) -> dict[str, int]:
    """``"following=15,user_tweets=1500"`` → ``{"following": 15, "user_tweets": 1500}``;
    a clear :class:`ValueError` for an unknown endpoint or a limit below 1."""
    limits: dict[str, int] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or name not in ENDPOINTS:
            raise ValueError(
                f"{item!r}: expected ENDPOINT=REQUESTS with ENDPOINT one of {', '.join(ENDPOINTS)}"
            )
        try:
            limits[name] = int(value)
        except ValueError:
            raise ValueError(f"{item!r}: the limit must be a whole number") from None
        if limits[name] < 1:
            raise ValueError(f"{item!r}: the limit must be at least 1")
    return limits
