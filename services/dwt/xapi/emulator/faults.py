"""Injected server failures and latency, reproducible from a seed.

Whether a request fails depends only on the seed, the token, the endpoint and how many
requests that token already made to that endpoint, so a run replays the same failures
whatever other keys do concurrently.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import Counter


class FaultInjector:
    """Decides which requests get a 503 and sleeps the configured latency."""

    def __init__(self, fail_rate: float, seed: int, latency_ms: float) -> None:
        self.fail_rate = fail_rate
        self.seed = seed
        self.latency_ms = latency_ms
        self._lock = threading.Lock()
        self._seen: Counter[tuple[str, str]] = Counter()

    def should_fail(self, token_label: str, endpoint: str) -> bool:
        """Draw the next failure decision of this (token, endpoint) sequence."""
        if self.fail_rate <= 0.0:
            return False
        with self._lock:
            n = self._seen[(token_label, endpoint)]
            self._seen[(token_label, endpoint)] = n + 1
        digest = hashlib.blake2b(
            f"{self.seed}|{token_label}|{endpoint}|{n}".encode(), digest_size=8
        ).digest()
        return int.from_bytes(digest, "big") / 2**64 < self.fail_rate

    def delay(self) -> None:
        """Sleep the injected latency (a real round trip to X takes 100-300 ms)."""
        if self.latency_ms > 0:
            time.sleep(self.latency_ms / 1000.0)
