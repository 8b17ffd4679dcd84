"""The embedded store: documents in one SQLite file (WAL), safe for several processes.

The local default (``sqlite:///path/to/dwt.db``), as SQLite is for Prefect, Dagster, Airflow
and MLflow: the dashboard, ``dwt`` commands, Ray job drivers and workers on one machine open
the same file. WAL lets readers run beside the one writer; every write (a page of tweets, a
checkpoint, a batch of results) is its own transaction, so a killed process loses at most
the write in flight, and a writer waits for another's lock instead of overwriting it.

Each collection is a table ``(_id TEXT PRIMARY KEY, doc TEXT)`` holding the document as JSON
(:mod:`dwt.store.codec`). :class:`SqliteCollection` answers the part of pymongo's collection
API the product uses (filters and sorts translated by :mod:`dwt.store.query`, updates applied
by :mod:`dwt.store.updates`); the secondary indexes of :mod:`dwt.store.schema` become SQLite
expression indexes. Columnar reads ask SQLite for one JSON line per row, a batch of lines
at a time, and let Arrow's JSON reader build the columns in C++.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import io
import os
import sqlite3
import threading
import weakref
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.json as pa_json
from pymongo import IndexModel

from dwt.private import FILE_MODE, private_file
from dwt.store import codec, updates
from dwt.store.health import SCHEMA_VERSION, StoreDamaged, remember_good
from dwt.store.ops import BulkResult, Update
from dwt.store.query import Compiler, UnsupportedQuery, field_sql, order_by

#: How long a writer waits for another process's write lock before failing (ms).
BUSY_TIMEOUT_MS = 60_000
_PRAGMAS = (
    f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}",
    "PRAGMA journal_mode = WAL",
    "PRAGMA synchronous = NORMAL",  # durable against a killed process, not a power cut
    "PRAGMA cache_size = -65536",  # 64 MiB of pages per connection
    "PRAGMA temp_store = MEMORY",
)
_CHUNK = 500  # documents fetched per statement when a batch looks up existing ones
_BLOCK = 1 << 26  # Arrow's JSON reader block: larger than any one document's line
#: Rows per record batch of a columnar read (a few MB of JSON lines at a time).
BATCH_ROWS = 16_384


@dataclass(frozen=True, slots=True)
class UpdateResult:
    matched_count: int
    modified_count: int
    upserted_id: str | None = None


@dataclass(frozen=True, slots=True)
class DeleteResult:
    deleted_count: int


#: A columnar read kept ready: its fields (name → dotted path) and Arrow schema.
Line = tuple[Mapping[str, str], pa.Schema]


class SqliteDatabase:
    """One SQLite file; a connection per thread (and per process after a fork).

    ``lines`` names, per collection, one columnar read to keep ready: its JSON line is a
    stored generated column, computed by SQLite when a document is written, so that read
    parses no document (SQLite before 3.45 parses a document once per field it extracts)."""

    def __init__(
        self,
        path: Path,
        array_fields: Mapping[str, Collection[str]],
        lines: Mapping[str, Line] | None = None,
    ) -> None:
        self.path = path
        self.array_fields = array_fields
        self.lines: dict[str, tuple[dict[str, str], pa.Schema, str]] = {}
        for name, (fields, schema) in (lines or {}).items():
            paths = {n: fields.get(n, n) for n in schema.names}
            self.lines[name] = (paths, schema, _line_column(paths, schema))
        self._local = threading.local()
        self._tables: set[str] = set()
        self._lock = threading.Lock()
        # Every live thread's, closed at exit; a thread that ended drops its own (its
        # thread-local goes, and the connection closes with it: a process that runs many
        # collections' worker threads would otherwise keep three descriptors per thread).
        self._conns: weakref.WeakSet[_Checked] = weakref.WeakSet()
        self._conns_lock = threading.Lock()
        try:  # the file and its -wal/-shm (SQLite gives them the file's mode) are private
            if path.exists():  # by name: closing a handle on it would drop SQLite's locks
                os.chmod(path, FILE_MODE)
            else:
                private_file(path)
        except OSError as exc:
            raise StoreDamaged(path, f"cannot be created ({exc.strerror})") from None
        self._schema_version()
        self._seen = self._stat()
        # A process that ends normally leaves the file as SQLite wrote it: the next open
        # need not read it through again. A killed one leaves no note, so it is checked.
        atexit.register(self._close_all)

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            found = self.path.stat()
        except OSError:
            return None
        return found.st_size, found.st_mtime_ns, found.st_ino

    def _untouched(self) -> bool:
        """Whether nobody but this process changed the file since its last write."""
        return self._seen is not None and self._stat() == self._seen

    def connections(self) -> list[sqlite3.Connection]:
        """The connections open now: one per live thread that used the store."""
        with self._conns_lock:
            return list(self._conns)

    def _close_all(self) -> None:
        """At exit: close every connection this process opened (their last checkpoint is
        this process's own write) and, if nobody else changed the file meanwhile, note it
        as good (a file changed behind its back is checked again on the next open)."""
        untouched = self._untouched()
        with self._conns_lock:
            conns, self._conns = list(self._conns), weakref.WeakSet()
        for conn in conns:
            with contextlib.suppress(sqlite3.Error):  # closed already, or another thread's
                conn.close()
        if untouched:
            remember_good(self.path)

    def _schema_version(self) -> None:
        """Mark the file with the schema it holds (checked by dwt.store.health on open)."""
        conn = self.conn
        if conn.execute("PRAGMA user_version").fetchone()[0] < SCHEMA_VERSION:
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    @property
    def conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None or self._local.pid != os.getpid():
            try:
                conn = sqlite3.connect(
                    self.path, isolation_level=None, check_same_thread=False, factory=_Checked
                )
            except sqlite3.Error as exc:
                raise StoreDamaged(self.path, f"cannot be opened ({exc})") from None
            conn.path = self.path
            for pragma in _PRAGMAS:
                conn.execute(pragma)
            self._local.conn, self._local.pid = conn, os.getpid()
            with self._conns_lock:
                self._conns.add(conn)
        return conn

    @contextlib.contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One transaction holding the write lock from its start (no upgrade deadlocks);
        inside another one of this thread, part of it (it commits or rolls back whole)."""
        conn = self.conn
        if getattr(self._local, "depth", 0):
            self._local.depth += 1
            try:
                yield conn
            finally:
                self._local.depth -= 1
            return
        conn.execute("BEGIN IMMEDIATE")
        self._local.depth = 1
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        finally:
            self._local.depth = 0
        conn.execute("COMMIT")
        self._seen = self._stat()  # what this process's own write left

    def transaction(self) -> contextlib.AbstractContextManager[Any]:
        """Every write of this thread in the block as one transaction."""
        return self.write()

    def ensure_table(self, name: str) -> None:
        if name in self._tables:
            return
        with self._lock:
            columns = "_id TEXT PRIMARY KEY, doc TEXT NOT NULL"
            if name in self.lines:
                fields, schema, column = self.lines[name]
                columns += f", {column} TEXT GENERATED ALWAYS AS ({_line_sql(fields, schema)})"
                columns += " STORED"
            with self.write() as conn:
                conn.execute(f'CREATE TABLE IF NOT EXISTS "{name}" ({columns})')
                if name in self.lines:
                    self._upgrade(conn, name, columns, self.lines[name][2])
            self._tables.add(name)

    def _upgrade(self, conn: sqlite3.Connection, name: str, columns: str, column: str) -> None:
        """A table written by a version whose kept line differed: rebuild it (documents and
        indexes kept; the new line is computed as the rows are copied)."""
        have = {row[1] for row in conn.execute(f'PRAGMA table_xinfo("{name}")')}
        if column in have:
            return
        indexes = [
            row[0]
            for row in conn.execute(
                "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? "
                "AND sql IS NOT NULL",
                (name,),
            )
        ]
        conn.execute(f'ALTER TABLE "{name}" RENAME TO "{name}.old"')
        conn.execute(f'CREATE TABLE "{name}" ({columns})')
        conn.execute(f'INSERT INTO "{name}" (_id, doc) SELECT _id, doc FROM "{name}.old"')
        conn.execute(f'DROP TABLE "{name}.old"')
        for sql in indexes:
            conn.execute(sql)

    def collection(self, name: str) -> SqliteCollection:
        self.ensure_table(name)
        return SqliteCollection(self, name)

    def bulk_update(self, name: str, ops: Sequence[Update]) -> BulkResult:
        return self.collection(name).bulk_update(ops)

    def batches(
        self,
        name: str,
        filter: Mapping[str, Any],
        sort: Sequence[tuple[str, int]],
        fields: Mapping[str, str],
        schema: pa.Schema,
        rows: int = BATCH_ROWS,
    ) -> Iterator[pa.RecordBatch]:
        return self.collection(name).batches(filter, sort, fields, schema, rows)

    def span(self, name: str, filter: Mapping[str, Any], field: str) -> tuple[int, Any, Any]:
        return self.collection(name).span(filter, field)

    def replace(
        self, name: str, filter: Mapping[str, Any], run_id: str, docs: Sequence[Mapping[str, Any]]
    ) -> None:
        # One transaction: readers see the old set or the new one, never a mix.
        coll = self.collection(name)
        where, params = coll.compiler.where(filter)
        rows = [(_doc_id(d), codec.dumps(d)) for d in docs]
        with self.write() as conn:
            conn.execute(f'DELETE FROM "{name}" WHERE {where}', params)
            conn.executemany(f'INSERT INTO "{name}" (_id, doc) VALUES (?, ?)', rows)

    def insert_new(self, name: str, doc: Mapping[str, Any]) -> bool:
        self.ensure_table(name)
        with self.write() as conn:
            cur = conn.execute(
                f'INSERT OR IGNORE INTO "{name}" (_id, doc) VALUES (?, ?)',
                (_doc_id(doc), codec.dumps(doc)),
            )
        return cur.rowcount == 1

    def put(self, name: str, docs: Sequence[Mapping[str, Any]]) -> None:
        """Write whole documents by ``_id`` (replacing any there), in one transaction."""
        self.ensure_table(name)
        rows = [(_doc_id(d), codec.dumps(d)) for d in docs]
        with self.write() as conn:
            conn.executemany(f'INSERT OR REPLACE INTO "{name}" (_id, doc) VALUES (?, ?)', rows)

    def table_names(self) -> list[str]:
        rows = self.conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
        return sorted(r[0] for r in rows)

    def drop(self) -> None:
        """Remove every collection (the file stays; tests delete their own directory)."""
        with self.write() as conn:
            for name in self.table_names():
                conn.execute(f'DROP TABLE "{name}"')
        self._tables.clear()

    def close(self) -> None:
        """Close this thread's connection, noting the file as it is now as good (it was
        written through SQLite: the next open need not read it through again)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            untouched = self._untouched()
            conn.close()
            self._local.conn = None
            with self._conns_lock:
                self._conns.discard(conn)
            if untouched:
                remember_good(self.path)


class _Checked(sqlite3.Connection):
    """A connection whose statements say so when the file turns out damaged (SQLite's
    "database disk image is malformed", "file is not a database") with :class:`StoreDamaged`
    instead of a bare ``DatabaseError``; a busy or locked file stays an ``OperationalError``."""

    path: Path

    def execute(self, *args: Any) -> sqlite3.Cursor:  # type: ignore[override]
        try:
            return super().execute(*args)
        except sqlite3.DatabaseError as exc:
            raise _damaged(self.path, exc) from None

    def executemany(self, *args: Any) -> sqlite3.Cursor:  # type: ignore[override]
        try:
            return super().executemany(*args)
        except sqlite3.DatabaseError as exc:
            raise _damaged(self.path, exc) from None


def _damaged(path: Path, exc: sqlite3.DatabaseError) -> Exception:
    if type(exc) is sqlite3.DatabaseError:  # not Operational, Integrity, Programming…
        return StoreDamaged(path, f"is damaged ({exc})")
    return exc


class SqliteCollection:
    """pymongo's collection API, the part the product uses, over one table."""

    def __init__(self, db: SqliteDatabase, name: str) -> None:
        self.db = db
        self.name = name
        self.compiler = Compiler(db.array_fields.get(name, ()))

    def __repr__(self) -> str:
        return f"SqliteCollection({self.name!r})"

    # ---- reads --------------------------------------------------------------------------

    def find(
        self,
        filter: Mapping[str, Any] | None = None,
        projection: Mapping[str, Any] | None = None,
        sort: Sequence[tuple[str, int]] | None = None,
        limit: int = 0,
    ) -> Cursor:
        return Cursor(self, filter, projection, list(sort or []), limit)

    def find_one(
        self,
        filter: Mapping[str, Any] | None = None,
        projection: Mapping[str, Any] | None = None,
        sort: Sequence[tuple[str, int]] | None = None,
    ) -> dict[str, Any] | None:
        return next(iter(self.find(filter, projection, sort, limit=1)), None)

    def count_documents(self, filter: Mapping[str, Any]) -> int:
        where, params = self.compiler.where(filter)
        row = self.db.conn.execute(f'SELECT COUNT(*) FROM "{self.name}" WHERE {where}', params)
        return int(row.fetchone()[0])

    def _select(
        self,
        filter: Mapping[str, Any] | None,
        sort: Sequence[tuple[str, int]],
        limit: int,
        skip: int = 0,
    ) -> Iterator[dict[str, Any]]:
        where, params = self.compiler.where(filter)
        sql = f'SELECT doc FROM "{self.name}" WHERE {where}{order_by(sort)}'
        if limit or skip:  # SQLite's OFFSET needs a LIMIT: -1 is none
            sql += f" LIMIT {int(limit) or -1}"
        if skip:
            sql += f" OFFSET {int(skip)}"
        rows = self.db.conn.execute(sql, params)
        while True:
            try:  # rows are read as they are asked for: damage can show up here too
                row = rows.fetchone()
            except sqlite3.DatabaseError as exc:
                raise _damaged(self.db.path, exc) from None
            if row is None:
                return
            yield codec.loads(row[0])

    def batches(
        self,
        filter: Mapping[str, Any] | None,
        sort: Sequence[tuple[str, int]],
        fields: Mapping[str, str],
        schema: pa.Schema,
        rows: int = BATCH_ROWS,
    ) -> Iterator[pa.RecordBatch]:
        """Columns ``fields`` (name → dotted path) of the matching documents, in order, as
        record batches of at most ``rows`` rows: SQLite hands over ``rows`` JSON lines at a
        time and Arrow's JSON reader builds their columns, so memory stays bounded by a
        batch (the whole read joined into one SQLite string hit SQLite's 1 GB limit near
        3M tweets)."""
        if rows < 1:
            raise ValueError(f"rows must be >= 1, got {rows}")
        where, params = self.compiler.where(filter)
        kept = self.db.lines.get(self.name)
        if kept and dict(fields) == kept[0] and schema.equals(kept[1]):
            line = kept[2]
        else:
            line = _line_sql(fields, schema)
        cursor = self.db.conn.execute(
            f'SELECT {line} AS line FROM "{self.name}" WHERE {where}{order_by(sort)}', params
        )
        options = pa_json.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore")
        try:
            while chunk := cursor.fetchmany(rows):
                data = "\n".join(row[0] for row in chunk).encode()
                table = pa_json.read_json(
                    io.BytesIO(data),
                    read_options=pa_json.ReadOptions(block_size=_BLOCK),
                    parse_options=options,
                ).select(schema.names)
                yield from table.combine_chunks().to_batches()
        finally:
            cursor.close()

    def span(self, filter: Mapping[str, Any], field: str) -> tuple[int, Any, Any]:
        """``(count, min, max)`` of a date field over the matching documents."""
        where, params = self.compiler.where(filter)
        expr = field_sql(field)
        row = self.db.conn.execute(
            f'SELECT COUNT(*), MIN({expr}), MAX({expr}) FROM "{self.name}" WHERE {where}', params
        ).fetchone()
        first, last = (codec.loads(v) if v is not None else None for v in row[1:])
        return int(row[0]), first, last

    # ---- writes -------------------------------------------------------------------------

    def insert_many(self, docs: Iterable[Mapping[str, Any]]) -> None:
        rows = [(_doc_id(d), codec.dumps(d)) for d in docs]
        with self.db.write() as conn:
            conn.executemany(f'INSERT INTO "{self.name}" (_id, doc) VALUES (?, ?)', rows)

    def update_one(
        self, filter: Mapping[str, Any], update: Mapping[str, Any], upsert: bool = False
    ) -> UpdateResult:
        return self._update(filter, update, upsert, limit=1)

    def update_many(
        self, filter: Mapping[str, Any], update: Mapping[str, Any], upsert: bool = False
    ) -> UpdateResult:
        return self._update(filter, update, upsert, limit=0)

    def _update(
        self, filter: Mapping[str, Any], update: Mapping[str, Any], upsert: bool, limit: int
    ) -> UpdateResult:
        updates.check(update)
        where, params = self.compiler.where(filter)
        sql = f'SELECT _id, doc FROM "{self.name}" WHERE {where}'
        if limit:
            sql += f" LIMIT {limit}"
        with self.db.write() as conn:
            found = conn.execute(sql, params).fetchall()
            if not found and upsert:
                doc = updates.inserted(filter, update)
                self._insert(conn, [doc])
                return UpdateResult(0, 0, doc["_id"])
            changed = []
            for _id, text in found:
                old = codec.loads(text)
                new = updates.apply(old, update, inserting=False)
                if new != old:
                    changed.append((codec.dumps(new), _id))
            conn.executemany(f'UPDATE "{self.name}" SET doc = ? WHERE _id = ?', changed)
        return UpdateResult(len(found), len(changed))

    def bulk_update(self, ops: Sequence[Update]) -> BulkResult:
        """Apply updates by ``_id`` in one transaction (the embedded ``bulk_write``)."""
        for op in ops:
            updates.check(op.update)
        upserted = modified = matched = 0
        with self.db.write() as conn:
            current = self._fetch(conn, list(dict.fromkeys(op.id for op in ops)))
            before = dict(current)
            new_ids: set[str] = set()
            for op in ops:
                old = current.get(op.id)
                if old is None:
                    if op.upsert:
                        current[op.id] = updates.inserted({"_id": op.id}, op.update)
                        new_ids.add(op.id)
                        upserted += 1
                    continue
                matched += 1
                new = updates.apply(old, op.update, inserting=False)
                if new != old:
                    modified += 1
                    current[op.id] = new
            self._insert(conn, [current[i] for i in new_ids])
            conn.executemany(
                f'UPDATE "{self.name}" SET doc = ? WHERE _id = ?',
                [
                    (codec.dumps(doc), _id)
                    for _id, doc in current.items()
                    if _id not in new_ids and doc is not before.get(_id)
                ],
            )
        return BulkResult(upserted, modified, matched)

    def _fetch(self, conn: sqlite3.Connection, ids: list[str]) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(ids), _CHUNK):
            chunk = codec.dumps(ids[start : start + _CHUNK])
            rows = conn.execute(
                f'SELECT _id, doc FROM "{self.name}" WHERE _id IN (SELECT value FROM json_each(?))',
                (chunk,),
            )
            found.update((_id, codec.loads(text)) for _id, text in rows)
        return found

    def _insert(self, conn: sqlite3.Connection, docs: Iterable[Mapping[str, Any]]) -> None:
        rows = [(_doc_id(d), codec.dumps(d)) for d in docs]
        conn.executemany(f'INSERT INTO "{self.name}" (_id, doc) VALUES (?, ?)', rows)

    def delete_many(self, filter: Mapping[str, Any]) -> DeleteResult:
        where, params = self.compiler.where(filter)
        with self.db.write() as conn:
            cur = conn.execute(f'DELETE FROM "{self.name}" WHERE {where}', params)
        return DeleteResult(cur.rowcount)

    # ---- indexes ------------------------------------------------------------------------

    def create_indexes(self, models: Sequence[IndexModel]) -> list[str]:
        """Expression indexes for the schema's secondary indexes. An index over an array
        field is skipped: SQLite would index the array's whole text, which no query uses."""
        names = []
        arrays = self.compiler.array_fields
        for model in models:
            spec = model.document
            keys = list(spec["key"].items())
            if any(field in arrays for field, _ in keys):
                continue
            columns = ", ".join(f"{field_sql(f)} {'DESC' if d == -1 else 'ASC'}" for f, d in keys)
            self.db.conn.execute(
                f'CREATE INDEX IF NOT EXISTS "{self.name}.{spec["name"]}" '
                f'ON "{self.name}" ({columns})'
            )
            names.append(spec["name"])
        return names

    def index_information(self) -> dict[str, dict[str, Any]]:
        rows = self.db.conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ?", (self.name,)
        )
        prefix = f"{self.name}."
        named = {r[0].removeprefix(prefix): {} for r in rows if r[0].startswith(prefix)}
        return {"_id_": {}, **named}


class Cursor:
    """A lazy ``find``: ``sort``, ``skip`` and ``limit`` chain as in pymongo; iterate to
    run it."""

    def __init__(
        self,
        coll: SqliteCollection,
        filter: Mapping[str, Any] | None,
        projection: Mapping[str, Any] | None,
        sort: list[tuple[str, int]],
        limit: int,
    ) -> None:
        self._coll, self._filter, self._projection = coll, filter, projection
        self._sort, self._limit, self._skip = sort, limit, 0

    def sort(self, key: str | Sequence[tuple[str, int]], direction: int = 1) -> Cursor:
        self._sort = [(key, direction)] if isinstance(key, str) else list(key)
        return self

    def limit(self, limit: int) -> Cursor:
        self._limit = limit
        return self

    def skip(self, skip: int) -> Cursor:
        if skip < 0:
            raise ValueError(f"skip must be >= 0, got {skip}")
        self._skip = skip
        return self

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for doc in self._coll._select(self._filter, self._sort, self._limit, self._skip):
            yield project(doc, self._projection)


def project(doc: dict[str, Any], projection: Mapping[str, Any] | None) -> dict[str, Any]:
    """pymongo's projection: fields to include (``_id`` unless excluded) or to exclude."""
    if not projection:
        return doc
    keep_id = bool(projection.get("_id", 1))
    chosen = {k: bool(v) for k, v in projection.items() if k != "_id"}
    if any(chosen.values()):
        if not all(chosen.values()):
            raise UnsupportedQuery("a projection cannot both include and exclude fields")
        out: dict[str, Any] = {}
        for field in chosen:
            _copy_path(doc, out, field.split("."))
    else:
        out = dict(doc)
        for field in chosen:
            head, *rest = field.split(".")
            if rest:
                raise UnsupportedQuery("excluding a sub-document field is not supported")
            out.pop(head, None)
    if keep_id and "_id" in doc:
        out = {"_id": doc["_id"], **out}
    else:
        out.pop("_id", None)
    return out


def _copy_path(src: Mapping[str, Any], dst: dict[str, Any], path: list[str]) -> None:
    head, *rest = path
    if head not in src:
        return
    if not rest:
        dst[head] = src[head]
    elif isinstance(src[head], Mapping):
        _copy_path(src[head], dst.setdefault(head, {}), rest)


def _doc_id(doc: Mapping[str, Any]) -> str:
    _id = doc.get("_id")
    if not isinstance(_id, str):
        raise UnsupportedQuery(f"the embedded store keys documents by a string _id, got {_id!r}")
    return _id


def _line_sql(fields: Mapping[str, str], schema: pa.Schema) -> str:
    """SQL that makes a document's JSON line for Arrow's reader: ``schema``'s columns."""
    pairs = ", ".join(
        f"'{name}', {_json_of(fields[name], schema.field(name).type)}" for name in schema.names
    )
    return f"json_object({pairs})"


def _line_column(fields: Mapping[str, str], schema: pa.Schema) -> str:
    """The kept line's column, named by a hash of its SQL (a changed read gets a new one)."""
    digest = hashlib.sha256(_line_sql(fields, schema).encode()).hexdigest()[:12]
    return f"line_{digest}"


def _json_of(path: str, type_: pa.DataType) -> str:
    """The JSON value of ``path`` for Arrow's reader (a date as its ISO string)."""
    if path == "_id":
        return "json_quote(_id)"
    field_sql(path)  # checks the name
    date = '."$date"' if pa.types.is_timestamp(type_) else ""
    return f"(doc -> '$.{path}{date}')"
