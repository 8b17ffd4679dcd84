"""Run a :class:`RunSpec`: its steps in order, with a run record, progress and timings.

The same function runs under ``dwt run`` on a laptop and as the driver of a Ray job in the
cluster. A step that fails stops the run: the run record says which step and why, the
error is re-raised (never swallowed), and results of earlier steps stay stored.

A step stopped by a cap (:class:`StepCapped`: collection at the run's or the month's spend
cap, its post-read cap, or X's bill refusing) ends the run as ``capped`` — not succeeded:
the record keeps the step's counts and the sentence saying which cap and what was skipped,
the later steps do not run, and :class:`RunCapped` is raised.

Some runs are refused (:class:`RunRefused`) instead, because running them would destroy
results or cannot mean anything: a community the store does not know, a window ending
before X existed, or a window with no tweet of any member — the insight steps would
replace the community's bonds, clusters and conversations with nothing (pass
``allow_empty`` when a quiet week really is the answer). A run refused before any step
ran leaves no run record (nothing happened; a retried run's earlier record is left as it
was); one refused after its collection step is recorded as ``failed`` with the reason.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from dwt.pipeline import insights
from dwt.pipeline.lease import HeldLease, hold
from dwt.pipeline.progress import Progress
from dwt.pipeline.spec import RunSpec, Step
from dwt.store import Coll, Store
from dwt.store.runs import finish_run, start_run
from dwt.store.weeks import STEP_KINDS, publish

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


class StepCapped(Exception):
    """A step stopped at a cap; ``counts`` are what it did, ``message`` says which cap and
    what it left (one sentence)."""

    def __init__(self, counts: dict[str, int], message: str) -> None:
        super().__init__(message)
        self.counts = counts
        self.message = message


class RunCapped(RunFailed):
    """The run stopped at a cap (see :class:`StepCapped`); its status is ``capped``."""

    def __init__(self, run_id: str, step: str, message: str) -> None:
        RuntimeError.__init__(self, f"run {run_id}: {message}")
        self.run_id = run_id
        self.step = step
        self.message = message


class RunRefused(RunFailed):
    """The run must not go ahead as asked; ``reason`` says why. Nothing was written unless
    collection had run first (the run record then says ``failed`` with the reason)."""

    def __init__(self, run_id: str, reason: str) -> None:
        RuntimeError.__init__(self, f"run {run_id} refused: {reason}")
        self.run_id = run_id
        self.step = ""
        self.reason = reason


#: X's first tweet (21 March 2006): a window ending before it cannot hold anything.
X_BIRTH = datetime(2006, 3, 21, tzinfo=UTC)
#: How far past the machine's clock an explicit window end may lie (clock skew).
FUTURE_SLACK = timedelta(minutes=10)


def window_end_problem(now: datetime, clock: datetime | None = None) -> str | None:
    """Why ``now`` cannot end a window (None when it can): before X existed, or later
    than the clock (``clock``, default the machine's) by more than :data:`FUTURE_SLACK`."""
    now = now if now.tzinfo else now.replace(tzinfo=UTC)
    if now < X_BIRTH:
        return f"the window would end {now:%Y-%m-%d}, before X existed ({X_BIRTH:%Y-%m-%d})"
    clock = clock or datetime.now(UTC)
    if now > clock + FUTURE_SLACK:
        return f"the window would end {now.isoformat()}, in the future"
    return None


def community_known(store: Store, community: str) -> bool:
    """Whether ``community`` was ever created in the store (members added to it)."""
    found = store[Coll.COMMUNITIES].find_one({"_id": community}, {"_id": 1})
    return found is not None or (
        store[Coll.MEMBERS].find_one({"community": community}, {"_id": 1}) is not None
    )


def known_communities(store: Store) -> list[str]:
    return sorted(str(d["_id"]) for d in store[Coll.COMMUNITIES].find({}, {"_id": 1}))


def unknown_community(store: Store, community: str) -> str:
    known = known_communities(store)
    listing = f"known: {', '.join(known[:10])}" if known else "the store has none yet"
    return (
        f"there is no community {community!r} in the store ({listing}); add members with "
        f"`dwt members add --community {community} USERNAME`"
    )


def _empty_window(week: insights.Week) -> str | None:
    """Why the insight steps must not run on this week (None when they may)."""
    members = week.member_table.num_rows
    if members and week.tweet_count:
        return None
    who = (
        f"community {week.spec.community!r} has no members"
        if not members
        else f"no tweet of the {members} members of {week.spec.community!r} is stored "
        f"between {week.since.astimezone(UTC):%Y-%m-%d %H:%M} and "
        f"{week.now.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
    )
    return (
        f"{who}: the run would replace the community's bonds, clusters and conversations "
        "with nothing. Check --now and --window-days (or collect first); pass --allow-empty "
        "to run on an empty window anyway"
    )


def _deliberate(exc: BaseException) -> bool:
    """Whether ``exc`` is one of the product's own errors (raised on purpose, with a message
    that says what to do), not a bug or a library's failure."""
    return type(exc).__module__.startswith("dwt.")


@dataclass
class RunResult:
    run_id: str
    status: str
    counts: dict[str, int] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)


#: A run id: letters, digits, ``-`` and ``_`` (no ``/`` or ``.``: it names log lines, Ray
#: submissions and documents, never a path), at most :data:`RUN_ID_MAX` characters (the
#: operator's ids fit: dwt_operator.entrypoint.MAX_RUN_ID).
RUN_ID_MAX = 200
RUN_ID = re.compile(rf"[A-Za-z0-9][A-Za-z0-9_-]{{0,{RUN_ID_MAX - 1}}}")


def run_id_problem(run_id: str) -> str | None:
    """Why ``run_id`` cannot name a run (None when it can)."""
    if RUN_ID.fullmatch(run_id):
        return None
    shown = run_id if len(run_id) <= 60 else run_id[:60] + "…"
    return (
        f"a run id is 1-{RUN_ID_MAX} letters, digits, '-' or '_' (starting with a letter or "
        f"digit), got {shown!r} ({len(run_id):,} characters)"
    )


def new_run_id(community: str, now: datetime) -> str:
    return f"{community}-{now:%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}"


def run_pipeline(
    store: Store,
    spec: RunSpec,
    *,
    run_id: str | None = None,
    now: datetime | None = None,
    progress: Progress | None = None,
    shards: int = 0,
    steps: dict[Step, StepFunction] | None = None,
    allow_empty: bool = False,
    lease: HeldLease | None = None,
) -> RunResult:
    """Run ``spec.steps`` for ``spec.community`` against ``store``.

    ``steps`` maps each step to its function (the insight steps by default; the command
    line adds collection when API keys are configured). ``now`` ends the window (a naive
    time is UTC). ``shards``: shards of authors on Ray (0: chosen by the week's size, see
    :func:`~dwt.pipeline.insights.choose_executor`). Raises :class:`RunRefused` (see the
    module doc) for an unknown community, a window ending before X existed, a negative
    shard count, or — unless ``allow_empty`` — a window without any member's tweet.

    One run per community: the run holds the community's lease (``lease``, taken by the
    caller, else taken here: :class:`~dwt.store.leases.RunBusy` when another run holds it)
    until it ends, and gives it back however it ends. The steps' results are published
    together once every step succeeded (:mod:`dwt.store.weeks`): a run that fails or is
    killed leaves the previous week shown.
    """
    try:
        now, run_id, handlers = _checked(store, spec, run_id, now, progress, shards, steps)
        if lease is None:
            lease = hold(store, spec.community, run_id)  # RunBusy: another run goes on
        if lease.run_id != run_id or lease.lease.community != spec.community:
            raise ValueError(f"the lease held is {lease.lease.community}'s for {lease.run_id}")
        return _steps(store, spec, run_id, now, progress, shards, handlers, allow_empty, lease)
    finally:
        if lease is not None:
            lease.release()


def _checked(
    store: Store,
    spec: RunSpec,
    run_id: str | None,
    now: datetime | None,
    progress: Progress | None,
    shards: int,
    steps: dict[Step, StepFunction] | None,
) -> tuple[datetime, str, dict[Step, StepFunction]]:
    """The window's end, the run id and the step handlers, or :class:`RunRefused`."""
    now = now or datetime.now(UTC)
    now = now if now.tzinfo else now.replace(tzinfo=UTC)
    run_id = run_id or (progress.run_id if progress else None) or new_run_id(spec.community, now)
    if progress is not None and progress.run_id != run_id:
        raise ValueError(f"progress reports run {progress.run_id!r}, not {run_id!r}")
    problem = run_id_problem(run_id)
    if problem is not None:
        raise RunRefused(run_id[:RUN_ID_MAX], problem)
    handlers = {**INSIGHT_STEPS, **(steps or {})}
    missing = [s.value for s in spec.steps if s not in handlers]
    if missing:
        raise ValueError(f"no handler for step(s) {', '.join(missing)} in this run")
    if shards < 0:
        raise RunRefused(run_id, f"shards must be at least 1 (0: by size), got {shards}")
    if now < X_BIRTH:
        raise RunRefused(run_id, str(window_end_problem(now)))
    if not community_known(store, spec.community):
        raise RunRefused(run_id, unknown_community(store, spec.community))
    return now, run_id, handlers


def _steps(
    store: Store,
    spec: RunSpec,
    run_id: str,
    now: datetime,
    progress: Progress | None,
    shards: int,
    handlers: dict[Step, StepFunction],
    allow_empty: bool,
    lease: HeldLease,
) -> RunResult:
    progress = progress or Progress(store, run_id)
    week = insights.Week(store, spec, now, shards=shards, progress=progress, run_id=run_id)
    first_insight = next((s for s in spec.steps if s is not Step.COLLECT), None)
    if first_insight is spec.steps[0] and not allow_empty:
        reason = _empty_window(week)  # the week is loaded once, for the steps too
        if reason is not None:
            raise RunRefused(run_id, reason)
    params = spec.model_dump(mode="json", by_alias=True)
    params["window"] = {"since": week.since.isoformat(), "until": now.isoformat()}
    steps_run = [s.value for s in spec.steps]
    start_run(store, run_id, spec.community, steps_run, params, datetime.now(UTC))
    for step in spec.steps:
        if step is first_insight and step is not spec.steps[0] and not allow_empty:
            reason = _empty_window(week)  # what collection left
            if reason is not None:
                progress.summary("failed", f"refused: {reason}")
                finish_run(store, run_id, "failed", datetime.now(UTC), error=f"refused: {reason}")
                raise RunRefused(run_id, reason)
        progress.start(step.value)
        started = time.perf_counter()
        try:
            lease.check()  # taken over (this process was stopped too long): stop here
            counts = handlers[step](week, run_id)
        except StepCapped as exc:
            progress.finish(step.value, time.perf_counter() - started, exc.counts)
            progress.summary("capped", exc.message)
            finish_run(store, run_id, "capped", datetime.now(UTC), error=exc.message)
            log.warning("run %s: %s", run_id, exc.message)
            raise RunCapped(run_id, step.value, exc.message) from None
        except Exception as exc:
            message = f"{type(exc).__name__}: {exc}"
            progress.fail(step.value, message)
            progress.summary("failed", message)
            finish_run(store, run_id, "failed", datetime.now(UTC), error=f"{step}: {message}")
            if _deliberate(exc):  # the message says it all: no traceback for the person
                log.error("run %s: step %s failed: %s", run_id, step, message)
                log.debug("run %s: step %s failed", run_id, step, exc_info=True)
            else:  # a bug or a library's failure: the traceback is what helps
                log.exception("run %s: step %s failed", run_id, step)
            raise RunFailed(run_id, step.value, message) from exc
        progress.finish(step.value, time.perf_counter() - started, counts)
        if step is Step.COLLECT:
            week.forget()
    kinds = [STEP_KINDS[s.value] for s in spec.steps if s.value in STEP_KINDS]
    try:
        lease.check()
        publish(store, spec.community, run_id, kinds, datetime.now(UTC))
    except Exception as exc:
        message = f"{type(exc).__name__}: {exc}"
        progress.summary("failed", message)
        finish_run(store, run_id, "failed", datetime.now(UTC), error=f"publish: {message}")
        raise RunFailed(run_id, "publish", message) from exc
    finish_run(store, run_id, "succeeded", datetime.now(UTC))
    progress.summary("succeeded")
    return RunResult(run_id, "succeeded", dict(progress.counts), dict(progress.timings))
