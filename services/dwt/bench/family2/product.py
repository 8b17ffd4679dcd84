"""Run the product on family 2's two weeks as a user would, and read what it stored.

Each week is served by the X API v2 emulator over HTTP; the week's new members are added by
username (``dwt members add``'s function), collected by the real collector and run with the
default :class:`RunSpec` (``dwt run``'s steps), both weeks in one store so that week 2 meets
what a user's second week meets: last week's follow lists, partly refreshed, and last
week's clusters to map onto. Nothing here reads the truth.
"""

from __future__ import annotations

import secrets
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow.compute as pc

from dwt.bench.family2.serve import WeekData
from dwt.bench.independent.product import add_collect_run
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
                    counts = add_collect_run(
                        store, COMMUNITY, week.new_usernames, server.base_url, token, keys_file, now
                    )
                readings.append(_read(store, counts))
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
