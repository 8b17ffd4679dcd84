"""The MongoDB engine of the store (the cluster's): pymongo, nothing translated.

Columnar reads project in the server (``find`` with a projection and sort) and Arrow builds
the columns from the documents, a batch at a time; aggregation expressions are avoided so
the same reads run on every MongoDB wire-protocol server the tests use.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import pyarrow as pa
from bson import encode
from bson.raw_bson import RawBSONDocument
from pymongo import MongoClient
from pymongo.collection import Collection
from pymongo.errors import BulkWriteError, DuplicateKeyError

from dwt.store.errors import StoreError
from dwt.store.ops import BulkResult, Update

#: MongoDB's error code for a second document with the same ``_id``.
_DUPLICATE_KEY = 11000

#: Statements per ``update`` command. FerretDB 1.24 stalls for minutes on one command of 100
#: or more statements matching existing documents (docs/store.md); MongoDB takes up to
#: 100,000, but 64 per round trip costs it little.
_STATEMENTS_PER_COMMAND = 64

#: Bytes of statements per command, well under MongoDB's 16 MB per command.
_BYTES_PER_COMMAND = 8 << 20

#: Times an upsert that collided with another writer's insert of its ``_id`` is retried.
_UPSERT_RACES = 5

#: Documents per record batch of a columnar read.
BATCH_ROWS = 16_384

#: Ids per ``$in`` of one delete: the 673,000 conversation ids of a 10k-member week in one
#: command would pass MongoDB's 16 MB limit.
_IDS_PER_DELETE = 20_000


class MongoBackend:
    """One database of a MongoDB server (the URL's path names it; ``dwt`` by default)."""

    def __init__(self, url: str) -> None:
        self.client: MongoClient = MongoClient(url, tz_aware=True, serverSelectionTimeoutMS=10_000)
        self.db = self.client[urlsplit(url).path.lstrip("/") or "dwt"]

    def collection(self, name: str) -> Collection:
        return self.db[name]

    def bulk_update(self, name: str, ops: Sequence[Update]) -> BulkResult:
        """Apply ``ops`` in order, in ``update`` commands of at most `_STATEMENTS_PER_COMMAND`.

        Commands are *ordered*: a server stops at the first failed statement, so what was
        applied is known exactly on every server (FerretDB stops there even when asked for
        an unordered command, without saying so). After a failure the rest is sent again.
        An upsert that lost the race to insert its ``_id`` to another writer (E11000) is
        applied again, and then updates that writer's document — what MongoDB does on its
        own for an equality match on ``_id``, and what FerretDB leaves to the client (in a
        reply without the counts pymongo's ``bulk_write`` reads). Any other failed
        statement raises `StoreError` once the rest are written."""
        upserted = modified = matched = 0
        failed: list[str] = []
        races: dict[int, int] = {}
        # Encoded once: the size decides the commands, the bytes are sent as they are.
        statements = [
            RawBSONDocument(encode({"q": {"_id": op.id}, "u": op.update, "upsert": op.upsert}))
            for op in ops
        ]
        start = 0
        while start < len(ops):
            batch = statements[start : _batch_end(statements, start)]
            reply = self.db.command("update", name, ordered=True, updates=batch)
            if "writeConcernError" in reply:
                raise StoreError(f"{name}: {reply['writeConcernError'].get('errmsg', reply)}")
            new = len(reply.get("upserted", []))
            upserted, modified = upserted + new, modified + reply.get("nModified", 0)
            matched += reply.get("n", 0) - new
            errors = reply.get("writeErrors", [])
            if not errors:
                start += len(batch)
                continue
            error = errors[0]
            start += error["index"]
            if error.get("code") == _DUPLICATE_KEY and ops[start].upsert:
                races[start] = races.get(start, 0) + 1
                if races[start] <= _UPSERT_RACES:
                    continue  # the same statement again
            failed.append(error.get("errmsg", str(error)))
            start += 1
        if failed:
            raise StoreError(f"{name}: {len(failed)} of {len(ops)} writes failed: {failed[0]}")
        return BulkResult(upserted, modified, matched)

    def batches(
        self,
        name: str,
        filter: Mapping[str, Any],
        sort: Sequence[tuple[str, int]],
        fields: Mapping[str, str],
        schema: pa.Schema,
        rows: int = BATCH_ROWS,
    ) -> Iterator[pa.RecordBatch]:
        """The matching documents' ``fields`` as record batches of at most ``rows`` rows,
        projected by the server and read a cursor batch at a time."""
        if rows < 1:
            raise ValueError(f"rows must be >= 1, got {rows}")
        projection = {path: 1 for path in fields.values()}
        if "_id" not in fields.values():
            projection["_id"] = 0
        cursor = self.db[name].find(
            dict(filter), projection, sort=list(sort) or None, batch_size=min(rows, 10_000)
        )
        paths = [fields[n].split(".") for n in schema.names]
        columns: list[list[Any]] = [[] for _ in paths]

        def batch() -> pa.RecordBatch:
            arrays = [
                pa.array(column, type=field.type)
                for column, field in zip(columns, schema, strict=True)
            ]
            for column in columns:
                column.clear()
            return pa.RecordBatch.from_arrays(arrays, schema=schema)

        try:
            for doc in cursor:
                for column, path in zip(columns, paths, strict=True):
                    column.append(_get(doc, path))
                if len(columns[0]) >= rows:
                    yield batch()
            if columns and columns[0]:
                yield batch()
        finally:
            cursor.close()

    def span(self, name: str, filter: Mapping[str, Any], field: str) -> tuple[int, Any, Any]:
        coll = self.db[name]
        count = coll.count_documents(dict(filter))
        if not count:
            return 0, None, None
        present = {**filter, field: {"$exists": True}} if field not in filter else dict(filter)
        ends = [
            coll.find_one(present, {field: 1}, sort=[(field, direction)]) for direction in (1, -1)
        ]
        first, last = (_get(doc, field.split(".")) if doc else None for doc in ends)
        return count, first, last

    def replace(
        self, name: str, filter: Mapping[str, Any], run_id: str, docs: Sequence[Mapping[str, Any]]
    ) -> None:
        # ``filter`` selects one run's results, which nobody reads before the run publishes
        # them (dwt.store.weeks): delete what an earlier attempt left, insert the set. One
        # delete and one insert whatever the set's size, whole documents, no update per
        # document — which on a wire-protocol server without an `_id` fast path (FerretDB)
        # costs a collection scan each, and in FerretDB 1.24 stalls from the 100th update
        # of one command (docs/store.md).
        coll = self.db[name]
        coll.delete_many(dict(filter))
        if docs:
            self._insert_or_replace(coll, docs)

    def _insert_or_replace(self, coll: Collection, docs: Sequence[Mapping[str, Any]]) -> None:
        """Insert ``docs``; one another writer inserted meanwhile (the same run re-run at
        once) is replaced by ours, so a re-run stays harmless."""
        try:
            coll.insert_many([dict(d) for d in docs], ordered=False)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            others = [e for e in errors if e.get("code") != _DUPLICATE_KEY]
            if others or not errors:
                first = (others or errors)[0]["errmsg"] if errors else exc
                raise StoreError(
                    f"{coll.name}: {len(errors)} of {len(docs)} writes failed: {first}"
                ) from exc
            for error in errors:
                doc = docs[error["index"]]
                coll.replace_one({"_id": doc["_id"]}, doc, upsert=True)

    def insert_new(self, name: str, doc: Mapping[str, Any]) -> bool:
        try:
            self.db[name].insert_one(dict(doc))
        except DuplicateKeyError:
            return False
        return True

    def transaction(self) -> contextlib.AbstractContextManager[Any]:
        """The writes in the block, in order (a multi-document transaction needs a replica
        set: the writes that belong together are idempotent and ordered instead, the
        checkpoint last)."""
        return contextlib.nullcontext()

    def put(self, name: str, docs: Sequence[Mapping[str, Any]]) -> None:
        """Write whole documents by ``_id`` (replacing any there): a delete and an insert
        per batch, as :meth:`replace` writes (no update per document)."""
        coll = self.db[name]
        for start in range(0, len(docs), _IDS_PER_DELETE):
            batch = docs[start : start + _IDS_PER_DELETE]
            coll.delete_many({"_id": {"$in": [d["_id"] for d in batch]}})
            self._insert_or_replace(coll, batch)

    def drop(self) -> None:
        self.client.drop_database(self.db.name)

    def close(self) -> None:
        self.client.close()


def _batch_end(statements: Sequence[RawBSONDocument], start: int) -> int:
    """Where the command from ``start`` ends: at most `_STATEMENTS_PER_COMMAND` statements
    and `_BYTES_PER_COMMAND` (one larger statement alone)."""
    end, size = start, 0
    while end < len(statements) and end - start < _STATEMENTS_PER_COMMAND:
        size += len(statements[end].raw)
        if end > start and size > _BYTES_PER_COMMAND:
            break
        end += 1
    return end


def _get(doc: Mapping[str, Any], path: list[str]) -> Any:
    value: Any = doc
    for part in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value
