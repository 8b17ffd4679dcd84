"""Run the product on family 2's two weeks as a user would, and read what it stored.

Each week is served by the X API v2 emulator over HTTP; the week's new members are added by
username (``dwt members add``'s function), collected by the real collector and run with the
default :class:`RunSpec` (``dwt run``'s steps), both weeks in one store so that week 2 meets
what a user's second week meets: last week's follow lists, partly refreshed, and last
week's clusters to map onto. Nothing here reads the truth.
"""

from __future__ import annotations

import functools
import secrets
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow.compute as pc

from dwt.bench.family2.serve import WeekData
from dwt.collect.keys import KeySource
from dwt.collect.lookup import add_members_by_username
from dwt.pipeline.collection import CollectConfig, collect
from dwt.pipeline.progress import Progress
from dwt.pipeline.runner import new_run_id, run_pipeline
from dwt.pipeline.spec import RunSpec, Step
from dwt.store import Coll, Store
from dwt.xapi.emulator import EmulatorConfig, EmulatorServer

COMMUNITY = "family2"


@dataclass
class Reading:
    """One week's result as stored: per member its cluster (-1 isolated) and every trending
    item (``kind`` conversation or topic, ``name``, ``cluster``, ``tweet_ids``)."""

    members: list[str]
    clusters: list[int]
    trending: list[dict[str, Any]]
    counts: dict[str, Any] = field(default_factory=dict)


def run_product(weeks: Sequence[WeekData]) -> list[Reading]:
    """Emulator → members add → collect → default pipeline, week after week; one reading each."""
    token = f"bench-{secrets.token_hex(8)}"  # a throwaway key for the local emulator
    config = EmulatorConfig(tokens=(token,), rate_limit=1_000_000, shift_to_now=False)
    readings = []
    with tempfile.TemporaryDirectory(prefix="dwt-family2-") as tmp:
        keys_file = Path(tmp) / "keys"
        keys_file.write_text(token + "\n")
        keys_file.chmod(0o600)
        store = Store.open(f"sqlite:///{Path(tmp) / 'dwt.db'}")
        try:
            for week in weeks:
                now = week.dataset.now
                if now is None:
                    raise ValueError("the week's dataset has no meta['now']: its window is unknown")
                with EmulatorServer(week.dataset, config) as server:
                    added = add_members_by_username(
                        store, COMMUNITY, week.new_usernames, token=token, base_url=server.base_url
                    )
                    if added.unavailable:
                        raise RuntimeError(f"members not added: {sorted(added.unavailable)[:5]}")
                    collector = CollectConfig(
                        keys=KeySource(file=str(keys_file), from_env=False),
                        base_url=server.base_url,
                        use_ray=False,
                    )
                    result = run_pipeline(
                        store,
                        RunSpec(community=COMMUNITY),
                        now=now,
                        progress=_quiet(store, now),
                        steps={Step.COLLECT: functools.partial(collect, config=collector)},
                    )
                readings.append(_read(store, result.counts))
        finally:
            store.close()
    return readings


def _read(store: Store, counts: dict[str, Any]) -> Reading:
    members = store.members(COMMUNITY)
    clusters = pc.fill_null(members.column("cluster"), -1).to_pylist()
    trending = []
    for coll, kind, name in (
        (Coll.CONVERSATIONS, "conversation", "conversation_id"),
        (Coll.TOPICS, "topic", "topic"),
    ):
        for doc in store[coll].find(store.shown(coll, COMMUNITY)):
            if doc.get("trending"):
                trending.append(
                    {
                        "kind": kind,
                        "name": str(doc.get(name)),
                        "cluster": doc.get("cluster"),
                        "tweet_ids": [str(t) for t in doc.get("tweet_ids") or ()],
                    }
                )
    return Reading(
        members=members.column("account_id").to_pylist(),
        clusters=[int(c) for c in clusters],
        trending=trending,
        counts=dict(counts),
    )


def _quiet(store: Store, now: datetime) -> Progress:
    """Progress recorded in the store as usual, but not printed (a benchmark's output)."""
    return Progress(store, new_run_id(COMMUNITY, now), stream=None)
