"""Work items (one API request each) and what a worker reports back.

An item is one page: an account's timeline window (or its continuation from a pagination
token), or one page of the accounts it follows. Items carry no secrets and are small, so
they travel between the driver and Ray actors cheaply.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from typing import Any


class Kind(enum.StrEnum):
    TIMELINE = "timeline"
    FOLLOWING = "following"


#: The X API endpoint (budget) each kind of item spends (names of dwt.xapi.endpoints).
ENDPOINT = {Kind.TIMELINE: "user_tweets", Kind.FOLLOWING: "following"}


@dataclass(frozen=True, slots=True)
class WorkItem:
    """One page to fetch. ``attempt`` counts earlier tries that failed transiently."""

    kind: Kind
    account_id: str
    start_time: str | None = None  # ISO 8601, timelines only
    end_time: str | None = None
    since_id: str | None = None
    pagination_token: str | None = None
    attempt: int = 0

    @property
    def endpoint(self) -> str:
        return ENDPOINT[self.kind]

    def next_page(self, token: str) -> WorkItem:
        return replace(self, pagination_token=token, attempt=0)

    def retried(self) -> WorkItem:
        return replace(self, attempt=self.attempt + 1)


@dataclass(frozen=True, slots=True)
class Budget:
    """What the key's last response said about an endpoint's budget."""

    limit: int | None
    remaining: int | None
    reset_at: float | None


@dataclass(frozen=True, slots=True)
class Outcome:
    """A worker's answer for one item.

    ``status`` is one of: ``fetched`` (``data``/``includes``/``next_token`` set),
    ``deferred`` (the key's budget is spent until ``until``; ``until`` None: X gave no reset
    time), ``unavailable`` (the account is ``reason``: protected/suspended/not_found),
    ``key_rejected`` (401/403: retire the key), ``refused`` (X's bill stops every key: the
    monthly post cap or the credit balance, ``message`` in X's words), ``failed`` (transient
    errors outlasted the worker's retries, or a bad request, or the page could not be
    stored). ``seconds``: time spent on the request(s), retries included.

    The collector stores what it fetched itself (:meth:`KeyWorker.fetch`): the driver gets
    ``count`` (posts or accounts the page returned: what X billed), ``inserted`` (new
    tweets), whether the pass is ``complete``, and ``store_seconds``; ``data`` stays empty.
    """

    item: WorkItem
    key_id: str
    status: str
    data: list[dict[str, Any]] = field(default_factory=list)
    includes: dict[str, Any] = field(default_factory=dict)
    next_token: str | None = None
    newest_id: str | None = None
    budget: Budget | None = None
    until: float | None = None
    reason: str | None = None
    message: str | None = None
    retryable: bool = True
    requests: int = 0  # HTTP requests this answer cost (retries included)
    seconds: float = 0.0
    count: int = 0  # posts or accounts the page returned
    inserted: int = 0  # tweets new to the store
    complete: bool = False  # the account's pass is done
    stored: bool = False  # the collector wrote the page and moved the checkpoint
    store_seconds: float = 0.0
