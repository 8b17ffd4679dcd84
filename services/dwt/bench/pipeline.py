"""The insight pipeline as the product runs it, store included: a case of ``dwt bench insights``.

The stages-only scale figure (:mod:`dwt.bench.scale`) leaves out what a run costs around
them: reading the week's columns from the store and writing candidates, bonds, clusters,
conversations and member fields back. Here a generated week is first written into a store
the way collection writes it (:mod:`dwt.bench.load`, in its own process, not timed as the
pipeline), then a second fresh process opens that store and runs ``run_pipeline`` with the
steps discover, bonds, cluster and content, exactly as ``dwt run`` does. Its backend is
wrapped to clock every store call, so the share of the run spent in the store is measured,
not estimated; its peak RSS is its own (see :mod:`dwt.bench.scale` on ``ru_maxrss``).
The stages inside the steps are clocked too (:data:`CLOCKED_STAGES`, ``stage_s``): a step's
time alone does not say what to speed up (at 10k members the cluster step was mostly the
map layout, not Infomap).

    python -m dwt.bench.pipeline load DATASET_DIR URL   # URL from DWT_BENCH_STORE_URL
    python -m dwt.bench.pipeline run NOW                # prints one JSON line
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from dwt.bench.scale import _LAUNCHER, _peak_rss_mb
from dwt.config import redact_url
from dwt.store import Store
from dwt.store.ops import BulkResult, Update
from dwt.store.store import Backend, open_backend
from dwt.xapi.dataset import Dataset

COMMUNITY = "bench"
#: The stages clocked inside the steps: name -> (module, attribute[, method]); a method is
#: clocked on its class, a function where the steps' module looks it up.
CLOCKED_STAGES: dict[str, tuple[str, ...]] = {
    "bond_matrix": ("dwt.pipeline.tasks", "bond_rows"),
    "infomap": ("dwt.stages.cluster", "InfomapClusters", "fit"),
    "layout": ("dwt.stages.layout", "MapLayout", "fit"),
    "cluster_profiles": ("dwt.pipeline.tasks", "cluster_profiles"),
    "bond_stats": ("dwt.pipeline.tasks", "bond_stats"),
    "conversations": ("dwt.stages.content", "ContentFinder", "prepare"),
    "trends": ("dwt.stages.content", "ContentFinder", "finish"),
    "topics": ("dwt.stages.topics", "TopicFinder", "prepare"),
    "topic_bursts": ("dwt.stages.topics", "TopicFinder", "finish"),
}
STEPS = ("discover", "bonds", "cluster", "content")
#: The variable that carries the store URL to the workers (never argv: it may hold a password).
URL_VARIABLE = "DWT_BENCH_STORE_URL"


class ClockedBackend:
    """A store backend that adds the wall time of every call it serves to ``seconds``."""

    def __init__(self, inner: Backend) -> None:
        self.inner = inner
        self.seconds = 0.0
        self.calls = 0
        self.by_call: dict[str, float] = {}
        self._lock = threading.Lock()

    def clocked(self, work: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return work(*args, **kwargs)
        finally:
            spent = time.perf_counter() - start
            name = f"{getattr(work, '__name__', 'find')} {args[0] if args else ''}".strip()
            with self._lock:
                self.seconds += spent
                self.calls += 1
                self.by_call[name] = self.by_call.get(name, 0.0) + spent

    def collection(self, name: str) -> _ClockedCollection:
        return _ClockedCollection(self, self.inner.collection(name))

    def bulk_update(self, name: str, ops: Sequence[Update]) -> BulkResult:
        return self.clocked(self.inner.bulk_update, name, ops)

    def batches(
        self,
        name: str,
        filter: Mapping[str, Any],
        sort: Sequence[tuple[str, int]],
        fields: Mapping[str, str],
        schema: pa.Schema,
        **rows: int,
    ) -> Iterator[pa.RecordBatch]:
        """The batches of the read, each clocked while the engine makes it."""
        read = self.inner.batches(name, filter, sort, fields, schema, **rows)
        while True:
            batch = self.clocked(_next_batch, name, read)
            if batch is None:
                return
            yield batch

    def span(self, name: str, filter: Mapping[str, Any], field: str) -> tuple[int, Any, Any]:
        return self.clocked(self.inner.span, name, filter, field)

    def insert_new(self, name: str, doc: Mapping[str, Any]) -> bool:
        return self.clocked(self.inner.insert_new, name, doc)

    def replace(
        self, name: str, filter: Mapping[str, Any], run_id: str, docs: Sequence[Mapping[str, Any]]
    ) -> None:
        self.clocked(self.inner.replace, name, filter, run_id, docs)

    def put(self, name: str, docs: Sequence[Mapping[str, Any]]) -> None:
        self.clocked(self.inner.put, name, docs)

    def transaction(self) -> Any:
        return self.inner.transaction()

    def drop(self) -> None:
        self.inner.drop()

    def close(self) -> None:
        self.inner.close()


def _next_batch(name: str, read: Iterator[pa.RecordBatch]) -> pa.RecordBatch | None:
    """The next batch of a read of collection ``name`` (None at its end); clocked as
    ``_next_batch <name>``."""
    return next(read, None)


class _ClockedCollection:
    """A collection whose calls are clocked; a ``find`` is clocked while it is read."""

    def __init__(self, clock: ClockedBackend, inner: Any) -> None:
        self._clock, self._inner = clock, inner

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._inner, name)
        if name == "find":
            return lambda *a, **k: _ClockedCursor(self._clock, method(*a, **k))
        return lambda *a, **k: self._clock.clocked(method, *a, **k)


class _ClockedCursor:
    def __init__(self, clock: ClockedBackend, inner: Any) -> None:
        self._clock, self._inner = clock, inner

    def sort(self, *args: Any, **kwargs: Any) -> _ClockedCursor:
        self._inner = self._inner.sort(*args, **kwargs)
        return self

    def limit(self, n: int) -> _ClockedCursor:
        self._inner = self._inner.limit(n)
        return self

    def __iter__(self) -> Any:
        return iter(self._clock.clocked(list, self._inner))


@contextlib.contextmanager
def clock_stages(
    stages: Mapping[str, tuple[str, ...]] = CLOCKED_STAGES,
) -> Iterator[dict[str, float]]:
    """Clock each of ``stages`` while the block runs (seconds by name, summed over calls);
    the originals are put back on the way out. For a benchmark's own process only."""
    seconds: dict[str, float] = {}
    restore = []
    for name, (module_name, attribute, *method) in stages.items():
        owner = importlib.import_module(module_name)
        if method:
            owner, attribute = getattr(owner, attribute), method[0]
        original = getattr(owner, attribute)
        restore.append((owner, attribute, original))
        setattr(owner, attribute, _clocked(original, name, seconds))
    try:
        yield seconds
    finally:
        for owner, attribute, original in reversed(restore):
            setattr(owner, attribute, original)


def _clocked(work: Callable[..., Any], name: str, seconds: dict[str, float]) -> Any:
    @functools.wraps(work)
    def timed(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return work(*args, **kwargs)
        finally:
            seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - start

    return timed


def load(dataset_dir: Path, url: str) -> dict[str, Any]:
    """Write the dataset's week into the store at ``url`` as collection would."""
    from dwt.bench.load import load_week

    start = time.perf_counter()
    store = Store.open(url)
    written = load_week(store, Dataset.load(dataset_dir), COMMUNITY)
    return {"load_s": round(time.perf_counter() - start, 1), "tweets_written": written.inserted}


def run(url: str, now: datetime) -> dict[str, Any]:
    """Run the insight steps on the loaded store, clocking the store; the report."""
    from dwt.pipeline.progress import Progress
    from dwt.pipeline.runner import run_pipeline
    from dwt.pipeline.spec import RunSpec

    baseline = _peak_rss_mb()
    backend = ClockedBackend(open_backend(url))
    store = Store(backend, redact_url(url), url)
    spec = RunSpec(community=COMMUNITY, steps=list(STEPS))
    with clock_stages() as stage_s:
        start = time.perf_counter()
        result = run_pipeline(
            store, spec, now=now, progress=Progress(store, "bench-run", stream=None)
        )
        total = time.perf_counter() - start
    return {
        "pipeline_s": round(total, 2),
        # The goal: discover at most twice the bonds step's time (at 10k / 1M).
        "discover_bonds_ratio": discover_bonds_ratio(result.timings),
        "store_s": round(backend.seconds, 2),
        "store_share": round(backend.seconds / total, 3),
        "store_calls": backend.calls,
        "store_s_by_call": {
            k: round(v, 2) for k, v in sorted(backend.by_call.items(), key=lambda kv: -kv[1])[:8]
        },
        "step_s": result.timings,
        # Inside the steps, store excluded (the cluster step: infomap, layout, summaries).
        "stage_s": {k: round(v, 2) for k, v in stage_s.items()},
        "counts": result.counts,
        "peak_rss_mb": round(_peak_rss_mb(), 1),
        "baseline_rss_mb": round(baseline, 1),
    }


def discover_bonds_ratio(timings: Mapping[str, float]) -> float | None:
    """The discover step's time over the bonds step's (None unless both ran)."""
    discover, bonds = timings.get("discover"), timings.get("bonds")
    if discover is None or not bonds:
        return None
    return round(discover / bonds, 3)


def _worker(argv: list[str], url: str, timeout_s: float) -> dict[str, Any]:
    python = sys.executable
    command = [python, "-c", _LAUNCHER, python, "-m", "dwt.bench.pipeline", *argv]
    env = dict(os.environ, **{URL_VARIABLE: url})
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"pipeline worker {argv[0]} failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure_pipeline(dataset: Dataset, url: str, *, timeout_s: float = 1800) -> dict[str, Any]:
    """Load ``dataset`` into the (empty) store at ``url``, then run and clock the pipeline."""
    with tempfile.TemporaryDirectory(prefix="dwt-bench-pipeline-") as tmp:
        dataset.save(Path(tmp) / "week")
        loaded = _worker(["load", str(Path(tmp) / "week")], url, timeout_s)
    report = _worker(["run", dataset.meta["now"]], url, timeout_s)
    members = int(pa.compute.sum(dataset.users["is_member"]).as_py())
    return loaded | report | {"members": members}


def main(argv: list[str]) -> int:
    url = os.environ.get(URL_VARIABLE)
    if not url or not argv or argv[0] not in ("load", "run"):
        print(f"usage: {URL_VARIABLE}=URL python -m dwt.bench.pipeline load DIR | run NOW",
              file=sys.stderr)  # fmt: skip
        return 2
    if argv[0] == "load":
        print(json.dumps(load(Path(argv[1]), url)))
    else:
        print(json.dumps(run(url, datetime.fromisoformat(argv[1]))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
