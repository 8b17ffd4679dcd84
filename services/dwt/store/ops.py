"""Batch updates as both engines take them: by ``_id``, with pymongo update operators."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Update:
    """One update of a batch: the document with ``_id``, pymongo update operators."""

    id: str
    update: Mapping[str, Any]
    upsert: bool = False


@dataclass(frozen=True, slots=True)
class BulkResult:
    """What a batch of updates did (the counts of pymongo's ``BulkWriteResult``)."""

    upserted_count: int
    modified_count: int
    matched_count: int
