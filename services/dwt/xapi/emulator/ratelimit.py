"""Per-token, per-endpoint request budgets in fixed windows, the way X meters them.

Windows are fixed slots of ``window_s`` on the epoch clock (a 15-minute window ends at
:00, :15, :30 or :45), so ``x-rate-limit-reset`` — its end in whole epoch seconds, as X
sends it — is exact for whole-second windows and a client that waits until the reset loses
no time to rounding. Requests refused with 429 do not spend budget.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Decision:
    """The outcome of one request against its budget; ``headers`` go on the response."""

    allowed: bool
    limit: int
    remaining: int
    reset_at: float

    @property
    def headers(self) -> dict[str, str]:
        return {
            "x-rate-limit-limit": str(self.limit),
            "x-rate-limit-remaining": str(self.remaining),
            "x-rate-limit-reset": str(math.ceil(self.reset_at)),
        }


class RateLimiter:
    """Thread-safe fixed-window counters keyed by (token label, endpoint)."""

    def __init__(
        self,
        window_s: float,
        limit_of: Callable[[str], int],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._window_s = window_s
        self._limit_of = limit_of
        self._clock = clock
        self._lock = threading.Lock()
        self._windows: dict[tuple[str, str], tuple[float, int]] = {}  # key → (reset_at, used)

    def acquire(self, token_label: str, endpoint: str) -> Decision:
        """Spend one request of the budget if any is left; say what is left either way."""
        limit = self._limit_of(endpoint)
        now = self._clock()
        with self._lock:
            reset_at, used = self._windows.get((token_label, endpoint), (0.0, 0))
            if now >= reset_at:
                reset_at = (math.floor(now / self._window_s) + 1) * self._window_s
                used = 0
            if used >= limit:
                self._windows[(token_label, endpoint)] = (reset_at, used)
                return Decision(False, limit, 0, reset_at)
            used += 1
            self._windows[(token_label, endpoint)] = (reset_at, used)
            return Decision(True, limit, limit - used, reset_at)

    def reset(self) -> None:
        """Forget every window (a test starting from full budgets)."""
        with self._lock:
            self._windows.clear()
