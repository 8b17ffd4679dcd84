"""Run the product on an independent week the way a user would, and read what it stored.

The week is served by the X API v2 emulator over HTTP; members are added by username
(``dwt members add``'s function), collected by the real collector (threads, one key) and
run through ``run_pipeline`` with the default :class:`RunSpec` — the path of
``dwt run --steps collect,discover,bonds,cluster,content``. Nothing here looks at the plan:
the result is only what the store holds afterwards (member clusters, conversations,
topics), which :mod:`dwt.bench.independent.score` compares with the plan.

The "without conversation ids" reading nulls ``conversation_id`` on the stored tweets and
runs the content step again, so the content stage must rebuild conversations from reply
chains (``referenced_id``) as it would for tweets fetched without that field.
"""

from __future__ import annotations

import contextlib
import functools
import secrets
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow.compute as pc

from dwt.collect.keys import KeySource
from dwt.collect.lookup import add_members_by_username
from dwt.pipeline.collection import CollectConfig, collect
from dwt.pipeline.progress import Progress
from dwt.pipeline.runner import new_run_id, run_pipeline
from dwt.pipeline.spec import Content, RunSpec, Step
from dwt.store import Coll, Store
from dwt.xapi.dataset import Dataset
from dwt.xapi.emulator import EmulatorConfig, EmulatorServer

COMMUNITY = "independent"


@dataclass
class StoreReading:
    """What the store holds after a run: per member its cluster (-1 isolated), the
    conversation docs and the topic docs (None when the product has no topics)."""

    members: list[str]
    clusters: list[int]
    conversations: list[dict[str, Any]]
    topics: list[dict[str, Any]] | None
    counts: dict[str, Any] = field(default_factory=dict)
    conversations_without_ids: list[dict[str, Any]] | None = None


def run_product(dataset: Dataset, *, without_ids: bool = True) -> StoreReading:
    """Emulator → members add → collect → default pipeline; then read the store."""
    with product_store(dataset) as (store, counts):
        reading = _read(store, counts)
        if without_ids:
            reading.conversations_without_ids = _rerun_without_ids(store, dataset.now)
    return reading


@contextlib.contextmanager
def product_store(dataset: Dataset) -> Iterator[tuple[Store, dict[str, Any]]]:
    """The store after a user's run on ``dataset`` (emulator → members add → collect →
    default pipeline) and the run's counts; the store and emulator close on exit."""
    token = f"bench-{secrets.token_hex(8)}"  # a throwaway key for the local emulator
    config = EmulatorConfig(tokens=(token,), rate_limit=1_000_000, shift_to_now=False)
    now = dataset.now
    if now is None:
        raise ValueError("the dataset has no meta['now']: its window is unknown")
    with (
        tempfile.TemporaryDirectory(prefix="dwt-independent-") as tmp,
        EmulatorServer(dataset, config) as server,
    ):
        keys_file = Path(tmp) / "keys"
        keys_file.write_text(token + "\n")
        keys_file.chmod(0o600)
        store = Store.open(f"sqlite:///{Path(tmp) / 'dwt.db'}")
        try:
            names = dataset.users.filter(dataset.users["is_member"]).column("username")
            counts = add_collect_run(
                store, COMMUNITY, names.to_pylist(), server.base_url, token, keys_file, now
            )
            yield store, counts
        finally:
            store.close()


def add_collect_run(
    store: Store,
    community: str,
    usernames: Sequence[str],
    base_url: str,
    token: str,
    keys_file: Path,
    now: Any,
) -> dict[str, Any]:
    """What a user does with a week: add the members by username, collect them from the X
    API at ``base_url`` (an emulator) with the key in ``keys_file``, run every step; the
    run's counts (progress recorded in the store, not printed)."""
    added = add_members_by_username(
        store, community, list(usernames), token=token, base_url=base_url
    )
    if added.unavailable:
        raise RuntimeError(f"members not added: {sorted(added.unavailable)[:5]}")
    collector = CollectConfig(
        keys=KeySource(file=str(keys_file), from_env=False), base_url=base_url, use_ray=False
    )
    result = run_pipeline(
        store,
        RunSpec(community=community),
        now=now,
        progress=Progress(store, new_run_id(community, now), stream=None),
        steps={Step.COLLECT: functools.partial(collect, config=collector)},
    )
    return dict(result.counts)


def _read(store: Store, counts: dict[str, Any]) -> StoreReading:
    members = store.members(COMMUNITY)
    clusters = pc.fill_null(members.column("cluster"), -1).to_pylist()
    return StoreReading(
        members=members.column("account_id").to_pylist(),
        clusters=[int(c) for c in clusters],
        conversations=_docs(store, Coll.CONVERSATIONS),
        topics=_docs(store, Coll.TOPICS) if hasattr(Coll, "TOPICS") else None,
        counts=dict(counts),
    )


def _docs(store: Store, coll: Coll) -> list[dict[str, Any]]:
    return list(store[coll].find(store.shown(coll, COMMUNITY)))


def _rerun_without_ids(store: Store, now: Any) -> list[dict[str, Any]]:
    """Null every stored tweet's conversation id, run the content step again, read it."""
    store.forget_conversation_ids()
    return rerun_content(store, now)


def rerun_content(store: Store, now: Any, content: Content | None = None) -> list[dict[str, Any]]:
    """Run the content step alone again on what ``store`` holds, with ``content``'s
    settings (default: the spec's), and read the conversations it stored."""
    spec = RunSpec(community=COMMUNITY, steps=[Step.CONTENT], content=content or Content())
    run_pipeline(store, spec, now=now, progress=_quiet(store, now))
    return _docs(store, Coll.CONVERSATIONS)


def _quiet(store: Store, now: Any) -> Progress:
    """Progress recorded in the store as usual, but not printed (a benchmark's output)."""
    return Progress(store, new_run_id(COMMUNITY, now), stream=None)
