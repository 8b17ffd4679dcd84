"""Small X API v2 samples shipped with the package, for the first-run demo and tests."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from dwt.model.fields import TWEET_FIELDS
from dwt.store import Store, WriteSummary


def read_sample(name: str = "small_week") -> dict[str, Any]:
    """The parsed sample file ``samples/<name>.json``."""
    return json.loads(resources.files(__package__).joinpath(f"{name}.json").read_text())


def load_sample(store: Store, name: str = "small_week") -> WriteSummary:
    """Write a sample's members, follows and tweet pages into ``store`` (idempotent)."""
    sample = read_sample(name)
    store.add_members(sample["community"], sample["users"]["data"], source="import")
    for source, targets in sample["following"].items():
        store.put_follows(source, targets)
    written = WriteSummary()
    for page in sample["timelines"]:
        written += store.put_tweets(page, TWEET_FIELDS)
    return written
