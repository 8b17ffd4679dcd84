"""A small week of X API v2 data (four members, their follows and seven tweets) for tests:
every interaction kind once, small enough to check results by hand."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dwt.model.fields import TWEET_FIELDS
from dwt.store import Store, WriteSummary

SAMPLE = Path(__file__).with_suffix(".json")


def read_sample() -> dict[str, Any]:
    """The parsed sample (``sample_week.json``)."""
    return json.loads(SAMPLE.read_text())


def load_sample(store: Store) -> WriteSummary:
    """Write the sample's members, follows and tweet pages into ``store`` (idempotent)."""
    sample = read_sample()
    store.add_members(sample["community"], sample["users"]["data"], source="import")
    for source, targets in sample["following"].items():
        store.put_follows(source, targets)
    written = WriteSummary()
    for page in sample["timelines"]:
        written += store.put_tweets(page, TWEET_FIELDS)
    return written
