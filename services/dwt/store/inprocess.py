"""The in-process MongoDB engine (mongomock) for tests and the local demo.

mongomock 4.3 predates pymongo 4.11, whose bulk operations pass ``sort=`` to the bulk
builder; we never sort single-document updates, so the keyword is accepted when it is
``None`` and refused otherwise. One client per URL per process, so every component of a
local run sees the same data.
"""

from __future__ import annotations

import functools
import inspect
import threading
from collections.abc import Callable
from typing import Any

import mongomock
from mongomock.collection import BulkOperationBuilder

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
