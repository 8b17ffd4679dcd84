"""The MongoDB store: opened from a URL, bulk idempotent writes, columnar reads.

``mongodb://`` / ``mongodb+srv://`` URLs open a real server through pymongo;
``mongomock://host/db`` opens the in-process engine used by tests and the local demo (one
shared instance per URL within a process). Both are driven through the same pymongo API.
"""

from __future__ import annotations

import logging
from collections.abc import Collection as AbcCollection
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import pyarrow as pa
import pyarrow.compute as pc
from pymongo import MongoClient, UpdateOne
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import BulkWriteError

from dwt.config import redact_url
from dwt.model.documents import tweet_documents, user_document
from dwt.store.schema import NATURAL_KEYS, Coll, MemberSource, doc_id, index_models

log = logging.getLogger(__name__)


class StoreError(RuntimeError):
    """A store operation failed; the message says which and why (never the password)."""


@dataclass(frozen=True, slots=True)
class WriteSummary:
    """What a bulk upsert did: ``inserted`` new documents, ``updated`` changed ones."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0

    @property
    def total(self) -> int:
        return self.inserted + self.updated + self.unchanged

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
FOLLOWS_SCHEMA = pa.schema([("source_id", pa.string()), ("target_id", pa.string())])
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


def _client_for(url: str) -> tuple[Any, str]:
    parts = urlsplit(url)
    db_name = parts.path.lstrip("/") or "dwt"
    if parts.scheme == "mongomock":
        from dwt.store import inprocess  # imported only when asked for

        return inprocess.client(url), db_name
    return MongoClient(url, tz_aware=True, serverSelectionTimeoutMS=10_000), db_name


class Store:
    """Typed access to the product's collections. Create with :meth:`open`."""

    def __init__(self, db: Database, url_redacted: str, source: str = "") -> None:
        self.db = db
        self.url = url_redacted
        self._source = source  # the full URL, kept out of reprs (it may hold a password)

    @classmethod
    def open(cls, url: str, *, ensure_indexes: bool = True) -> Store:
        """Open the store at ``url``; creates the indexes (idempotently) unless told not to."""
        client, db_name = _client_for(url)
        store = cls(client[db_name], redact_url(url), source=url)
        if ensure_indexes:
            store.ensure_indexes()
        return store

    def __repr__(self) -> str:
        return f"Store({self.url!r})"

    def flush(self) -> None:
        """Persist an in-process store that has a ``?file=`` (a server needs nothing)."""
        if self._source.startswith("mongomock:"):
            from dwt.store import inprocess

            inprocess.save(self._source)

    def __getitem__(self, coll: Coll | str) -> Collection:
        return self.db[Coll(coll).value]

    # ---- set-up -------------------------------------------------------------------------

    def ensure_indexes(self) -> dict[str, list[str]]:
        """Create every collection's indexes; running it again changes nothing."""
        created = {}
        for coll in Coll:
            models = index_models(coll)
            created[coll.value] = self[coll].create_indexes(models) if models else []
        return created

    def counts(self) -> dict[str, int]:
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
            ops.append(UpdateOne({"_id": doc_id(coll, doc)}, update, upsert=True))
        if not ops:
            return WriteSummary()
        try:
            result = self[coll].bulk_write(ops, ordered=False)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            first = errors[0]["errmsg"] if errors else exc
            raise StoreError(
                f"{coll.value}: {len(errors)} of {len(ops)} writes failed: {first}"
            ) from exc
        inserted = result.upserted_count
        return WriteSummary(
            inserted, result.modified_count, len(ops) - inserted - result.modified_count
        )

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
    ) -> None:
        """Record accounts ``source_id`` follows. A follow list may come in pages: earlier
        pages gather in ``pass_targets``; the last one makes the list current, so accounts
        no longer followed drop out and a repeated page changes nothing."""
        coll = self[Coll.FOLLOWS]
        targets = list(dict.fromkeys(str(t) for t in target_ids))
        coll.update_one(
            {"_id": source_id},
            {"$addToSet": {"pass_targets": {"$each": targets}}},
            upsert=True,
        )
        if last_page:
            doc = coll.find_one({"_id": source_id}, {"pass_targets": 1}) or {}
            coll.update_one(
                {"_id": source_id},
                {
                    "$set": {"targets": doc.get("pass_targets", []), "seen_at": datetime.now(UTC)},
                    "$unset": {"pass_targets": ""},
                },
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
            UpdateOne(
                {"_id": doc_id(Coll.MEMBERS, {"community": community, **row})},
                {"$set": {k: v for k, v in row.items() if k != "account_id"}},
            )
            for row in rows
        ]
        return self[Coll.MEMBERS].bulk_write(ops, ordered=False).matched_count if ops else 0

    def replace_results(
        self, coll: Coll, community: str, run_id: str, docs: Iterable[Mapping[str, Any]]
    ) -> WriteSummary:
        """Make ``docs`` the community's results in ``coll``: upsert them tagged with
        ``run_id``, then delete what an earlier run left. Re-running a run is harmless."""
        tagged = [{**doc, "community": community, "run_id": run_id} for doc in docs]
        written = self.upsert(coll, tagged)
        self[coll].delete_many({"community": community, "run_id": {"$ne": run_id}})
        return written

    def remove_members(self, community: str, account_ids: Iterable[str]) -> int:
        ids = [doc_id(Coll.MEMBERS, {"community": community, "account_id": a}) for a in account_ids]
        result = self[Coll.MEMBERS].delete_many({"_id": {"$in": ids}})
        return result.deleted_count

    # ---- columnar reads -----------------------------------------------------------------

    def _table(self, coll: Coll, pipeline: list[dict[str, Any]], schema: pa.Schema) -> pa.Table:
        # The projection runs in the server; pyarrow converts the batch in C++, so no
        # per-row Python code of ours touches the rows.
        pipeline = [*pipeline, {"$project": {"_id": 0, **{f: 1 for f in schema.names}}}]
        return pa.Table.from_pylist(list(self[coll].aggregate(pipeline)), schema=schema)

    def members(self, community: str) -> pa.Table:
        """The community's members (MEMBERS_SCHEMA), by account id."""
        return self._table(
            Coll.MEMBERS,
            [{"$match": {"community": community}}, {"$sort": {"account_id": 1}}],
            MEMBERS_SCHEMA,
        )

    def interactions(
        self,
        author_ids: Sequence[str] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> pa.Table:
        """Interaction records of the tweets by ``author_ids`` in ``[since, until)``."""
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
        pipeline = [
            {"$match": match},
            {"$sort": {"_id": 1}},
            {
                "$project": {
                    "tweet_id": "$_id",
                    "author_id": 1,
                    "created_at": 1,
                    "conversation_id": 1,
                    "kind": "$dwt.kind",
                    "referenced_id": "$dwt.referenced_id",
                    "directed_at": "$dwt.directed_at",
                    "hashtags": "$dwt.hashtags",
                    "engagement": {
                        "$add": [{"$ifNull": [f"$public_metrics.{m}", 0]} for m in _ENGAGEMENT]
                    },
                }
            },
        ]
        return self._table(Coll.TWEETS, pipeline, INTERACTIONS_SCHEMA)

    def bond_lists(self, community: str) -> pa.Table:
        """The stored bonds: one adjacency list per source member (BOND_LISTS_SCHEMA)."""
        return self._table(
            Coll.BONDS,
            [{"$match": {"community": community}}, {"$sort": {"source_id": 1}}],
            BOND_LISTS_SCHEMA,
        )

    def follows(self, account_ids: Sequence[str] | None = None) -> pa.Table:
        """Follow edges (source follows target), both ends restricted to ``account_ids``."""
        match: dict[str, Any] = {}
        if account_ids is not None:
            match = {"_id": {"$in": list(account_ids)}}
        lists = self._table(
            Coll.FOLLOWS,
            [
                {"$match": match},
                {"$sort": {"_id": 1}},
                {"$project": {"source_id": "$_id", "targets": 1}},
            ],
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
