"""Progress of a run, told to three audiences at once.

* the run record in the store (the dashboard reads it), at most every ``interval`` seconds;
* structured lines on stdout, ``DWT_PROGRESS {json}`` — inside a Ray job these land in the
  job's logs, where the operator reads them through the Jobs API (it needs no database);
* an optional human line per event for the command line.

Events carry no secrets: counts, step names, timings and messages only.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TextIO

from dwt.store import Store
from dwt.store.runs import update_run

PREFIX = "DWT_PROGRESS "


def parse_progress_line(line: str) -> dict[str, Any] | None:
    """The event of a ``DWT_PROGRESS`` log line, or None for any other line."""
    start = line.find(PREFIX)
    if start < 0:
        return None
    try:
        event = json.loads(line[start + len(PREFIX) :])
    except json.JSONDecodeError:
        return None
    return event if isinstance(event, dict) else None


class Progress:
    """Collects step states, counts and timings of one run and reports them."""

    def __init__(
        self,
        store: Store | None,
        run_id: str,
        stream: TextIO | None = sys.stdout,
        human: Callable[[str], None] | None = None,
        interval: float = 2.0,
        on_advance: Callable[[str, int, int | None, dict[str, Any]], None] | None = None,
    ) -> None:
        self.store = store
        self.run_id = run_id
        self.stream = stream
        self.human = human
        self.interval = interval
        self.on_advance = on_advance  # e.g. a progress bar on the command line
        self.steps: dict[str, dict[str, Any]] = {}
        self.counts: dict[str, int] = {}
        self.timings: dict[str, float] = {}
        self._last_write = 0.0

    def _emit(self, event: dict[str, Any], force: bool = True) -> None:
        event = {"run": self.run_id, "at": datetime.now(UTC).isoformat(), **event}
        if self.stream is not None:
            self.stream.write(PREFIX + json.dumps(event, default=str) + "\n")
            self.stream.flush()
        now = time.monotonic()
        if self.store is not None and (force or now - self._last_write >= self.interval):
            update_run(
                self.store,
                self.run_id,
                progress=self.steps,
                counts=self.counts,
                timings=self.timings,
            )
            self._last_write = now

    def start(self, step: str) -> None:
        self.steps[step] = {"state": "running", "done": 0, "total": None}
        self._emit({"event": "step", "step": step, "state": "running"})
        if self.human:
            self.human(f"{step}: started")

    def advance(self, step: str, done: int, total: int | None = None, **extra: Any) -> None:
        """Progress inside a step (throttled in the store, always on the stream)."""
        self.steps[step].update(done=done, total=total, **extra)
        self._emit(
            {"event": "progress", "step": step, "done": done, "total": total, **extra}, force=False
        )
        if self.on_advance is not None:
            self.on_advance(step, done, total, extra)

    def finish(self, step: str, seconds: float, counts: dict[str, int]) -> None:
        self.steps[step].update(state="done", seconds=round(seconds, 3))
        self.counts.update(counts)
        self.timings[step] = round(seconds, 3)
        self._emit(
            {"event": "step", "step": step, "state": "done", "seconds": seconds, "counts": counts}
        )
        if self.human:
            told = ", ".join(f"{k} {v}" for k, v in counts.items())
            self.human(f"{step}: done in {seconds:.2f}s ({told})")

    def fail(self, step: str, message: str) -> None:
        self.steps.setdefault(step, {})["state"] = "failed"
        self._emit({"event": "step", "step": step, "state": "failed", "message": message})

    def summary(self, status: str, message: str | None = None) -> None:
        self._emit(
            {
                "event": "summary",
                "status": status,
                "counts": self.counts,
                "timings": self.timings,
                "message": message,
            }
        )
