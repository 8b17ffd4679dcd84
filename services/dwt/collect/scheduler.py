"""The driver side of collection: hand pages to whichever key can fetch them now.

Work sits in one queue per endpoint in the driver, not in the workers, so a key whose
budget is spent never holds work another key could do. Before dispatching, the scheduler
checks the key's budget as the API last reported it (minus requests already in flight);
when no key can take any queued work it blocks until the earliest reset, or until an
in-flight page comes back — never a busy loop, never a fixed sleep. The collectors store
the pages they fetch and move the checkpoints themselves (:mod:`dwt.collect.worker`); the
driver only schedules, on the counts they answer with.

X bills every resource a page returns (:mod:`dwt.xapi.prices`): each post of a timeline
page, each account of a follow-list page; the report counts them (``report.charges``). With
a cap — ``max_spend_usd`` (dollars, every charge) or ``max_post_reads`` — a page is sent
only while the charges so far, plus the most every page in flight and this one can cost (a
full timeline page; a follow-list page of the accounts its list has left, as last known),
stay within it. The first page of an endpoint that does not fit closes that endpoint: its
work left is recorded (``report.skipped``) and the other endpoints go on while theirs fit.
A refusal from X's bill (429 ``UsageCapExceeded``, 402 ``CreditsDepleted``) closes every
endpoint at once. Either way the pages in flight are stored and ``report.capped`` says why;
checkpoints stay in the store, so the next run resumes.

A 429 without rate-limit headers (X's edge shedding load) says nothing about when to come
back: that key and endpoint back off, doubling from :data:`THROTTLE_BACKOFF_S` up to a
ceiling, and when no request has succeeded for ``give_up_s`` while they keep coming, the run
stops sending and says so (``report.gave_up``) instead of retrying forever.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from dwt.collect.items import Budget, Kind, Outcome, WorkItem
from dwt.collect.pool import Pool
from dwt.xapi.prices import Charges, Resource, Tariff

log = logging.getLogger(__name__)

#: Following first: its budget is the scarce one (dwt.xapi.endpoints: 300 requests per 15
#: minutes against the timeline's 10,000), so a key that may send one should never leave it
#: unspent behind timeline pages; the timelines take the rest.
ENDPOINT_ORDER = ("following", "user_tweets")
#: What X bills for each item a page of a kind returns.
_RESOURCE = {Kind.TIMELINE: Resource.POST, Kind.FOLLOWING: Resource.FOLLOWING}
#: Seconds in a UTC day: X bills each resource once per UTC day.
_DAY_S = 86_400
#: The most accounts one follow-list page returns (``max_results``).
FOLLOWING_PAGE = 1000
#: First wait after a 429 without rate-limit headers; it doubles per further one, up to the
#: ceiling (``backoff_ceiling_s``).
THROTTLE_BACKOFF_S = 1.0


class AllKeysRejectedError(RuntimeError):
    """Every API key was refused by X (401/403); nothing more can be collected."""


class WorkersFailedError(RuntimeError):
    """Every collector keeps dying (e.g. it cannot read its key on its node)."""


#: A slot whose worker dies this many times in a row is given up on.
MAX_CONSECUTIVE_DEATHS = 3


@dataclass
class KeyReport:
    requests: int = 0
    pages: int = 0
    disabled: str | None = None
    budgets: dict[str, Budget] = field(default_factory=dict)


@dataclass
class CollectReport:
    """What a collection did; ``failed`` lists (account, kind, message) given up on."""

    accounts: int = 0
    done: int = 0
    tweets: int = 0
    new_tweets: int = 0
    follows: int = 0
    requests: int = 0
    unavailable: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    failed: list[tuple[str, str, str]] = field(default_factory=list)
    requeued_lost: int = 0  # items whose worker died mid-request
    stopped: bool = False  # asked to stop before the work was done
    capped: bool = False  # stopped at a cap (ours or X's): ``cap_reason`` says which
    cap_reason: str | None = None
    refused_by_x: bool = False  # X's bill refused (monthly post cap, credits)
    gave_up: str | None = None  # why the run stopped sending (header-less 429s), a sentence
    skipped: dict[str, list[str]] = field(default_factory=dict)  # endpoint → accounts left
    keys: dict[str, KeyReport] = field(default_factory=dict)
    seconds: float = 0.0
    charges: Charges = field(default_factory=Charges)  # what X billed, by resource
    follow_lists: int = 0  # follow lists read to their end
    #: endpoint → requests, seconds the workers spent on them (``http_s``), the driver spent
    #: storing their pages (``store_s``), and from dispatch to stored (``cycle_s``: what a
    #: collector's turn takes, the driver's queue and Ray's round trip included)
    timing: dict[str, dict[str, float]] = field(default_factory=dict)


class Scheduler:
    """Runs work items to completion on a :class:`Pool` (whose collectors store the pages).

    ``on_progress(report, waiting_s, eta_s)`` is called at most every ``progress_every``
    seconds and once at the end.
    """

    def __init__(
        self,
        pool: Pool,
        *,
        max_attempts: int = 5,
        on_progress: Callable[[CollectReport, float, float | None], None] | None = None,
        progress_every: float = 1.0,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        max_post_reads: int | None = None,
        page_size: int = 100,
        tariff: Tariff | None = None,
        max_spend_usd: float | None = None,
        cap_reason: str = "",
        posts_reason: str = "",
        list_sizes: dict[str, int] | None = None,
        give_up_s: float = 240.0,
        backoff_ceiling_s: float = 60.0,
    ) -> None:
        if max_post_reads is not None and max_post_reads < 0:
            raise ValueError(f"max_post_reads must be >= 0, got {max_post_reads}")
        if max_spend_usd is not None and not max_spend_usd >= 0:
            raise ValueError(f"max_spend_usd must be >= 0, got {max_spend_usd}")
        if page_size < 1:
            raise ValueError(f"page_size must be >= 1, got {page_size}")
        if not give_up_s > 0 or not backoff_ceiling_s > 0:
            raise ValueError("give_up_s and backoff_ceiling_s must be > 0")
        self.max_post_reads = max_post_reads
        self.page_size = page_size
        self.tariff = tariff or Tariff()
        self.max_spend_usd = max_spend_usd
        self.cap_reason = cap_reason or (
            f"the spend cap of ${max_spend_usd:,.2f}" if max_spend_usd is not None else ""
        )
        self.posts_reason = posts_reason or (
            f"the cap of {max_post_reads:,} post reads" if max_post_reads is not None else ""
        )
        self.list_sizes = dict(list_sizes or {})
        self.give_up_s = give_up_s
        self.backoff_ceiling_s = backoff_ceiling_s
        self._listed: dict[str, int] = defaultdict(int)  # account → list accounts read (pass)
        self._streak: dict[tuple[str, str], int] = defaultdict(int)  # header-less 429s
        self._throttled_since: float | None = None
        self._throttled = 0
        self._closed: set[str] = set()  # endpoints closed by a cap
        self._sent: dict[Any, float] = {}  # handle → when it was dispatched
        self.pool = pool
        self.max_attempts = max_attempts
        self.on_progress = on_progress
        self.progress_every = progress_every
        self._clock = clock
        self._sleep = sleep
        self._blocked: dict[tuple[str, str], float] = {}  # (key, endpoint) → until
        self._budget: dict[tuple[str, str], Budget] = {}
        self._deaths: dict[int, int] = defaultdict(int)  # slot → consecutive deaths
        self._dead: dict[int, str] = {}  # slot → why it was given up on
        # (page, UTC day) → what X billed for it when it was read but could not be stored
        self._unstored: dict[tuple[WorkItem, int], int] = {}

    # ---- budgets --------------------------------------------------------------------------

    def _blocked_until(self, key: str, endpoint: str, now: float, in_flight: int) -> float:
        """0 if ``key`` may send an ``endpoint`` request now, else when it may again."""
        until = self._blocked.get((key, endpoint), 0.0)
        if until > now:
            return until
        budget = self._budget.get((key, endpoint))
        spent = (
            budget is not None
            and budget.remaining is not None
            and (budget.remaining - in_flight <= 0)
        )
        if spent and budget.reset_at and budget.reset_at > now:
            return budget.reset_at
        return 0.0

    # ---- the loop -------------------------------------------------------------------------

    def run(self, items: Iterable[WorkItem], stop: threading.Event | None = None) -> CollectReport:
        """Run ``items`` (and their continuations) to the end, or until ``stop`` is set:
        then nothing new is sent, pages in flight are still stored, and ``report.stopped``
        is true (checkpoints let a later run go on from there)."""
        started = self._clock()
        report = CollectReport()
        report.keys = {key: KeyReport() for key in dict.fromkeys(self.pool.key_ids)}
        queues: dict[str, deque[WorkItem]] = {e: deque() for e in ENDPOINT_ORDER}
        pending: dict[str, int] = defaultdict(int)  # open items per account
        for item in items:
            queues[item.endpoint].append(item)
            pending[item.account_id] += 1
        report.accounts = len(pending)
        in_flight: dict[Any, tuple[int, WorkItem]] = {}
        last_progress = 0.0
        waiting = 0.0

        while True:
            now = self._clock()
            if stop is not None and stop.is_set():
                report.stopped = True
                queues = {e: deque() for e in ENDPOINT_ORDER}  # drain what is in flight
            if self._gives_up(now) and report.gave_up is None:
                report.gave_up = self._give_up_message(now)
                log.error("%s", report.gave_up)
            if report.gave_up is not None:
                _record_skipped(report, queues)  # what the next run resumes
                queues = {e: deque() for e in ENDPOINT_ORDER}  # drain what is in flight
            wake = self._dispatch(queues, in_flight, report, now)
            if self._throttled_since is not None:  # wake up to give up in time
                deadline = self._throttled_since + self.give_up_s
                wake = min(wake, deadline) if wake else deadline
            for endpoint in self._closed:
                if queues.get(endpoint):
                    _record_skipped(report, {endpoint: queues[endpoint]})
                    queues[endpoint] = deque()  # drain what is in flight
            if not in_flight:
                if not any(queues.values()):
                    break
                if all(k.disabled for k in report.keys.values()):
                    raise AllKeysRejectedError(_rejected_message(report))
                if len(self._dead) == len(self.pool.key_ids):
                    causes = "; ".join(sorted(set(self._dead.values())))
                    raise WorkersFailedError(f"every collector failed: {causes}")
                pause = max(0.0, wake - now) + 0.01
                waiting = pause
                self._progress(report, started, waiting)
                if stop is not None:
                    stop.wait(pause)
                else:
                    self._sleep(pause)
                continue
            timeout = max(0.0, wake - now) + 0.01 if wake else None
            for handle, result in self.pool.wait(list(in_flight), timeout):
                slot, item = in_flight.pop(handle)
                sent = self._sent.pop(handle, None)
                self._handle(slot, item, result, queues, pending, report)
                if sent is not None:  # dispatch to stored: what a collector's turn takes
                    timing = report.timing.get(item.endpoint)
                    if timing is not None:
                        timing["cycle_s"] = timing.get("cycle_s", 0.0) + (
                            time.perf_counter() - sent
                        )
            waiting = 0.0
            if self._clock() - last_progress >= self.progress_every:
                self._progress(report, started, waiting)
                last_progress = self._clock()
        report.seconds = self._clock() - started
        self._progress(report, started, 0.0)
        return report

    # ---- header-less 429s ---------------------------------------------------------------

    def _gives_up(self, now: float) -> bool:
        since = self._throttled_since
        return since is not None and now - since >= self.give_up_s

    def _give_up_message(self, now: float) -> str:
        waited = now - (self._throttled_since or now)
        return (
            f"X answered {self._throttled} request(s) with 429 and no rate-limit headers "
            f"and none succeeded for {waited:.0f}s; collection stopped (what was read is "
            "stored, the next run resumes)"
        )

    def _dispatch(
        self,
        queues: dict[str, deque[WorkItem]],
        in_flight: dict[Any, tuple[int, WorkItem]],
        report: CollectReport,
        now: float,
    ) -> float:
        """Give queued items to idle slots whose key can spend; returns the earliest time a
        blocked key frees up for queued work (0 if none is blocked)."""
        busy = {slot for slot, _ in in_flight.values()}
        flying: dict[tuple[str, str], int] = defaultdict(int)
        for slot, item in in_flight.values():
            flying[self.pool.key_ids[slot], item.endpoint] += 1
        wake = 0.0
        reserved = Charges()
        for _, item in in_flight.values():
            reserved += self._most(item)
        for slot, key in enumerate(self.pool.key_ids):
            if slot in busy or slot in self._dead or report.keys[key].disabled:
                continue
            for endpoint in ENDPOINT_ORDER:
                if not queues[endpoint] or endpoint in self._closed:
                    continue
                most = self._most(queues[endpoint][0])
                over = self._over(report, reserved + most)
                if over is not None:
                    self._close_endpoint(endpoint, report, over)
                    continue
                until = self._blocked_until(key, endpoint, now, flying[key, endpoint])
                if until:
                    wake = until if not wake else min(wake, until)
                    continue
                item = queues[endpoint].popleft()
                handle = self.pool.submit(slot, item)
                in_flight[handle] = (slot, item)
                self._sent[handle] = time.perf_counter()
                flying[key, endpoint] += 1
                reserved += most
                break
        return wake

    def _most(self, item: WorkItem) -> Charges:
        """The most one page of ``item`` can be billed: a full timeline page, or the
        accounts its follow list has left as last known (a full page when unknown)."""
        if item.kind is Kind.TIMELINE:
            return Charges(posts=self.page_size)
        size = self.list_sizes.get(item.account_id)
        left = FOLLOWING_PAGE if size is None else max(1, size - self._listed[item.account_id])
        return Charges(following_accounts=min(FOLLOWING_PAGE, left))

    def _over(self, report: CollectReport, planned: Charges) -> str | None:
        """The cap the charges so far plus ``planned`` would pass (None: within them)."""
        total = report.charges + planned
        if self.max_post_reads is not None and total.posts > self.max_post_reads:
            return self.posts_reason
        cap = self.max_spend_usd
        if cap is not None and total.usd(self.tariff) > cap + 1e-9:
            return self.cap_reason
        return None

    def _close_endpoint(self, endpoint: str, report: CollectReport, reason: str) -> None:
        """Send nothing more on ``endpoint``: its next page would pass a cap."""
        self._closed.add(endpoint)
        report.capped = True
        report.cap_reason = report.cap_reason or reason
        log.warning("no more %s requests: the next could pass %s", endpoint, reason)

    def _handle(
        self,
        slot: int,
        item: WorkItem,
        result: Outcome | BaseException,
        queues: dict[str, deque[WorkItem]],
        pending: dict[str, int],
        report: CollectReport,
    ) -> None:
        key = self.pool.key_ids[slot]
        queue = queues[item.endpoint]
        if not isinstance(result, Outcome):  # the worker died: the request may be lost
            log.warning("collector %s lost %s/%s: %s", key, item.kind, item.account_id, result)
            report.requeued_lost += 1
            self._deaths[slot] += 1
            if self._deaths[slot] >= MAX_CONSECUTIVE_DEATHS:
                self._dead[slot] = _first_line(result)
            queue.appendleft(item)  # not the item's fault: no attempt is counted
            return
        self._deaths[slot] = 0
        keys = report.keys[key]
        keys.requests += result.requests
        report.requests += result.requests
        if result.budget is not None:
            keys.budgets[item.endpoint] = result.budget
            self._budget[key, item.endpoint] = result.budget
        timing = report.timing.setdefault(
            item.endpoint, {"requests": 0, "http_s": 0.0, "store_s": 0.0, "cycle_s": 0.0}
        )
        timing["requests"] += result.requests
        timing["http_s"] += result.seconds
        timing["store_s"] += result.store_seconds  # the collector stored the page
        if result.status == "failed" and result.count:  # read (and billed), not stored
            self._charge(item, result.count, report, stored=False)
        if result.status == "fetched":
            keys.pages += 1
            self._streak.pop((key, item.endpoint), None)
            self._throttled_since = None
            self._charge(item, result.count, report, stored=True)
            if item.kind is Kind.TIMELINE:
                report.tweets += result.count
                report.new_tweets += result.inserted
            else:
                report.follows += result.count
                self._listed[item.account_id] += result.count
                report.follow_lists += bool(result.complete)
            if result.next_token:
                queue.appendleft(item.next_page(result.next_token))  # finish accounts first
            elif result.complete:
                self._close(item, pending, report)
        elif result.status == "deferred" and result.until is None:
            self._back_off(key, item.endpoint)
            queue.appendleft(item)
        elif result.status == "deferred":
            self._blocked[key, item.endpoint] = result.until
            queue.appendleft(item)
        elif result.status == "refused":
            queue.appendleft(item)
            self._refused(result.message or "X refused to serve more", report)
        elif result.status == "unavailable":  # the collector marked the account
            report.unavailable[result.reason or "not_found"] += 1
            self._close(item, pending, report)
        elif result.status == "key_rejected":
            keys.disabled = result.message or "rejected"
            log.error("disabling %s: %s", key, keys.disabled)
            queue.appendleft(item)
        elif item.pagination_token and not result.retryable:
            # A page token X no longer accepts: restart the pass (writes are idempotent).
            queue.appendleft(
                WorkItem(item.kind, item.account_id, item.start_time, item.end_time, item.since_id)
            )
        elif result.retryable:
            self._retry(item, result.message or "failed", queue, pending, report)
        else:
            self._give_up(item, result.message or "failed", pending, report)

    def _charge(self, item: WorkItem, count: int, report: CollectReport, stored: bool) -> None:
        """Count what X bills for a page of ``count`` items. X bills a resource once per UTC
        day, so a page read again the same day because its collector could not store it is
        charged only for what it returns beyond the earlier read."""
        page = (replace(item, attempt=0), int(self._clock() // _DAY_S))
        earlier = self._unstored.pop(page, 0) if stored else self._unstored.get(page, 0)
        report.charges.add(_RESOURCE[item.kind], max(0, count - earlier))
        if not stored:
            self._unstored[page] = max(earlier, count)

    def _back_off(self, key: str, endpoint: str) -> None:
        """A 429 without rate-limit headers: wait, doubling per further one, to a ceiling."""
        self._streak[key, endpoint] += 1
        self._throttled += 1
        now = self._clock()
        if self._throttled_since is None:
            self._throttled_since = now
        delay = THROTTLE_BACKOFF_S * 2 ** (self._streak[key, endpoint] - 1)
        self._blocked[key, endpoint] = now + min(self.backoff_ceiling_s, delay)

    def _refused(self, message: str, report: CollectReport) -> None:
        """X's bill refuses every key: close every endpoint at once, with X's words."""
        if not report.refused_by_x:
            report.refused_by_x = True
            report.capped = True
            report.cap_reason = message
            log.error("collection stopped: %s", message)
        self._closed.update(ENDPOINT_ORDER)

    def _retry(
        self,
        item: WorkItem,
        message: str,
        queue: deque[WorkItem],
        pending: dict[str, int],
        report: CollectReport,
    ) -> None:
        if item.attempt + 1 >= self.max_attempts:
            self._give_up(item, message, pending, report)
        else:
            queue.append(item.retried())  # behind the rest: give the server a moment

    def _give_up(
        self, item: WorkItem, message: str, pending: dict[str, int], report: CollectReport
    ) -> None:
        log.error("giving up on %s of %s: %s", item.kind, item.account_id, message)
        report.failed.append((item.account_id, item.kind.value, message))
        self._close(item, pending, report)

    @staticmethod
    def _close(item: WorkItem, pending: dict[str, int], report: CollectReport) -> None:
        pending[item.account_id] -= 1
        if pending[item.account_id] == 0:
            report.done += 1

    def _progress(self, report: CollectReport, started: float, waiting: float) -> None:
        if self.on_progress is None:
            return
        elapsed = self._clock() - started
        rate = report.done / elapsed if elapsed > 0 and report.done else 0.0
        eta = (report.accounts - report.done) / rate if rate else None
        self.on_progress(report, waiting, eta)


def _record_skipped(report: CollectReport, queues: dict[str, deque[WorkItem]]) -> None:
    """Add the accounts of the items left in ``queues`` to ``report.skipped`` (once each)."""
    for endpoint, queue in queues.items():
        if not queue:
            continue
        left = report.skipped.setdefault(endpoint, [])
        seen = set(left)
        for item in queue:
            if item.account_id not in seen:
                seen.add(item.account_id)
                left.append(item.account_id)


def _first_line(error: BaseException) -> str:
    lines = [line for line in str(error).splitlines() if line.strip()]
    return lines[-1][:300] if lines else type(error).__name__


def _rejected_message(report: CollectReport) -> str:
    reasons = "; ".join(f"{k}: {r.disabled}" for k, r in report.keys.items())
    return f"every API key was refused by X ({reasons})"
