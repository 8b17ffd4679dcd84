"""The store: collection names and indexes (:mod:`dwt.store.schema`), one domain interface
(:mod:`dwt.store.store`) over the embedded SQLite engine (:mod:`dwt.store.sqlite`, the local
default) and MongoDB (:mod:`dwt.store.mongo`, the cluster's)."""

from dwt.store.ops import BulkResult, Update
from dwt.store.schema import NATURAL_KEYS, Coll, index_models
from dwt.store.store import (
    BOND_LISTS_SCHEMA,
    FOLLOWS_SCHEMA,
    INTERACTIONS_SCHEMA,
    MEMBERS_SCHEMA,
    Store,
    StoreError,
    WriteSummary,
)

__all__ = [
    "BOND_LISTS_SCHEMA",
    "FOLLOWS_SCHEMA",
    "INTERACTIONS_SCHEMA",
    "MEMBERS_SCHEMA",
    "NATURAL_KEYS",
    "BulkResult",
    "Coll",
    "Store",
    "StoreError",
    "Update",
    "WriteSummary",
    "index_models",
]
