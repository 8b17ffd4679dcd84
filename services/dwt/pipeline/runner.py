"""Run a :class:`RunSpec`: its steps in order, with a run record, progress and timings.

The same function runs under ``dwt run`` on a laptop and as the driver of a Ray job in the
cluster. A step that fails stops the run: the run record says which step and why, the
error is re-raised (never swallowed), and results of earlier steps stay stored.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from dwt.pipeline import insights
from dwt.pipeline.progress import Progress
from dwt.pipeline.spec import RunSpec, Step
from dwt.store import Store
from dwt.store.runs import finish_run, start_run

log = logging.getLogger(__name__)

StepFunction = Callable[[insights.Week, str], dict[str, int]]

INSIGHT_STEPS: dict[Step, StepFunction] = {
    Step.DISCOVER: insights.discover,
    Step.BONDS: insights.bonds,
    Step.CLUSTER: insights.cluster,
    Step.CONTENT: insights.content,
}


class RunFailed(RuntimeError):
    """A step failed; ``step`` names it, the cause is chained."""

    def __init__(self, run_id: str, step: str, message: str) -> None:
        super().__init__(f"run {run_id}: step {step} failed: {message}")
        self.run_id = run_id
        self.step = step


@dataclass
class RunResult:
    run_id: str
    status: str
    counts: dict[str, int] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)


def new_run_id(community: str, now: datetime) -> str:
    return f"{community}-{now:%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}"


def run_pipeline(
    store: Store,
    spec: RunSpec,
    *,
    run_id: str | None = None,
    now: datetime | None = None,
    progress: Progress | None = None,
    shards: int = 1,
    steps: dict[Step, StepFunction] | None = None,
) -> RunResult:
    """Run ``spec.steps`` for ``spec.community`` against ``store``.

    ``steps`` maps each step to its function (the insight steps by default; the command
    line adds collection when API keys are configured). ``now`` ends the window.
    """
    now = now or datetime.now(UTC)
    run_id = run_id or (progress.run_id if progress else None) or new_run_id(spec.community, now)
    if progress is not None and progress.run_id != run_id:
        raise ValueError(f"progress reports run {progress.run_id!r}, not {run_id!r}")
    handlers = {**INSIGHT_STEPS, **(steps or {})}
    missing = [s.value for s in spec.steps if s not in handlers]
    if missing:
        raise ValueError(f"no handler for step(s) {', '.join(missing)} in this run")
    progress = progress or Progress(store, run_id)
    week = insights.Week(store, spec, now, shards=shards, progress=progress)
    params = spec.model_dump(mode="json", by_alias=True)
    params["window"] = {"since": week.since.isoformat(), "until": now.isoformat()}
    steps_run = [s.value for s in spec.steps]
    start_run(store, run_id, spec.community, steps_run, params, datetime.now(UTC))
    for step in spec.steps:
        progress.start(step.value)
        started = time.perf_counter()
        try:
            counts = handlers[step](week, run_id)
        except Exception as exc:
            message = f"{type(exc).__name__}: {exc}"
            progress.fail(step.value, message)
            progress.summary("failed", message)
            finish_run(store, run_id, "failed", datetime.now(UTC), error=f"{step}: {message}")
            log.exception("run %s: step %s failed", run_id, step)
            raise RunFailed(run_id, step.value, message) from exc
        progress.finish(step.value, time.perf_counter() - started, counts)
        if step is Step.COLLECT:
            week.forget()
    finish_run(store, run_id, "succeeded", datetime.now(UTC))
    progress.summary("succeeded")
    return RunResult(run_id, "succeeded", dict(progress.counts), dict(progress.timings))
