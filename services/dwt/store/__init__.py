"""MongoDB store: collection names and indexes (:mod:`dwt.store.schema`), bulk idempotent
writes and columnar reads (:mod:`dwt.store.mongo`)."""

from dwt.store.mongo import (
    BOND_LISTS_SCHEMA,
    FOLLOWS_SCHEMA,
    INTERACTIONS_SCHEMA,
    MEMBERS_SCHEMA,
    Store,
    StoreError,
    WriteSummary,
)
from dwt.store.schema import NATURAL_KEYS, Coll, index_models

__all__ = [
    "BOND_LISTS_SCHEMA",
    "FOLLOWS_SCHEMA",
    "INTERACTIONS_SCHEMA",
    "MEMBERS_SCHEMA",
    "NATURAL_KEYS",
    "Coll",
    "Store",
    "StoreError",
    "WriteSummary",
    "index_models",
]
