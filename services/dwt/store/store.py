"""The store: one domain interface over two engines, bulk idempotent writes, columnar reads.

``sqlite:///PATH`` opens the embedded store (:mod:`dwt.store.sqlite`), the local default:
a file every process on the machine shares. ``mongodb://`` / ``mongodb+srv://`` open a
MongoDB server through pymongo (:mod:`dwt.store.mongo`), as the cluster does. Everything
above the :class:`Backend` (this module, runs, candidates, checkpoints, the dashboard's
reads) is written once and runs on both; the contract tests run it on both.
"""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Collection as AbcCollection
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import pyarrow as pa
import pyarrow.compute as pc

from dwt.config import redact_url
from dwt.model.documents import tweet_documents, user_document
from dwt.store import weeks
from dwt.store.errors import StoreError
from dwt.store.ops import BulkResult, Update
from dwt.store.schema import (
    ARRAY_FIELDS,
    NATURAL_KEYS,
    Coll,
    MemberSource,
    doc_id,
    index_models,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class WriteSummary:
    """What a bulk upsert did: ``inserted`` new documents, ``updated`` changed ones."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0

    @classmethod
    def of(cls, result: BulkResult, ops: int) -> WriteSummary:
        """What ``ops`` upserts did, from the backend's bulk result."""
        inserted = result.upserted_count
        return cls(inserted, result.modified_count, ops - inserted - result.modified_count)

    def __add__(self, other: WriteSummary) -> WriteSummary:
        return WriteSummary(
            self.inserted + other.inserted,
            self.updated + other.updated,
            self.unchanged + other.unchanged,
        )


#: Arrow schema of :meth:`Store.interactions`: one row per tweet.
INTERACTIONS_SCHEMA = pa.schema(
    [
        ("tweet_id", pa.string()),
        ("author_id", pa.string()),
        ("created_at", pa.timestamp("ms", tz="UTC")),
        ("conversation_id", pa.string()),
        ("kind", pa.string()),
        ("referenced_id", pa.string()),
        ("directed_at", pa.list_(pa.string())),
        ("hashtags", pa.list_(pa.string())),
        ("engagement", pa.int64()),  # likes + retweets + replies + quotes, when known
    ]
)
_ENGAGEMENT = ("like_count", "retweet_count", "reply_count", "quote_count")
#: Where :meth:`Store.interactions` finds its columns in a tweet document.
_TWEET_FIELDS = {
    "tweet_id": "_id",
    "kind": "dwt.kind",
    "referenced_id": "dwt.referenced_id",
    "directed_at": "dwt.directed_at",
    "hashtags": "dwt.hashtags",
    **{m: f"public_metrics.{m}" for m in _ENGAGEMENT},
}
_TWEET_READ_SCHEMA = pa.schema(
    [f for f in INTERACTIONS_SCHEMA if f.name != "engagement"]
    + [(m, pa.int64()) for m in _ENGAGEMENT]
)
FOLLOWS_SCHEMA = pa.schema([("source_id", pa.string()), ("target_id", pa.string())])
#: A member document's own fields (the rest of a member's row comes from the week shown).
MEMBER_FIELDS = frozenset({"account_id", "username", "core", "source", "status",
                           "status_seen_at", "added_at"})  # fmt: skip
MEMBERS_SCHEMA = pa.schema(
    [
        ("account_id", pa.string()),
        ("username", pa.string()),
        ("core", pa.bool_()),
        ("activity", pa.int64()),  # null until a bonds step ran
        ("cluster", pa.int64()),  # null until a cluster step ran
    ]
)
BOND_LISTS_SCHEMA = pa.schema(
    [
        ("source_id", pa.string()),
        ("targets", pa.list_(pa.string())),
        ("weights", pa.list_(pa.float64())),
    ]
)
#: Arrow schema of :meth:`Store.follow_list_batches`: one stored follow list per row.
FOLLOW_LISTS_SCHEMA = pa.schema([("source_id", pa.string()), ("targets", pa.list_(pa.string()))])
#: Arrow schema of :meth:`Store.tweet_texts`: a tweet's text and its links (expanded where X
#: expanded them).
TEXTS_SCHEMA = pa.schema(
    [
        ("tweet_id", pa.string()),
        ("text", pa.string()),
        ("urls", pa.list_(pa.struct([("expanded_url", pa.string()), ("url", pa.string())]))),
    ]
)
_TEXT_FIELDS = {"tweet_id": "_id", "text": "text", "urls": "entities.urls"}


class Backend(Protocol):
    """What a store engine provides; everything else in :class:`Store` is shared.

    ``collection`` answers the part of pymongo's collection API the product uses (a
    pymongo ``Collection`` for MongoDB, :class:`~dwt.store.sqlite.SqliteCollection` for
    the embedded store). The other methods are the bulk and columnar operations whose best
    form differs by engine."""

    def collection(self, name: str) -> Any: ...

    def bulk_update(self, name: str, ops: Sequence[Update]) -> BulkResult: ...

    def batches(
        self,
        name: str,
        filter: Mapping[str, Any],
        sort: Sequence[tuple[str, int]],
        fields: Mapping[str, str],
        schema: pa.Schema,
        rows: int = ...,
    ) -> Iterator[pa.RecordBatch]:
        """The matching documents' ``fields`` (column name → dotted path) as record batches
        of ``schema``, at most ``rows`` rows each, in ``sort`` order: memory bounded by a
        batch, whatever the read's size."""
        ...

    def span(self, name: str, filter: Mapping[str, Any], field: str) -> tuple[int, Any, Any]: ...

    def replace(
        self, name: str, filter: Mapping[str, Any], run_id: str, docs: Sequence[Mapping[str, Any]]
    ) -> None:
        """Make ``docs`` (each with its ``_id`` and ``run_id``) the documents matching
        ``filter`` (one run's results, read by nobody until the run publishes them)."""

    def insert_new(self, name: str, doc: Mapping[str, Any]) -> bool:
        """Insert ``doc`` unless a document with its ``_id`` exists; whether it was (one
        atomic step: of two writers, exactly one inserts)."""

    def put(self, name: str, docs: Sequence[Mapping[str, Any]]) -> None:
        """Write whole documents (each with its ``_id``), replacing any with the same
        ``_id``, in bulk."""

    def transaction(self) -> contextlib.AbstractContextManager[Any]:
        """The block's writes as one transaction where the engine has them (the embedded
        store); in order otherwise."""

    def drop(self) -> None: ...

    def close(self) -> None: ...


def open_backend(url: str) -> Backend:
    """The engine behind a store URL (``sqlite:///PATH`` or ``mongodb://…``)."""
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        from dwt.store import health
        from dwt.store.sqlite import SqliteDatabase  # imported only when asked for

        path = url.removeprefix("sqlite:///").removeprefix("sqlite://")
        if not path or parts.query:
            raise StoreError(f"an embedded store URL is sqlite:///PATH, got {url!r}")
        file = Path(path).expanduser()
        # The interactions read runs on every insight step: SQLite keeps its Arrow line
        # ready in the tweets table instead of parsing each tweet's JSON at read time.
        lines = {Coll.TWEETS.value: (_TWEET_FIELDS, _TWEET_READ_SCHEMA)}
        with health.OPENING:
            health.check(file)  # a damaged file is refused before anything opens it to write
            database = SqliteDatabase(file, ARRAY_FIELDS, lines)
            health.opened_here(file)
        return database
    if parts.scheme in ("mongodb", "mongodb+srv"):
        from dwt.store.mongo import MongoBackend

        return MongoBackend(url)
    raise StoreError(
        f"store URL scheme {parts.scheme or '(none)'!r} is not sqlite, mongodb or mongodb+srv"
        f" (got {redact_url(url)!r})"
    )


@dataclass(frozen=True)
class FollowChange:
    """How a follow list changed when read again: its previous and current sizes, the
    accounts followed or unfollowed since (None: never read before), and when it was
    last read before."""

    previous: int | None
    current: int
    changed: int | None
    previous_at: datetime | None


def _engagement(batch: pa.RecordBatch) -> pa.RecordBatch:
    """A batch of the tweets read as INTERACTIONS_SCHEMA: the public metrics summed."""
    metrics = [pc.fill_null(batch.column(m), 0) for m in _ENGAGEMENT]
    engagement = metrics[0]
    for column in metrics[1:]:
        engagement = pc.add(engagement, column)
    columns = [batch.column(n) for n in INTERACTIONS_SCHEMA.names[:-1]]
    return pa.RecordBatch.from_arrays([*columns, engagement], schema=INTERACTIONS_SCHEMA)


def _tweets_match(
    author_ids: Iterable[str] | None,
    since: datetime | None,
    until: datetime | None,
    kinds: Iterable[str] | None = None,
) -> dict[str, Any]:
    """The filter of the tweets by ``author_ids`` (None: anyone) created in ``[since,
    until)`` (None: open), of ``kinds`` (``dwt.kind``; None: any)."""
    match: dict[str, Any] = {}
    if author_ids is not None:
        match["author_id"] = {"$in": list(author_ids)}
    window = {}
    if since is not None:
        window["$gte"] = since
    if until is not None:
        window["$lt"] = until
    if window:
        match["created_at"] = window
    if kinds is not None:
        match["dwt.kind"] = {"$in": list(kinds)}
    return match


#: Bytes of Parquet per document of a result table (MongoDB's documents stop at 16 MB).
TABLE_PART_BYTES = 8 << 20


def _parquet_pieces(table: pa.Table) -> Iterator[bytes]:
    """``table`` as Parquet files of at most about :data:`TABLE_PART_BYTES` each (at least
    one, empty or not)."""
    import pyarrow.parquet as pq

    rows = table.num_rows
    step = rows or 1
    while True:
        pieces = []
        for start in range(0, max(rows, 1), step):
            sink = io.BytesIO()
            pq.write_table(table.slice(start, step), sink, compression="zstd")
            pieces.append(sink.getvalue())
        if step == 1 or all(len(p) <= TABLE_PART_BYTES for p in pieces):
            yield from pieces
            return
        step = max(1, step * TABLE_PART_BYTES // (2 * max(len(p) for p in pieces)))


class Store:
    """Typed access to the product's collections. Create with :meth:`open`."""

    def __init__(self, backend: Backend, url_redacted: str, url: str | None = None) -> None:
        self.backend = backend
        self.url = url_redacted
        self.full_url = url  # kept for the pipeline's tasks to open it again; never shown

    @classmethod
    def open(cls, url: str, *, ensure_indexes: bool = True) -> Store:
        """Open the store at ``url`` (``sqlite:///PATH`` or ``mongodb://…``); creates the
        indexes (idempotently) unless told not to."""
        store = cls(open_backend(url), redact_url(url), url)
        if ensure_indexes:
            store.ensure_indexes()
            weeks.adopt_legacy(store, datetime.now(UTC))  # a store of the old layout
        return store

    def __repr__(self) -> str:
        return f"Store({self.url!r})"

    def drop(self) -> None:
        """Delete every collection of this store (tests; a person uses their own tools)."""
        self.backend.drop()

    def close(self) -> None:
        self.backend.close()

    def __getitem__(self, coll: Coll | str) -> Any:
        """The collection (pymongo's API, the part the product uses; see :class:`Backend`)."""
        return self.backend.collection(Coll(coll).value)

    # ---- set-up -------------------------------------------------------------------------

    def ensure_indexes(self) -> dict[str, list[str]]:
        """Create the indexes a collection lacks (by name); running it again changes nothing.

        Only missing ones are sent: every process opens the store, and asking a server to
        create what exists is a write command each time (FerretDB 1.24 even panics on an
        existing compound index; see tests/unit/test_store.py)."""
        created = {}
        for coll in Coll:
            collection = self[coll]
            present = set(collection.index_information())
            models = [m for m in index_models(coll) if m.document["name"] not in present]
            created[coll.value] = collection.create_indexes(models) if models else []
        return created

    def counts(self) -> dict[str, int]:
        """Documents per collection (``dwt store check`` on a MongoDB server says how many
        it holds)."""
        return {coll.value: self[coll].count_documents({}) for coll in Coll}

    # ---- bulk idempotent writes ---------------------------------------------------------

    def upsert(
        self,
        coll: Coll,
        docs: Iterable[Mapping[str, Any]],
        *,
        on_insert: Mapping[str, Any] | None = None,
    ) -> WriteSummary:
        """Upsert documents by their ``_id`` (made from the natural key), in one unordered
        bulk write.

        ``on_insert`` fields are written only when a document is new (e.g. ``collected_at``,
        ``added_at``), so re-writing keeps the first time seen.
        """
        key = NATURAL_KEYS[coll]
        ops = []
        for doc in docs:
            missing = [k for k in key if k not in doc]
            if missing:
                raise StoreError(f"{coll.value}: document lacks its key field(s) {missing}")
            fields = {k: v for k, v in doc.items() if k != "_id"}
            update: dict[str, Any] = {"$set": fields}
            if on_insert:
                update["$setOnInsert"] = {k: v for k, v in on_insert.items() if k not in fields}
            ops.append(Update(doc_id(coll, doc), update, upsert=True))
        return WriteSummary.of(self.bulk_update(coll, ops), len(ops))

    def insert_new(self, coll: Coll, doc: Mapping[str, Any]) -> bool:
        """Insert ``doc`` (with its ``_id``) unless one with that ``_id`` exists; whether it
        was inserted. Of two writers inserting the same ``_id`` at once exactly one does."""
        return self.backend.insert_new(Coll(coll).value, doc)

    def bulk_update(self, coll: Coll, ops: Sequence[Update]) -> BulkResult:
        """Apply updates by ``_id`` in one batch (one transaction in the embedded store)."""
        if not ops:
            return BulkResult(0, 0, 0)
        return self.backend.bulk_update(Coll(coll).value, ops)

    def put_tweets(
        self,
        page: Mapping[str, Any],
        tweet_fields: AbcCollection[str] = (),
        accounts_seen: set[str] | None = None,
    ) -> WriteSummary:
        """Store one X API v2 response page of tweets (and the users in its ``includes``).

        ``accounts_seen``, if given, names accounts already written by the caller's run:
        they are not written again (the same user appears on many pages), and the set
        grows with the ones written now.
        """
        now = datetime.now(UTC)
        users = (page.get("includes") or {}).get("users") or []
        if accounts_seen is not None:
            users = [u for u in users if str(u.get("id")) not in accounts_seen]
            accounts_seen.update(str(u.get("id")) for u in users)
        if users:
            self.put_accounts(users)
        return self.upsert(
            Coll.TWEETS, tweet_documents(page, tweet_fields), on_insert={"collected_at": now}
        )

    def put_accounts(self, users: Iterable[Mapping[str, Any]]) -> WriteSummary:
        now = datetime.now(UTC)
        docs = [user_document(u) | {"seen_at": now} for u in users]
        return self.upsert(Coll.ACCOUNTS, docs)

    def put_follows(
        self, source_id: str, target_ids: Iterable[str], *, last_page: bool = True
    ) -> FollowChange | None:
        """Record accounts ``source_id`` follows. A follow list may come in pages: earlier
        pages gather in ``pass_targets``; the last one makes the list current, so accounts
        no longer followed drop out and a repeated page changes nothing. The last page
        returns how the list changed (what its refresh found, for the refresh cadence)."""
        coll = self[Coll.FOLLOWS]
        targets = list(dict.fromkeys(str(t) for t in target_ids))
        # A bulk update, which applies an upsert again when another writer inserted the
        # same list first (MongoDB itself retries that; FerretDB does not).
        self.bulk_update(
            Coll.FOLLOWS,
            [Update(source_id, {"$addToSet": {"pass_targets": {"$each": targets}}}, upsert=True)],
        )
        if not last_page:
            return None
        doc = coll.find_one({"_id": source_id}, {"pass_targets": 1, "targets": 1, "seen_at": 1})
        doc = doc or {}
        current = doc.get("pass_targets", [])
        coll.update_one(
            {"_id": source_id},
            {
                "$set": {"targets": current, "seen_at": datetime.now(UTC)},
                "$unset": {"pass_targets": ""},
            },
        )
        previous = doc.get("targets")
        changed = None if previous is None else len(set(previous) ^ set(current))
        return FollowChange(
            None if previous is None else len(previous), len(current), changed, doc.get("seen_at")
        )

    def add_members(
        self,
        community: str,
        accounts: Sequence[Mapping[str, Any]],
        *,
        core: bool = False,
        source: MemberSource = "manual",
    ) -> WriteSummary:
        """Add accounts (v2 user objects: id and username) to a community's members."""
        now = datetime.now(UTC)
        self.put_accounts(accounts)
        self.upsert(
            Coll.COMMUNITIES,
            [{"_id": community}],
            on_insert={"title": community, "created_at": now, "owners": []},
        )
        docs = [
            {
                "community": community,
                "account_id": str(a["id"]),
                "username": a["username"],
                "core": core,
                "source": source,
            }
            for a in accounts
        ]
        return self.upsert(Coll.MEMBERS, docs, on_insert={"added_at": now})

    def set_member_fields(self, community: str, rows: Iterable[Mapping[str, Any]]) -> int:
        """Set fields on existing members (never adds one); rows carry ``account_id``."""
        ops = [
            Update(
                doc_id(Coll.MEMBERS, {"community": community, **row}),
                {"$set": {k: v for k, v in row.items() if k != "account_id"}},
            )
            for row in rows
        ]
        return self.bulk_update(Coll.MEMBERS, ops).matched_count

    def replace_results(
        self, coll: Coll, community: str, run_id: str, docs: Iterable[Mapping[str, Any]]
    ) -> int:
        """Write ``docs`` as ``run_id``'s results of the community in ``coll``, whole
        documents in place of what an earlier attempt of the same run left. Nobody sees
        them until the run publishes its week (:func:`dwt.store.weeks.publish`); the shown
        results are not touched. Returns how many documents were written."""
        tagged = [{**doc, "community": community, "run_id": run_id} for doc in docs]
        for doc in tagged:
            doc["_id"] = doc_id(coll, doc)
        mine = {"community": community, "run_id": run_id}
        self.backend.replace(Coll(coll).value, mine, run_id, tagged)
        return len(tagged)

    def clear_results(self, coll: Coll, community: str, run_id: str) -> int:
        """Delete what an earlier attempt of ``run_id`` left in ``coll`` before its tasks
        write their parts again (a retry resumes the same run); never results shown."""
        if weeks.shown_run(self, coll, community) == run_id:
            return 0
        return self[coll].delete_many({"community": community, "run_id": run_id}).deleted_count

    def shown(self, coll: Coll, community: str, **match: Any) -> dict[str, Any]:
        """The filter selecting the community's results in ``coll`` that are shown (those
        of the run that published them last), with ``match``'s fields."""
        return weeks.shown(self, coll, community, **match)

    def transaction(self) -> contextlib.AbstractContextManager[Any]:
        """The block's writes (this thread's) as one transaction on the embedded store, in
        order on MongoDB (no replica set needed): a page of tweets and the checkpoint that
        says it is stored go together."""
        return self.backend.transaction()

    def write_results(
        self, coll: Coll, community: str, run_id: str, docs: Iterable[Mapping[str, Any]]
    ) -> int:
        """Write ``docs`` as a part of ``run_id``'s results of the community in ``coll``
        (whole documents, in bulk: the task that made them writes them). Nobody sees them
        until the run publishes its week (:func:`dwt.store.weeks.publish`), which also
        collects what earlier runs left. Returns how many."""
        tagged = [{**doc, "community": community, "run_id": run_id} for doc in docs]
        for doc in tagged:
            doc["_id"] = doc_id(coll, doc)
        if tagged:
            self.backend.put(Coll(coll).value, tagged)
        return len(tagged)

    def put_table(
        self, community: str, run_id: str, name: str, part: str, table: pa.Table, **fields: Any
    ) -> int:
        """Store ``table`` as part ``part`` of the run's result table ``name``: Parquet
        (zstd), cut into documents of at most :data:`TABLE_PART_BYTES` (MongoDB's documents
        stop at 16 MB); ``fields`` go on the first. Returns how many documents."""
        docs = []
        for k, piece in enumerate(_parquet_pieces(table)):
            extra = fields if k == 0 else {}
            docs.append({"name": name, "part": f"{part}-{k:04d}", "parquet": piece, **extra})
        return self.write_results(Coll.TABLES, community, run_id, docs)

    def result_table(self, community: str, name: str, run_id: str, schema: pa.Schema) -> pa.Table:
        """The run's result table ``name``: its parts in order, the columns of ``schema``."""
        import pyarrow.parquet as pq

        docs = self[Coll.TABLES].find(
            {"community": community, "run_id": run_id, "name": name}, {"part": 1, "parquet": 1}
        )
        pieces = [d["parquet"] for d in sorted(docs, key=lambda d: d["part"])]
        tables = [pq.read_table(io.BytesIO(p)) for p in pieces]
        return pa.concat_tables(
            [schema.empty_table(), *(t.select(schema.names).cast(schema) for t in tables)]
        )

    def table_fields(self, community: str, name: str, run_id: str) -> list[dict[str, Any]]:
        """The fields put on each part of the run's result table ``name`` (no data)."""
        return list(
            self[Coll.TABLES].find(
                {"community": community, "run_id": run_id, "name": name}, {"parquet": 0}
            )
        )

    def remove_members(self, community: str, account_ids: Iterable[str]) -> int:
        ids = [doc_id(Coll.MEMBERS, {"community": community, "account_id": a}) for a in account_ids]
        result = self[Coll.MEMBERS].delete_many({"_id": {"$in": ids}})
        return result.deleted_count

    def update_checkpoint(
        self,
        account_id: str,
        fields: Mapping[str, Any] | None = None,
        *,
        clear: Iterable[str] = (),
        create: bool = False,
    ) -> None:
        """Set ``fields`` of the account's collection checkpoint (dotted paths reach into a
        pass under way) and remove the fields named in ``clear``; ``create`` makes the
        checkpoint when the account has none (else an account without one is left alone)."""
        update: dict[str, Any] = {}
        if fields:
            update["$set"] = dict(fields)
        if cleared := dict.fromkeys(clear, ""):
            update["$unset"] = cleared
        if update:
            self[Coll.COLLECT_STATE].update_one({"_id": account_id}, update, upsert=create)

    def mark_member_status(self, account_id: str, status: str, now: datetime) -> int:
        """Show whether the account can be read (``active``, ``protected``, ``suspended``…)
        on the roster of every community it is a member of; how many memberships."""
        result = self[Coll.MEMBERS].update_many(
            {"account_id": account_id}, {"$set": {"status": status, "status_seen_at": now}}
        )
        return result.matched_count

    def forget_conversation_ids(self) -> int:
        """Null every stored tweet's ``conversation_id``, as if X had sent none (the content
        step then threads replies itself; a benchmark compares both); how many tweets."""
        result = self[Coll.TWEETS].update_many({}, {"$set": {"conversation_id": None}})
        return result.matched_count

    # ---- columnar reads -----------------------------------------------------------------

    def table(
        self,
        coll: Coll,
        filter: Mapping[str, Any],
        sort: Sequence[tuple[str, int]],
        fields: Mapping[str, str],
        schema: pa.Schema,
    ) -> pa.Table:
        """An Arrow table of ``schema``: column ``name`` is the document field at
        ``fields[name]`` (a dotted path; the name itself when absent), missing ones null.
        The engine builds the columns (no per-row Python of ours), a batch at a time.
        Ascending sorts on read columns are done by Arrow after the read (in C++; nulls
        first, as the engines sort them), the rest by the engine."""
        paths = {name: fields.get(name, name) for name in schema.names}
        names = {path: name for name, path in paths.items()}
        in_arrow = all(f in names and d == 1 for f, d in sort)
        read = self.batches(coll, filter, [] if in_arrow else sort, paths, schema)
        table = pa.Table.from_batches(list(read), schema=schema)
        if in_arrow and sort and table.num_rows:
            table = table.sort_by([(names[f], "ascending", "at_start") for f, _ in sort])
        return table

    def batches(
        self,
        coll: Coll,
        filter: Mapping[str, Any],
        sort: Sequence[tuple[str, int]],
        fields: Mapping[str, str],
        schema: pa.Schema,
        rows: int | None = None,
    ) -> Iterator[pa.RecordBatch]:
        """The read of :meth:`table` streamed as record batches of at most ``rows`` rows
        (the engine's default when None), in ``sort`` order done by the engine."""
        paths = {name: fields.get(name, name) for name in schema.names}
        extra = {} if rows is None else {"rows": rows}
        return self.backend.batches(Coll(coll).value, filter, list(sort), paths, schema, **extra)

    def span(self, coll: Coll, filter: Mapping[str, Any], field: str) -> tuple[int, Any, Any]:
        """How many documents match, and the first and last value of a date ``field``."""
        return self.backend.span(Coll(coll).value, filter, field)

    def members(self, community: str) -> pa.Table:
        """The community's members (MEMBERS_SCHEMA), by account id, with the activity and
        cluster of the week shown."""
        return self.member_results(community, MEMBERS_SCHEMA)

    def member_results(
        self, community: str, schema: pa.Schema, fields: Mapping[str, str] | None = None
    ) -> pa.Table:
        """The community's members with ``schema``'s columns, by account id: the member's
        own fields (:data:`MEMBER_FIELDS`), ``activity`` from the bonds shown, and the rest
        (cluster, flow, position, ``bond_stats.…`` through ``fields``) from the placements
        of the clustering shown; null where a step has not run."""
        fields = dict(fields or {})
        own = [n for n in schema.names if n in MEMBER_FIELDS]
        table = self.table(
            Coll.MEMBERS,
            {"community": community},
            [("account_id", 1)],
            {n: fields.get(n, n) for n in own},
            pa.schema([schema.field(n) for n in own]),
        )
        if "activity" in schema.names:
            activity = self.table(
                Coll.BONDS,
                self.shown(Coll.BONDS, community),
                [],
                {"account_id": "source_id", "activity": "activity"},
                pa.schema([("account_id", pa.string()), schema.field("activity")]),
            )
            table = table.join(activity, "account_id", join_type="left outer")
        placed = [n for n in schema.names if n not in own and n != "activity"]
        if placed:
            placements = self.table(
                Coll.PLACEMENTS,
                self.shown(Coll.PLACEMENTS, community),
                [],
                {"account_id": "account_id", **{n: fields.get(n, n) for n in placed}},
                pa.schema([("account_id", pa.string()), *(schema.field(n) for n in placed)]),
            )
            table = table.join(placements, "account_id", join_type="left outer")
        return table.sort_by("account_id").select(schema.names).cast(schema)

    def interactions(
        self,
        author_ids: Sequence[str] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> pa.Table:
        """Interaction records of the tweets by ``author_ids`` in ``[since, until)``, by
        tweet id."""
        read = self.interaction_batches(author_ids, since, until)
        table = pa.Table.from_batches(list(read), schema=INTERACTIONS_SCHEMA)
        return table.sort_by("tweet_id") if table.num_rows else table

    def interactions_by_id(
        self, tweet_ids: Sequence[str], since: datetime, until: datetime
    ) -> pa.Table:
        """Interaction records of the tweets ``tweet_ids`` in ``[since, until)``, by id."""
        match = {"_id": {"$in": list(tweet_ids)}, "created_at": {"$gte": since, "$lt": until}}
        read = self.batches(Coll.TWEETS, match, [], _TWEET_FIELDS, _TWEET_READ_SCHEMA)
        table = pa.Table.from_batches([_engagement(b) for b in read], schema=INTERACTIONS_SCHEMA)
        return table.sort_by("tweet_id") if table.num_rows else table

    def interaction_batches(
        self,
        author_ids: Sequence[str] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        rows: int | None = None,
    ) -> Iterator[pa.RecordBatch]:
        """The read of :meth:`interactions` streamed in record batches of at most ``rows``
        rows (INTERACTIONS_SCHEMA), in no particular order."""
        match = _tweets_match(author_ids, since, until)
        for batch in self.batches(
            Coll.TWEETS, match, [], _TWEET_FIELDS, _TWEET_READ_SCHEMA, rows=rows
        ):
            yield _engagement(batch)

    def bond_lists(self, community: str) -> pa.Table:
        """The bonds shown: one adjacency list per source member (BOND_LISTS_SCHEMA)."""
        return self.table(
            Coll.BONDS, self.shown(Coll.BONDS, community), [("source_id", 1)], {},
            BOND_LISTS_SCHEMA,
        )  # fmt: skip

    def follows(self, account_ids: Sequence[str] | None = None) -> pa.Table:
        """Follow edges (source follows target), both ends restricted to ``account_ids``."""
        match: dict[str, Any] = {}
        if account_ids is not None:
            match = {"_id": {"$in": list(account_ids)}}
        lists = self.table(
            Coll.FOLLOWS,
            match,
            [("_id", 1)],
            {"source_id": "_id"},
            pa.schema([("source_id", pa.string()), ("targets", pa.list_(pa.string()))]),
        )
        targets = lists.column("targets").combine_chunks()
        edges = pa.table(
            {
                "source_id": lists.column("source_id").take(pc.list_parent_indices(targets)),
                "target_id": pc.list_flatten(targets),
            },
            schema=FOLLOWS_SCHEMA,
        )
        if account_ids is not None:
            edges = edges.filter(
                pc.is_in(edges["target_id"], pa.array(list(account_ids), pa.string()))
            )
        return edges.sort_by([("source_id", "ascending"), ("target_id", "ascending")])

    def follow_list_batches(
        self, account_ids: Iterable[str], rows: int | None = None
    ) -> Iterator[pa.RecordBatch]:
        """The stored follow lists of ``account_ids`` (FOLLOW_LISTS_SCHEMA) as record batches
        of at most ``rows`` lists, in no particular order: memory bounded by a batch."""
        match = {"_id": {"$in": list(account_ids)}}
        return self.batches(
            Coll.FOLLOWS, match, [], {"source_id": "_id"}, FOLLOW_LISTS_SCHEMA, rows=rows
        )

    def follow_list_sizes(self, account_ids: Iterable[str]) -> dict[str, int]:
        """How many accounts each stored follow list of ``account_ids`` holds (accounts
        whose list was never read left out)."""
        ids = sorted(set(account_ids))
        if not ids:
            return {}
        cursor = self[Coll.FOLLOWS].find({"_id": {"$in": ids}}, {"targets": 1})
        return {d["_id"]: len(d["targets"]) for d in cursor if d.get("targets") is not None}

    def accounts(
        self, account_ids: Iterable[str], fields: Sequence[str] | None = None
    ) -> dict[str, dict[str, Any]]:
        """The stored user documents of ``account_ids``, by id (accounts never seen left
        out), with their ``_id`` and only ``fields`` (every field when None)."""
        ids = sorted(set(account_ids))
        if not ids:
            return {}
        projection = None if fields is None else dict.fromkeys(fields, 1)
        return {d["_id"]: d for d in self[Coll.ACCOUNTS].find({"_id": {"$in": ids}}, projection)}

    def usernames(self, account_ids: Iterable[str]) -> dict[str, str]:
        """The usernames of the accounts the store has seen (members, and outsiders from
        tweet pages), by id; accounts never seen left out."""
        found = self.accounts((a for a in account_ids if a), ["username"])
        return {a: d["username"] for a, d in found.items() if d.get("username")}

    def accounts_named(self, usernames: Iterable[str]) -> dict[str, dict[str, str]]:
        """The stored accounts with these usernames, whatever their case: ``{"id",
        "username"}`` (as X spells it) by lower-cased username; names never seen left out."""
        lowered = sorted({n.lower() for n in usernames})
        if not lowered:
            return {}
        cursor = self[Coll.ACCOUNTS].find(
            {"username_lower": {"$in": lowered}}, {"username": 1, "username_lower": 1}
        )
        return {d["username_lower"]: {"id": d["_id"], "username": d["username"]} for d in cursor}

    def checkpoints(self, account_ids: Iterable[str] | None = None) -> dict[str, dict[str, Any]]:
        """The collection checkpoints of ``account_ids`` (None: every account's), by
        account id; accounts never planned left out."""
        match = {} if account_ids is None else {"_id": {"$in": list(account_ids)}}
        return {d["_id"]: d for d in self[Coll.COLLECT_STATE].find(match)}

    def posts_by_author(
        self, author_ids: Iterable[str], since: datetime, until: datetime
    ) -> dict[str, int]:
        """How many tweets each of ``author_ids`` has stored in ``[since, until)`` (authors
        with none left out): one columnar read of the authors, counted by Arrow."""
        authors = self.table(
            Coll.TWEETS,
            _tweets_match(author_ids, since, until),
            [],
            {},
            pa.schema([("author_id", pa.string())]),
        ).column("author_id")
        counts = pc.value_counts(authors.drop_null())
        values = counts.field("values").to_pylist()
        return dict(zip(values, counts.field("counts").to_pylist(), strict=True))

    def tweet_span(
        self,
        author_ids: Iterable[str] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> tuple[int, Any, Any]:
        """How many tweets by ``author_ids`` (None: anyone) are stored in ``[since, until)``,
        and the first and last ``created_at`` among them (counted by the engine, nothing
        read)."""
        return self.span(Coll.TWEETS, _tweets_match(author_ids, since, until), "created_at")

    def tweet_texts(
        self,
        author_ids: Iterable[str],
        since: datetime,
        until: datetime,
        kinds: Iterable[str] | None = None,
    ) -> pa.Table:
        """The text and links (TEXTS_SCHEMA) of the tweets by ``author_ids`` in ``[since,
        until)`` of ``kinds`` (``tweet``, ``quote``…; None: any), by tweet id, in one
        columnar read."""
        match = _tweets_match(author_ids, since, until, kinds)
        return self.table(Coll.TWEETS, match, [("_id", 1)], _TEXT_FIELDS, TEXTS_SCHEMA)

    def clustered_count(self, community: str) -> int:
        """How many members the clustering shown placed in a cluster (a member it left out
        has cluster -1)."""
        match = self.shown(Coll.PLACEMENTS, community, cluster={"$gte": 0})
        return self[Coll.PLACEMENTS].count_documents(match)
