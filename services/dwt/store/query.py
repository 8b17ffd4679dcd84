"""MongoDB filters and sorts as SQL over documents stored as JSON text (the embedded store).

Only what the store's own methods (:mod:`dwt.store`) write is translated — callers outside
the store ask it by name — and anything else raises :class:`UnsupportedQuery` rather than
being answered differently from a MongoDB server. The same filters run on both backends in
the store's contract tests.

Supported: equality (an array field, declared in :data:`dwt.store.schema.ARRAY_FIELDS`,
matches when it *contains* the value, as in MongoDB; None matches a missing field too),
``$in`` and ``$nin`` (of values other than None), ``$ne`` (of a value other than None),
``$gt``, ``$gte``, ``$lt``, ``$lte``, ``$exists: True`` and ``$or``. Order comparisons match
only values of the operand's own type, as MongoDB's type brackets do. Every field is read with
the one expression :func:`field_sql` makes, which is also what the indexes are built on, so
SQLite's planner uses them.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

from dwt.store.codec import dumps, sql_value

_SEGMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ORDER_OPS = {"$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}


class UnsupportedQuery(ValueError):
    """A filter, sort or update the embedded store does not translate."""


def field_sql(field: str) -> str:
    """The SQL expression that reads ``field`` (dotted for sub-documents) of a document."""
    if field == "_id":
        return "_id"
    segments = field.split(".")
    if not all(_SEGMENT.fullmatch(s) for s in segments):
        raise UnsupportedQuery(f"field name {field!r} is not supported by the embedded store")
    return f"json_extract(doc, '$.{field}')"


def _type_guard(field: str, value: Any) -> str:
    """Keep an order comparison inside the operand's type, as MongoDB does."""
    if field == "_id":
        return "1"
    path = field_sql(field).replace("json_extract", "json_type", 1)
    if isinstance(value, datetime):
        return f"{path} = 'object'"
    if isinstance(value, bool):
        return f"{path} IN ('true', 'false')"
    if isinstance(value, int | float):
        return f"{path} IN ('integer', 'real')"
    return f"{path} = 'text'"


class Compiler:
    """Compiles filters for one collection (which fields are arrays changes equality)."""

    def __init__(self, array_fields: Collection[str] = ()) -> None:
        self.array_fields = frozenset(array_fields)

    def where(self, filter: Mapping[str, Any] | None) -> tuple[str, list[Any]]:
        """``(sql, params)`` of a filter; an empty filter is ``1``."""
        params: list[Any] = []
        sql = self._document(filter or {}, params)
        return sql, params

    def _document(self, filter: Mapping[str, Any], params: list[Any]) -> str:
        if not isinstance(filter, Mapping):
            raise UnsupportedQuery(f"a filter must be a document, got {filter!r:.80}")
        terms = []
        for key, cond in filter.items():
            if key == "$or":
                if not isinstance(cond, Sequence) or not cond:
                    raise UnsupportedQuery(f"{key} needs a non-empty list of filters")
                parts = [self._document(sub, params) for sub in cond]
                terms.append("(" + " OR ".join(parts) + ")")
            elif key.startswith("$"):
                raise UnsupportedQuery(f"query operator {key} is not supported")
            else:
                terms.append(self._field(key, cond, params))
        return " AND ".join(terms) if terms else "1"

    def _field(self, field: str, cond: Any, params: list[Any]) -> str:
        if isinstance(cond, Mapping) and cond and all(k.startswith("$") for k in cond):
            return " AND ".join(self._operator(field, op, v, params) for op, v in cond.items())
        return self._equals(field, cond, params)

    def _equals(self, field: str, value: Any, params: list[Any]) -> str:
        if isinstance(value, Mapping | list | tuple):
            raise UnsupportedQuery(f"{field}: matching a whole document or list is not supported")
        expr = field_sql(field)
        if value is None:  # missing or null, as in MongoDB
            return f"{expr} IS NULL"
        params.append(sql_value(value))
        n = len(params)
        if field in self.array_fields:
            return (
                f"(CASE json_type(doc, '$.{field}') WHEN 'array' THEN EXISTS "
                f"(SELECT 1 FROM json_each(doc, '$.{field}') WHERE value = ?{n}) "
                f"ELSE {expr} = ?{n} END)"
            )
        return f"{expr} = ?{n}"

    def _operator(self, field: str, op: str, value: Any, params: list[Any]) -> str:
        expr = field_sql(field)
        if op in _ORDER_OPS:
            if value is None or isinstance(value, Mapping | list | tuple):
                raise UnsupportedQuery(f"{field}: {op} needs a number, string or date")
            params.append(sql_value(value))
            return f"({_type_guard(field, value)} AND {expr} {_ORDER_OPS[op]} ?{len(params)})"
        if op == "$ne":
            if field in self.array_fields:
                raise UnsupportedQuery(f"{field}: $ne on an array field is not supported")
            if value is None or isinstance(value, Mapping | list | tuple):
                raise UnsupportedQuery(f"{field}: $ne needs a number, string or date")
            params.append(sql_value(value))
            return f"{expr} IS NOT ?{len(params)}"
        if op in ("$in", "$nin"):
            return self._membership(field, op, value, params)
        if op == "$exists":
            if value is not True:
                raise UnsupportedQuery(f"{field}: only $exists: True is supported")
            return f"{expr.replace('json_extract', 'json_type', 1)} IS NOT NULL"
        raise UnsupportedQuery(f"{field}: operator {op} is not supported by the embedded store")

    def _membership(self, field: str, op: str, values: Any, params: list[Any]) -> str:
        if not isinstance(values, list | tuple | set | frozenset):
            raise UnsupportedQuery(f"{field}: {op} needs a list")
        if field in self.array_fields:
            raise UnsupportedQuery(f"{field}: {op} on an array field is not supported")
        values = list(values)
        if any(v is None or isinstance(v, datetime | bool) for v in values):
            raise UnsupportedQuery(f"{field}: {op} with None, dates or booleans is not supported")
        # One parameter however long the list: SQLite reads the JSON array itself.
        params.append(dumps(values))
        listed = f"IN (SELECT value FROM json_each(?{len(params)}))"
        expr = field_sql(field)
        if op == "$in":
            return f"({expr} {listed})"
        return f"({expr} IS NULL OR {expr} NOT {listed})"


def order_by(sort: Sequence[tuple[str, int]] | None) -> str:
    """``ORDER BY`` for a pymongo-style sort (``[(field, 1 | -1), ...]``); empty for none."""
    if not sort:
        return ""
    terms = []
    for field, direction in sort:
        if direction not in (1, -1):
            raise UnsupportedQuery(f"sort direction of {field} must be 1 or -1")
        terms.append(f"{field_sql(field)} {'ASC' if direction == 1 else 'DESC'}")
    return " ORDER BY " + ", ".join(terms)
