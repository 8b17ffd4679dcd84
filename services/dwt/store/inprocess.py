"""The in-process MongoDB engine (mongomock) for tests and the local demo.

Two adaptations, both confined to this module:

* mongomock 4.3 predates pymongo 4.11, whose bulk operations pass ``sort=`` to the bulk
  builder; we never sort single-document updates, so the keyword is accepted when it is
  ``None`` and refused otherwise.
* mongomock scans every document for every query (it keeps no indexes), which makes a
  week of upserts quadratic. Its documents live in a dict keyed by ``_id``, and every
  write of ours filters on ``_id`` (see :func:`dwt.store.schema.doc_id`), so queries whose
  filter is only ``{"_id": value}`` or ``{"_id": {"$in": [...]}}`` look the documents up
  directly. Results are the same as a scan's; only the cost changes.

One client per URL per process, so every component of a local run sees the same data.
"""

from __future__ import annotations

import functools
import inspect
import threading
from collections.abc import Callable
from typing import Any

import mongomock
from mongomock.collection import BulkOperationBuilder
from mongomock.collection import Collection as MockCollection

_CLIENTS: dict[str, mongomock.MongoClient] = {}
_LOCK = threading.Lock()


def _accept_unsorted(method: Callable[..., Any]) -> Callable[..., Any]:
    if "sort" in inspect.signature(method).parameters:
        return method  # a mongomock that already knows the keyword

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, sort: Any = None, **kwargs: Any) -> Any:
        if sort is not None:
            raise NotImplementedError("mongomock cannot sort bulk updates")
        return method(self, *args, **kwargs)

    return wrapper


BulkOperationBuilder.add_update = _accept_unsorted(BulkOperationBuilder.add_update)
BulkOperationBuilder.add_replace = _accept_unsorted(BulkOperationBuilder.add_replace)


def _ids_only(filter: Any) -> list[Any] | None:
    """The ``_id`` values a filter selects, if it selects by ``_id`` alone."""
    if not isinstance(filter, dict) or list(filter) != ["_id"]:
        return None
    value = filter["_id"]
    if isinstance(value, dict):
        if list(value) == ["$in"] and isinstance(value["$in"], list | tuple):
            return list(dict.fromkeys(_hashable(v) for v in value["$in"]))
        return None
    return [_hashable(value)]


def _hashable(value: Any) -> Any:
    return value if isinstance(value, str | int | float | bytes) else _Unhashable


class _Unhashable:
    """Marks an ``_id`` the fast path leaves to mongomock (documents, lists, ...)."""


def _by_id(scan: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(scan)
    def iter_documents(self: MockCollection, filter: Any) -> Any:
        ids = _ids_only(filter)
        if ids is None or _Unhashable in ids:
            return scan(self, filter)
        store = self._store
        return (store[i] for i in ids if i in store)

    return iter_documents


MockCollection._iter_documents = _by_id(MockCollection._iter_documents)


def client(url: str) -> mongomock.MongoClient:
    """The process-wide in-process client for ``url`` (``mongomock://host/db``)."""
    with _LOCK:
        if url not in _CLIENTS:
            _CLIENTS[url] = mongomock.MongoClient(tz_aware=True)
        return _CLIENTS[url]


def drop(url: str) -> None:
    """Forget the in-process data behind ``url`` (tests use fresh URLs instead)."""
    with _LOCK:
        _CLIENTS.pop(url, None)
