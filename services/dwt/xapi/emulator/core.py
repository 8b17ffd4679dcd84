"""The emulator's state: indexed data, clock, keys, budgets, injected faults and counters.

One :class:`Emulator` serves one dataset; the Flask app (:mod:`.app`) is a thin layer over it.
Everything here is thread-safe: werkzeug serves each request on its own thread.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from dwt.xapi.dataset import Dataset, shift_time
from dwt.xapi.prices import Resource

from .auth import KeyState, TokenRegistry
from .billing import Billing
from .config import EmulatorConfig
from .faults import FaultInjector
from .ratelimit import RateLimiter
from .render import Renderer
from .store import DataIndex


class Emulator:
    """X API v2 as a dataset would answer it.

    With ``shift_to_now`` the dataset's ``meta["now"]`` becomes the moment the emulator was
    created, so "the last seven days" of search and collection windows cover the generated
    week: the world is moved once (:func:`~dwt.xapi.dataset.shift_time`: timestamps, and
    tweet ids with them, as X's ids carry their time) and served as moved. ``dataset`` is
    what is served; ``shift_ms`` says how far it moved.
    """

    def __init__(
        self, dataset: Dataset, config: EmulatorConfig, clock: Callable[[], float] = time.time
    ) -> None:
        self.config = config
        self.clock = clock
        self.started_at = clock()
        started_ms = int(self.started_at * 1000)
        now_ms = _dataset_now_ms(dataset)
        self.shift_ms = started_ms - now_ms if config.shift_to_now and now_ms is not None else 0
        self.dataset = shift_time(dataset, self.shift_ms)
        self.index = DataIndex(self.dataset)
        self.dataset_now_ms = None if now_ms is None else now_ms + self.shift_ms
        self.keys = TokenRegistry(config.tokens)
        self.limiter = RateLimiter(config.rate_window_s, config.limit_of, clock)
        self.faults = FaultInjector(
            config.fail_rate,
            config.fail_seed,
            config.latency_ms,
            garble_rate=config.garble_rate,
            throttle_rate=config.throttle_rate,
        )
        self.renderer = Renderer(self.index)
        self.billing = Billing(
            {Resource(k): v for k, v in config.prices.items()},
            config.monthly_post_cap,
            config.credits_usd,
            clock,
        )
        self._lock = threading.Lock()
        self._counts: Counter[tuple[str, str, int]] = Counter()
        self._posts: Counter[int] = Counter()  # rows served as ``data``: X bills post reads

    def now_ms(self) -> int:
        """The emulated present: the dataset's ``now`` plus the time since the start."""
        real_ms = int(self.clock() * 1000)
        if self.dataset_now_ms is None:
            return real_ms
        return self.dataset_now_ms + real_ms - int(self.started_at * 1000)

    # --- key states (tests) --------------------------------------------------------------
    def revoke_token(self, token: str) -> None:
        """Answer this key with 401 from now on, as X does for a revoked bearer token."""
        self.keys.set_state(token, KeyState.REVOKED)

    def suspend_token(self, token: str) -> None:
        """Answer this key with 403 client-forbidden from now on (a suspended App)."""
        self.keys.set_state(token, KeyState.SUSPENDED)

    def restore_token(self, token: str) -> None:
        self.keys.set_state(token, KeyState.ACTIVE)

    def reset_rate_limits(self) -> None:
        self.limiter.reset()

    # --- counters ------------------------------------------------------------------------
    def record(self, key_label: str, endpoint: str, status: int) -> None:
        with self._lock:
            self._counts[(key_label, endpoint, status)] += 1

    def record_posts(self, rows: Any) -> None:
        """Count the posts a response returned (its ``data``, not its ``includes``)."""
        with self._lock:
            self._posts.update(int(r) for r in rows)

    def stats(self) -> dict[str, Any]:
        """Requests answered so far, per key label and endpoint, split by status code."""
        with self._lock:
            counts = dict(self._counts)
            posts, unique = sum(self._posts.values()), len(self._posts)
        keys: dict[str, dict[str, dict[str, Any]]] = {}
        by_status: Counter[str] = Counter()
        for (label, endpoint, status), n in sorted(counts.items()):
            entry = keys.setdefault(label, {}).setdefault(
                endpoint, {"requests": 0, "by_status": {}}
            )
            entry["requests"] += n
            entry["by_status"][str(status)] = entry["by_status"].get(str(status), 0) + n
            by_status[str(status)] += n
        return {
            "uptime_s": round(self.clock() - self.started_at, 3),
            "requests": sum(counts.values()),
            "by_status": dict(sorted(by_status.items())),
            "keys": keys,
            # Post reads: every post returned as data, and how many were returned before
            # (a collector that pays twice for a post shows here).
            "posts_served": posts,
            "posts_served_again": posts - unique,
            # What X would bill (every resource at its price, once per UTC day).
            "bill": self.billing.stats(),
        }


def _dataset_now_ms(dataset: Dataset) -> int | None:
    """The instant the dataset's window ends: its ``meta["now"]``, else its newest tweet."""
    if dataset.now is not None:
        return int(dataset.now.timestamp() * 1000)
    if dataset.tweets.num_rows:
        newest = pc.max(dataset.tweets.column("created_at"))
        return int(newest.cast(pa.int64()).as_py()) if newest.is_valid else None
    return None
