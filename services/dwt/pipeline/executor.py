"""Where the insight steps' tasks run: in this process, or as Ray tasks over the cluster.

The steps (:mod:`dwt.pipeline.insights`) are written once, as tasks over partitions of the
week (:mod:`dwt.pipeline.tasks`), against an :class:`Executor`:

* :class:`InProcess` runs each task at once, here — small communities, or no Ray;
* :class:`OnRay` submits each task to Ray (round-robin over the nodes); what a task returns
  stays in Ray's object store and the next tasks receive it there, so the driver holds
  handles, never the week.

Either way every task reports where it ran (node, process), its CPU and wall seconds
(:class:`TaskRecord`), and the run record says per step which executor ran it, how many
tasks and on which nodes (:func:`placement`).

Tasks open the store themselves (:class:`~dwt.store.ref.StoreRef`): the driver passes the
store's URL when it holds no secret, else only its fingerprint, and the worker opens the
store its own settings name (``DWT_STORE_URL``, set on every Ray node by the chart) —
refusing, with a sentence, one whose fingerprint differs from the driver's.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from dwt.store.ref import StoreRef

__all__ = ["DRIVER", "Executor", "InProcess", "OnRay", "StoreRef", "TaskRecord", "placement"]

#: Where a task ran when it ran in the driver's own process.
DRIVER = "driver"


@dataclass(frozen=True)
class TaskRecord:
    """One task: its step, name, the node and process it ran in, CPU and wall seconds."""

    step: str
    task: str
    node: str
    pid: int
    cpu_s: float
    wall_s: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _node() -> str:
    """This process's Ray node id (short), or :data:`DRIVER` outside a Ray worker."""
    try:
        import ray
    except ImportError:  # pragma: no cover - ray is a dependency
        return DRIVER
    if not ray.is_initialized():
        return DRIVER
    context = ray.get_runtime_context()
    if context.worker.mode != ray.WORKER_MODE:
        return DRIVER
    return context.get_node_id()[:12]


def traced(step: str, name: str, returns: int, work: Callable[..., Any], *args: Any) -> Any:
    """Run ``work(*args)`` and append its :class:`TaskRecord` to what it returns (the
    record is the last of ``returns + 1`` values)."""
    cpu, wall = time.process_time(), time.perf_counter()
    out = work(*args)
    record = TaskRecord(
        step, name, _node(), os.getpid(), time.process_time() - cpu, time.perf_counter() - wall
    )
    return (out, record) if returns == 1 else (*out, record)


@dataclass(frozen=True)
class _Task:
    """What :meth:`Executor.submit` was asked to run (its arguments, in order)."""

    step: str
    name: str
    work: Callable[..., Any]
    args: tuple[Any, ...]
    returns: int
    cpus: float
    spread: bool


@dataclass
class Executor:
    """Runs tasks and keeps their records; :class:`InProcess` or :class:`OnRay`."""

    where: str = DRIVER
    records: list[Any] = field(default_factory=list)  # TaskRecords, or Ray handles of them

    def submit(
        self,
        step: str,
        name: str,
        work: Callable[..., Any],
        *args: Any,
        returns: int = 1,
        cpus: float = 1.0,
        spread: bool = True,
    ) -> Any:
        """Run ``work(*args)`` (module-level, so a worker can import it); a handle of what
        it returns, or a tuple of ``returns`` handles. Handles given as arguments arrive
        as their values."""
        *out, record = self._launch(_Task(step, name, work, args, returns, cpus, spread))
        self.records.append(record)
        return out[0] if returns == 1 else tuple(out)

    def _launch(self, task: _Task) -> Sequence[Any]:
        """Start the task: handles of its ``returns`` values, then of its `TaskRecord`."""
        raise NotImplementedError

    def get(self, handle: Any) -> Any:
        """The value(s) behind a handle or a list of handles."""
        raise NotImplementedError

    def put(self, value: Any) -> Any:
        """A handle of ``value``, for tasks to share."""
        raise NotImplementedError

    def task_records(self) -> list[TaskRecord]:
        """The records of every task run so far (waits for those still running)."""
        raise NotImplementedError


class InProcess(Executor):
    """Each task runs at once, in this process; handles are the values."""

    def __init__(self) -> None:
        super().__init__(DRIVER, [])

    def _launch(self, task: _Task) -> Sequence[Any]:
        return traced(task.step, task.name, task.returns, task.work, *task.args)

    def get(self, handle: Any) -> Any:
        return handle

    def put(self, value: Any) -> Any:
        return value

    def task_records(self) -> list[TaskRecord]:
        return list(self.records)


class OnRay(Executor):
    """Each task is a Ray task (one CPU unless told); results stay in the object store.

    The partitions of a step go round-robin over the cluster's live nodes that have CPUs
    (soft affinity: a node that leaves hands its tasks to the others), so a step's work is
    spread evenly and where it ran is known; single tasks go where Ray puts them."""

    def __init__(self) -> None:
        import ray

        super().__init__("ray", [])
        self._ray = ray
        self._remote = ray.remote(traced)
        self._nodes = sorted(
            n["NodeID"] for n in ray.nodes() if n["Alive"] and n["Resources"].get("CPU", 0) > 0
        )
        self._next = 0

    def _launch(self, task: _Task) -> Sequence[Any]:
        options: dict[str, Any] = {
            "num_returns": task.returns + 1,
            "num_cpus": task.cpus,
            "name": task.name,
        }
        if task.spread and len(self._nodes) > 1:
            from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

            node = self._nodes[self._next % len(self._nodes)]
            self._next += 1
            options["scheduling_strategy"] = NodeAffinitySchedulingStrategy(node, soft=True)
        run = self._remote.options(**options)
        return run.remote(task.step, task.name, task.returns, task.work, *task.args)

    def get(self, handle: Any) -> Any:
        return self._ray.get(handle)

    def put(self, value: Any) -> Any:
        return self._ray.put(value)

    def task_records(self) -> list[TaskRecord]:
        pending = [r for r in self.records if not isinstance(r, TaskRecord)]
        done = iter(self._ray.get(pending)) if pending else iter(())
        self.records = [r if isinstance(r, TaskRecord) else next(done) for r in self.records]
        return list(self.records)


def placement(records: Sequence[TaskRecord], where: str) -> dict[str, dict[str, Any]]:
    """Per step: where it ran (``driver`` or ``ray``), its tasks, the tasks per node, and
    their CPU and wall seconds (what the run record keeps)."""
    steps: dict[str, dict[str, Any]] = {}
    for record in records:
        step = steps.setdefault(
            record.step, {"where": where, "tasks": 0, "nodes": {}, "cpu_s": 0.0, "task_s": 0.0}
        )
        step["tasks"] += 1
        step["nodes"][record.node] = step["nodes"].get(record.node, 0) + 1
        step["cpu_s"] = round(step["cpu_s"] + record.cpu_s, 3)
        step["task_s"] = round(step["task_s"] + record.wall_s, 3)
    return steps
