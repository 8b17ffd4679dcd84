"""MongoDB update operators applied to a document in memory (the embedded store).

The operators the store's own methods write, with MongoDB's meaning: ``$set``, ``$unset``,
``$inc``, ``$setOnInsert`` (only when an upsert inserts) and ``$addToSet`` with ``$each``
(of strings, numbers or other hashable values). Dotted paths reach into sub-documents and
create them. Anything else raises :class:`~dwt.store.query.UnsupportedQuery`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dwt.store.query import UnsupportedQuery

_KNOWN = ("$set", "$unset", "$inc", "$setOnInsert", "$addToSet")


def check(update: Mapping[str, Any]) -> None:
    """Refuse a replacement document or an unknown operator before anything is written."""
    if not update:
        raise UnsupportedQuery("an update needs at least one operator")
    for op, fields in update.items():
        if op not in _KNOWN:
            raise UnsupportedQuery(f"update operator {op} is not supported by the embedded store")
        if not isinstance(fields, Mapping):
            raise UnsupportedQuery(f"{op} needs a document of fields")
        if op == "$addToSet" and not all(
            isinstance(v, Mapping) and set(v) == {"$each"} for v in fields.values()
        ):
            raise UnsupportedQuery("$addToSet needs {'$each': [...]} for each field")


def apply(doc: Mapping[str, Any], update: Mapping[str, Any], *, inserting: bool) -> dict[str, Any]:
    """A new document: ``doc`` with ``update`` applied. Neither ``doc`` nor the update's
    values are changed: sub-documents and arrays on a written path are copied first, the
    rest is shared (the caller encodes the result at once)."""
    out = dict(doc)
    for op, fields in update.items():
        if op == "$setOnInsert" and not inserting:
            continue
        for path, value in fields.items():
            if path == "_id" or path.startswith("_id."):
                if op in ("$set", "$setOnInsert") and value == out.get("_id"):
                    continue
                raise UnsupportedQuery("the _id of a document cannot be changed")
            parent, key = _parent(out, path, create=op != "$unset")
            if parent is None:
                continue
            if op in ("$set", "$setOnInsert"):
                parent[key] = value
            elif op == "$unset":
                parent.pop(key, None)
            elif op == "$inc":
                current = parent.get(key, 0)
                if not isinstance(current, int | float) or not isinstance(value, int | float):
                    raise UnsupportedQuery(f"$inc of {path}: both values must be numbers")
                parent[key] = current + value
            else:  # $addToSet: the items not yet there, once each, in order
                current = parent.get(key, [])
                if not isinstance(current, list):
                    raise UnsupportedQuery(f"$addToSet of {path}: the field is not an array")
                try:
                    seen = set(current)
                    fresh = [v for v in dict.fromkeys(value["$each"]) if v not in seen]
                except TypeError as exc:
                    raise UnsupportedQuery(f"$addToSet of {path}: {exc}") from exc
                parent[key] = current + fresh
    return out


def _parent(doc: dict[str, Any], path: str, *, create: bool) -> tuple[dict[str, Any] | None, str]:
    """The sub-document that holds ``path``'s last key, copied so that writing to it changes
    only ``doc`` (``doc``'s own top level is the caller's copy)."""
    *heads, key = path.split(".")
    node = doc
    for head in heads:
        child = node.get(head)
        if child is None:
            if not create:
                return None, key
            child = {}
        if not isinstance(child, dict):
            raise UnsupportedQuery(f"{path}: {head} is not a sub-document")
        node[head] = child = dict(child)
        node = child
    return node, key


def inserted(filter: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """The document an upsert inserts: the filter's ``_id``, then the update applied."""
    if set(filter) != {"_id"} or isinstance(filter["_id"], Mapping):
        raise UnsupportedQuery("an upsert must select one document by its _id")
    return apply({"_id": filter["_id"]}, update, inserting=True)
