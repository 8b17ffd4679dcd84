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
A URL with ``?file=PATH`` (``mongomock://localhost/dwt?file=/var/lib/dwt/store.json``)
starts from that file and :func:`save` writes it back (MongoDB extended JSON, replaced
atomically), so a local store outlives its process: a Ray job's driver, the dashboard and
the next ``dwt run`` can share one without a server.
"""

from __future__ import annotations

import functools
import inspect
import threading
from collections.abc import Callable
from datetime import UTC
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import mongomock
from bson import json_util
from mongomock.collection import BulkOperationBuilder
from mongomock.collection import Collection as MockCollection

_CLIENTS: dict[str, mongomock.MongoClient] = {}
_JSON = json_util.JSONOptions(json_mode=json_util.JSONMode.CANONICAL, tz_aware=True, tzinfo=UTC)
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
            path = persist_path(url)
            if path is not None and path.exists():
                _load(_CLIENTS[url], path)
        return _CLIENTS[url]


def persist_path(url: str) -> Path | None:
    values = parse_qs(urlsplit(url).query).get("file")
    return Path(values[0]) if values else None


def _load(client: mongomock.MongoClient, path: Path) -> None:
    dump = json_util.loads(path.read_text(), json_options=_JSON)
    for db_name, collections in dump.items():
        for name, docs in collections.items():
            if docs:
                client[db_name][name].insert_many(docs)


def save(url: str) -> Path | None:
    """Write the in-process data of ``url`` to its ``?file=`` (no file: nothing to do)."""
    path = persist_path(url)
    if path is None or url not in _CLIENTS:
        return None
    engine = _CLIENTS[url]
    dump = {
        db_name: {
            name: list(engine[db_name][name].find())
            for name in engine[db_name].list_collection_names()
        }
        for db_name in engine.list_database_names()
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".part")
    partial.write_text(json_util.dumps(dump, json_options=_JSON))
    partial.replace(path)
    return path


def drop(url: str) -> None:
    """Forget the in-process data behind ``url`` (tests use fresh URLs instead)."""
    with _LOCK:
        _CLIENTS.pop(url, None)
