"""What the collection tests share: API keys from the environment, the generated community
added to a store, the X API emulator serving it, one collection run as the pipeline starts
it, and the tweets a run should store.

One place for them, so the three collection suites (``test_collect``, ``test_collect_spend``,
``test_hardening_collect``) set a run up the same way and a change to how collection starts
lands everywhere at once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from dwt.collect.keys import KeySource
from dwt.generate import generate_community
from dwt.pipeline.collection import CollectConfig, collect
from dwt.pipeline.insights import Week
from dwt.pipeline.progress import Progress
from dwt.pipeline.spec import RunSpec
from dwt.store import Coll, Store
from dwt.store.runs import start_run
from dwt.xapi.dataset import Dataset
from dwt.xapi.emulator import EmulatorConfig, EmulatorServer

COMMUNITY = "c"
#: The API keys the collection suites run with (the ``keys`` fixture of conftest.py).
KEYS = ("key-one", "key-two")


def small_community() -> Dataset:
    """60 members in 3 planted communities, 3 days of tweets (the collection tests' world)."""
    return generate_community(members=60, communities=3, days=3, seed=11, tweets_per_member=12)


def key_source(monkeypatch: pytest.MonkeyPatch, keys: Sequence[str]) -> KeySource:
    """A `KeySource` reading exactly ``keys`` from ``DWT_API_KEYS`` (no file, no directory)."""
    monkeypatch.setenv("DWT_API_KEYS", ",".join(keys))
    for name in ("DWT_API_KEYS_FILE", "DWT_API_KEYS_DIR"):
        monkeypatch.delenv(name, raising=False)
    return KeySource()


def members(dataset: Dataset) -> list[dict]:
    """The dataset's members (protected, suspended and missing ones included)."""
    return dataset.users.filter(dataset.users["is_member"]).to_pylist()


def add_community(store: Store, dataset: Dataset) -> Store:
    """``store`` with every member of ``dataset`` added to community ``c``."""
    store.add_members(
        COMMUNITY, [{"id": m["id"], "username": m["username"]} for m in members(dataset)]
    )
    return store


def emulator(dataset: Dataset, tokens: Sequence[str], **config: Any) -> EmulatorServer:
    """The emulator serving ``dataset`` as generated (no time shift), 1 s rate windows;
    ``config`` sets any other `EmulatorConfig` field (faults, ``rate_limit``)."""
    settings = {"tokens": tuple(tokens), "shift_to_now": False, "rate_window_s": 1}
    return EmulatorServer(dataset, EmulatorConfig(**(settings | {"rate_limit": 50} | config)))


def run_collect(
    store: Store,
    keys: KeySource,
    base_url: str,
    now: datetime,
    run_id: str = "r1",
    spec: Mapping[str, Any] | None = None,
    **config: Any,
) -> dict[str, int]:
    """One collection step of community ``c`` as the pipeline runs it (a run record, its
    progress, the week ending ``now``), without Ray; ``spec`` adds `RunSpec` fields and
    ``config`` overrides `CollectConfig` fields. Returns the step's counts."""
    run_spec = RunSpec(community=COMMUNITY, steps=["collect"], **(spec or {}))
    start_run(store, run_id, COMMUNITY, ["collect"], {}, datetime.now(UTC))
    progress = Progress(store, run_id, stream=None)
    progress.start("collect")
    week = Week(store, run_spec, now, progress=progress)
    settings = {"backoff_s": 0.01, "use_ray": False} | config
    return collect(week, run_id, CollectConfig(keys, base_url, **settings))


def readable_tweets(
    dataset: Dataset, since: datetime | None = None, until: datetime | None = None
) -> set[str]:
    """Ids of the tweets a collection can read: by active members, within [since, until)."""
    readable = pa.array([m["id"] for m in members(dataset) if m["state"] == "active"])
    t = dataset.tweets
    at = t["created_at"]
    mask = pc.is_in(t["author_id"], readable)
    if since is not None:
        mask = pc.and_(mask, pc.greater_equal(at, pa.scalar(since, at.type)))
    if until is not None:
        mask = pc.and_(mask, pc.less(at, pa.scalar(until, at.type)))
    return set(t.filter(mask).column("id").to_pylist())


def stored_tweets(store: Store) -> list[str]:
    """Ids of the tweets ``store`` holds, once per stored document."""
    return [d["_id"] for d in store[Coll.TWEETS].find({}, {"_id": 1})]
