"""Timing of the cluster's phases, printed as they end (CI prints where its time goes)."""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator


class Phases:
    """``with phases.step("name"):`` prints ``<prefix>: name ...`` and then the seconds it
    took; `seconds` keeps them (a step run twice adds up)."""

    def __init__(self, prefix: str = "cluster") -> None:
        self.prefix = prefix
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[None]:
        print(f"{self.prefix}: {name} ...", file=sys.stderr, flush=True)
        started = time.monotonic()
        outcome = "failed"
        try:
            yield
            outcome = "done"
        finally:
            took = time.monotonic() - started
            self.seconds[name] = round(self.seconds.get(name, 0.0) + took, 1)
            print(f"{self.prefix}: {name} {outcome} in {took:.1f}s", file=sys.stderr, flush=True)
