"""A collector for one API key: fetches one page per call, stores it, says what happened.

Runs as a Ray actor (one per key × workersPerKey) or as a thread in-process; the code is
the same. It never sleeps through a rate-limit window — a spent budget is answered at
once with ``deferred`` so the driver can give the work to another key — and it retries
transient server errors a few times with exponential backoff before reporting them.

It writes what it fetched itself — the page's tweets and accounts (idempotent upserts)
and the account's checkpoint, in one transaction (:func:`dwt.collect.state.record_page`)
— and answers the driver with counts: pages never travel back to the driver, which only
schedules.
"""

from __future__ import annotations

import logging
import random
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from pymongo.errors import PyMongoError

from dwt.collect.items import Budget, Kind, Outcome, WorkItem
from dwt.collect.keys import KeySource
from dwt.collect.state import record_page, record_unavailable
from dwt.store import Store, StoreError
from dwt.store.ref import StoreRef
from dwt.xapi.client import Page, RateLimit, XClient
from dwt.xapi.errors import (
    AccountUnavailable,
    BillingRefused,
    ForbiddenKey,
    InvalidRequest,
    RateLimited,
    TransientServerError,
    UnauthorizedKey,
)

log = logging.getLogger(__name__)


class KeyWorker:
    """Fetches pages with one key. ``retries`` transient failures are retried in place."""

    def __init__(
        self,
        keys: KeySource,
        key_id: str,
        base_url: str,
        *,
        page_size: int = 100,
        retries: int = 3,
        backoff_s: float = 0.25,
        timeout_s: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        store: Store | StoreRef | None = None,
    ) -> None:
        self.key_id = key_id
        self._store = store
        self._accounts_seen: set[str] = set()  # accounts this collector already wrote
        token = keys.token(key_id, keys.wait_s, told=lambda line: log.warning("%s", line))
        self.client = XClient(token, base_url=base_url, timeout=timeout_s)
        self.page_size = page_size
        self.retries = retries
        self.backoff_s = backoff_s
        self._sleep = sleep
        self._random = random.Random(key_id)

    def __repr__(self) -> str:
        return f"KeyWorker({self.key_id})"

    def fetch(self, item: WorkItem) -> Outcome:
        """Fetch ``item``'s page and store it; every failure becomes an :class:`Outcome`,
        none raises."""
        started = time.perf_counter()
        outcome = self._fetch(item)
        seconds = time.perf_counter() - started
        return self._stored(replace(outcome, seconds=seconds, count=len(outcome.data)))

    @property
    def store(self) -> Store | None:
        if isinstance(self._store, StoreRef):
            self._store = self._store.open()  # in the actor's process, once
        return self._store

    def _stored(self, outcome: Outcome) -> Outcome:
        """Write what ``outcome`` brought (the page and its checkpoint, or an account that
        cannot be read) and keep only counts; a page that cannot be stored fails, with
        what X billed for it."""
        store = self.store
        if store is None or outcome.status not in ("fetched", "unavailable"):
            return outcome
        started = time.perf_counter()
        now = datetime.now(UTC)
        try:
            if outcome.status == "unavailable":
                record_unavailable(store, outcome.item, outcome.reason or "not_found", now)
                return replace(outcome, stored=True)
            written, complete = record_page(store, outcome, now, self._accounts_seen)
        except (StoreError, sqlite3.Error, PyMongoError) as exc:
            log.warning("%s: storing a page of %s failed: %s", self.key_id, outcome.item, exc)
            return replace(
                outcome,
                status="failed",
                data=[],
                includes={},
                message=f"storing the page failed: {exc}",
            )
        return replace(
            outcome,
            data=[],
            includes={},
            inserted=written.inserted,
            complete=complete,
            stored=True,
            store_seconds=time.perf_counter() - started,
        )

    def _fetch(self, item: WorkItem) -> Outcome:
        known = self.client.rate_limit(item.endpoint)
        if known and known.remaining == 0 and known.reset_at and known.reset_at > time.time():
            return self._outcome(item, "deferred", 0, until=known.reset_at)  # no wasted 429
        requests = 0
        while True:
            requests += 1
            try:
                page = next(self._pages(item), None)
            except RateLimited as exc:
                return self._outcome(item, "deferred", requests, until=exc.reset_at)
            except BillingRefused as exc:
                return self._outcome(item, "refused", requests, message=str(exc), retryable=False)
            except AccountUnavailable as exc:
                return self._outcome(item, "unavailable", requests, reason=exc.reason)
            except (UnauthorizedKey, ForbiddenKey) as exc:
                return self._outcome(
                    item, "key_rejected", requests, message=str(exc), retryable=False
                )
            except InvalidRequest as exc:
                return self._outcome(item, "failed", requests, message=str(exc), retryable=False)
            except TransientServerError as exc:
                if requests > self.retries:
                    return self._outcome(item, "failed", requests, message=str(exc))
                delay = self.backoff_s * 2 ** (requests - 1) * (0.5 + self._random.random())
                log.info("%s: %s; retry %d in %.2fs", self.key_id, exc, requests, delay)
                self._sleep(delay)
                continue
            if page is None:  # an empty answer: nothing in the window
                return self._outcome(item, "fetched", requests)
            return Outcome(
                item=item,
                key_id=self.key_id,
                status="fetched",
                data=page.data,
                includes=page.includes,
                next_token=page.next_token,
                newest_id=page.meta.get("newest_id"),
                budget=_budget(page.rate),
                requests=requests,
            )

    def _pages(self, item: WorkItem) -> Iterator[Page]:
        if item.kind is Kind.FOLLOWING:
            return self.client.following_pages(
                item.account_id, pagination_token=item.pagination_token
            )
        return self.client.user_tweets_pages(
            item.account_id,
            start_time=_time(item.start_time),
            end_time=_time(item.end_time),
            since_id=item.since_id,
            pagination_token=item.pagination_token,
            max_results=self.page_size,
        )

    def _outcome(self, item: WorkItem, status: str, requests: int, **fields: Any) -> Outcome:
        return Outcome(
            item=item,
            key_id=self.key_id,
            status=status,
            budget=_budget(self.client.rate_limit(item.endpoint)),
            requests=requests,
            **fields,
        )


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _budget(rate: RateLimit | None) -> Budget | None:
    return Budget(rate.limit, rate.remaining, rate.reset_at) if rate else None
