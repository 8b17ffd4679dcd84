"""Where collectors run: Ray actors (the product) or threads (tests, ``--no-ray``).

Both pools run one :class:`KeyWorker` per slot and answer the same two calls, ``submit``
and ``wait``, so the scheduler does not know which it drives. Each collector writes the
pages it fetches to ``store`` itself (an actor opens it from a
:class:`~dwt.store.ref.StoreRef`, never a secret sent). A Ray actor that dies is restarted
by Ray (``max_restarts``); its in-flight calls come back as exceptions, which the scheduler
re-queues.
"""

from __future__ import annotations

import concurrent.futures as cf
from collections.abc import Sequence
from typing import Any, Protocol

from dwt.collect.items import WorkItem
from dwt.collect.keys import KeySource
from dwt.collect.worker import KeyWorker
from dwt.store import Store
from dwt.store.ref import StoreRef


class Pool(Protocol):
    key_ids: list[str]  # the key of each worker slot

    def submit(self, slot: int, item: WorkItem) -> Any: ...

    def ready(self) -> None: ...

    def wait(self, handles: Sequence[Any], timeout: float | None) -> list[tuple[Any, Any]]:
        """Block until at least one handle is done (or ``timeout``); returns every done
        handle with its :class:`Outcome`, or the exception that lost it."""
        ...

    def close(self) -> None: ...


class ThreadPool:
    """One thread per worker slot, each with its own client (like an actor)."""

    def __init__(
        self, keys: KeySource, key_ids: Sequence[str], base_url: str, store: Store, **worker: Any
    ):
        self.key_ids = list(key_ids)
        self._executors = [cf.ThreadPoolExecutor(1, f"collector-{i}") for i in range(len(key_ids))]
        self._workers = [KeyWorker(keys, k, base_url, store=store, **worker) for k in self.key_ids]

    def submit(self, slot: int, item: WorkItem) -> cf.Future:
        return self._executors[slot].submit(self._workers[slot].fetch, item)

    def wait(self, handles: Sequence[cf.Future], timeout: float | None) -> list[tuple[Any, Any]]:
        done, _ = cf.wait(handles, timeout=timeout, return_when=cf.FIRST_COMPLETED)
        return [(f, f.exception() or f.result()) for f in done]

    def ready(self) -> None:
        """Threads start at once."""

    def close(self) -> None:
        for executor in self._executors:
            executor.shutdown(wait=True)


class RayPool:
    """One Ray actor per worker slot; actors need no CPU (they wait on the network)."""

    def __init__(
        self,
        keys: KeySource,
        key_ids: Sequence[str],
        base_url: str,
        store: Store,
        max_restarts: int = 5,
        **worker: Any,
    ):
        import ray

        self._ray = ray
        self.key_ids = list(key_ids)
        remote = ray.remote(KeyWorker).options(
            num_cpus=0, max_restarts=max_restarts, max_task_retries=0
        )
        ref = StoreRef.of(store)
        self.actors = [
            remote.remote(keys, key, base_url, store=ref, **worker) for key in self.key_ids
        ]

    def ready(self, timeout: float = 120.0) -> None:
        """Block until every actor is constructed (benchmarks time the steady state)."""
        self._ray.get([actor.__ray_ready__.remote() for actor in self.actors], timeout=timeout)

    def submit(self, slot: int, item: WorkItem) -> Any:
        return self.actors[slot].fetch.remote(item)

    def wait(self, handles: Sequence[Any], timeout: float | None) -> list[tuple[Any, Any]]:
        ray = self._ray
        ready, _ = ray.wait(list(handles), num_returns=1, timeout=timeout)
        if ready:  # collect whatever else is done too
            ready, _ = ray.wait(list(handles), num_returns=len(handles), timeout=0)
        results: list[tuple[Any, Any]] = []
        for ref in ready:
            try:
                results.append((ref, ray.get(ref)))
            except ray.exceptions.RayError as exc:  # actor died, task lost: re-queue
                results.append((ref, exc))
        return results

    def close(self) -> None:
        for actor in self.actors:
            self._ray.kill(actor)
