"""The MongoDB engine of the store (the cluster's): pymongo, nothing translated.

Columnar reads project in the server (``find`` with a projection and sort) and Arrow builds
the columns from the documents; aggregation expressions are avoided so the same reads run
on every MongoDB wire-protocol server the tests use.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import pyarrow as pa
from pymongo import MongoClient, UpdateOne
from pymongo.collection import Collection
from pymongo.errors import BulkWriteError

from dwt.store.ops import BulkResult, Update
from dwt.store.store import StoreError


class MongoBackend:
    """One database of a MongoDB server (the URL's path names it; ``dwt`` by default)."""

    def __init__(self, url: str) -> None:
        self.client: MongoClient = MongoClient(
            url, tz_aware=True, serverSelectionTimeoutMS=10_000
        )
        self.db = self.client[urlsplit(url).path.lstrip("/") or "dwt"]

    def collection(self, name: str) -> Collection:
        return self.db[name]

    def bulk_update(self, name: str, ops: Sequence[Update]) -> BulkResult:
        requests = [UpdateOne({"_id": op.id}, op.update, upsert=op.upsert) for op in ops]
        try:
            result = self.db[name].bulk_write(requests, ordered=False)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            first = errors[0]["errmsg"] if errors else exc
            raise StoreError(
                f"{name}: {len(errors)} of {len(requests)} writes failed: {first}"
            ) from exc
        return BulkResult(result.upserted_count, result.modified_count, result.matched_count)

    def arrow(
        self,
        name: str,
        filter: Mapping[str, Any],
        sort: Sequence[tuple[str, int]],
        fields: Mapping[str, str],
        schema: pa.Schema,
    ) -> pa.Table:
        projection = {path: 1 for path in fields.values()}
        if "_id" not in fields.values():
            projection["_id"] = 0
        cursor = self.db[name].find(dict(filter), projection, sort=list(sort) or None)
        columns: dict[str, list[Any]] = {n: [] for n in schema.names}
        getters = [(columns[n], fields[n].split(".")) for n in schema.names]
        for doc in cursor:
            for column, path in getters:
                column.append(_get(doc, path))
        return pa.table(
            {n: pa.array(columns[n], type=schema.field(n).type) for n in schema.names},
            schema=schema,
        )

    def span(self, name: str, filter: Mapping[str, Any], field: str) -> tuple[int, Any, Any]:
        coll = self.db[name]
        count = coll.count_documents(dict(filter))
        if not count:
            return 0, None, None
        present = {**filter, field: {"$exists": True}} if field not in filter else dict(filter)
        ends = [
            coll.find_one(present, {field: 1}, sort=[(field, direction)])
            for direction in (1, -1)
        ]
        first, last = (_get(doc, field.split(".")) if doc else None for doc in ends)
        return count, first, last

    def replace(
        self, name: str, filter: Mapping[str, Any], run_id: str, docs: Sequence[Mapping[str, Any]]
    ) -> None:
        # Upsert the new set, then delete what other runs left: readers never see it empty.
        ops = [
            Update(d["_id"], {"$set": {k: v for k, v in d.items() if k != "_id"}}, upsert=True)
            for d in docs
        ]
        if ops:
            self.bulk_update(name, ops)
        self.db[name].delete_many({**filter, "run_id": {"$ne": run_id}})

    def drop(self) -> None:
        self.client.drop_database(self.db.name)

    def close(self) -> None:
        self.client.close()


def _get(doc: Mapping[str, Any], path: list[str]) -> Any:
    value: Any = doc
    for part in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value
