"""Injected server failures and latency, reproducible from a seed.

Whether a request fails depends only on the seed, the token, the endpoint and how many
requests that token already made to that endpoint, so a run replays the same failures
whatever other keys do concurrently. Each kind of fault (503, header-less 429, garbled
body) draws from its own sequence, so turning one on does not move the others.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import Counter

#: What a garbled answer looks like, in turn: the JSON cut short (a dropped connection
#: behind a proxy), an HTML error page sent with 200 (a captive portal, a CDN), and JSON
#: that is not an object.
GARBLES = ("truncated", "html", "not_an_object")
_HTML = b"<html><head><title>Error</title></head><body>upstream hiccup</body></html>"


class FaultInjector:
    """Decides which requests get a 503, a header-less 429 or a garbled 200 body, and
    sleeps the configured latency."""

    def __init__(
        self,
        fail_rate: float,
        seed: int,
        latency_ms: float,
        *,
        garble_rate: float = 0.0,
        throttle_rate: float = 0.0,
    ) -> None:
        self.fail_rate = fail_rate
        self.seed = seed
        self.latency_ms = latency_ms
        self.garble_rate = garble_rate
        self.throttle_rate = throttle_rate
        self._lock = threading.Lock()
        self._seen: Counter[tuple[str, str, str]] = Counter()

    def _draw(self, fault: str, token_label: str, endpoint: str) -> float:
        """The next number in [0, 1) of this (fault, token, endpoint) sequence."""
        with self._lock:
            n = self._seen[(fault, token_label, endpoint)]
            self._seen[(fault, token_label, endpoint)] = n + 1
        # The 503 sequence keeps its historical seed text (recorded runs replay as before).
        tag = "" if fault == "fail" else f"{fault}|"
        digest = hashlib.blake2b(
            f"{tag}{self.seed}|{token_label}|{endpoint}|{n}".encode(), digest_size=8
        ).digest()
        return int.from_bytes(digest, "big") / 2**64

    def should_fail(self, token_label: str, endpoint: str) -> bool:
        """Draw the next failure decision of this (token, endpoint) sequence."""
        if self.fail_rate <= 0.0:
            return False
        return self._draw("fail", token_label, endpoint) < self.fail_rate

    def should_throttle(self, token_label: str, endpoint: str) -> bool:
        """Whether to answer 429 with no rate-limit headers (X's edge shedding load)."""
        if self.throttle_rate <= 0.0:
            return False
        return self._draw("throttle", token_label, endpoint) < self.throttle_rate

    def garbled(self, body: bytes, token_label: str, endpoint: str) -> bytes | None:
        """A garbled replacement for a 200 answer's ``body``, or None to send it as is."""
        if self.garble_rate <= 0.0:
            return None
        draw = self._draw("garble", token_label, endpoint)
        if draw >= self.garble_rate:
            return None
        share = draw / self.garble_rate  # uniform in [0, 1): picks the kind and the cut
        kind = GARBLES[int(share * len(GARBLES)) % len(GARBLES)]
        if kind == "truncated":
            # Any proper prefix of a JSON object is invalid JSON; keep at least one byte.
            cut = max(1, min(len(body) - 1, int(len(body) * (0.1 + 0.8 * share))))
            return body[:cut]
        if kind == "html":
            return _HTML
        return b'["data"]'

    def delay(self) -> None:
        """Sleep the injected latency (a real round trip to X takes 100-300 ms)."""
        if self.latency_ms > 0:
            time.sleep(self.latency_ms / 1000.0)
