"""The dataset shared by the community generator and the X API v2 emulator.

A dataset is what the X API would know about a small world (users, tweets, follow edges)
plus what the API would *not* tell: account states that make the API answer with errors,
and the ground truth the generator planted. It is columnar so that a million tweets load
in about a second and the emulator can index them with numpy; the emulator builds v2 JSON
objects only for the page it answers (entities with start/end offsets are found in the
text, where the generator wrote ``@username`` and ``#tag``).

On disk it is a directory::

    meta.json        {"format": "dwt-dataset/1", "seed", "members", "communities", "days",
                      "now", "topics": {k: [tags]}, "bursts": [...], "hot_outsiders": [...]}
    users.parquet    USERS_SCHEMA    (one row per account, members and outsiders)
    tweets.parquet   TWEETS_SCHEMA   (sorted by id; ids grow with created_at, like X's)
    follows.parquet  FOLLOWS_SCHEMA  (source follows target)

Columns marked *truth* or *hidden* in the schemas are never served by the emulator.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

FORMAT = "dwt-dataset/1"
TIMESTAMP = pa.timestamp("ms", tz="UTC")

#: Account states; all but ``active`` make the API answer with an error or an empty result.
ACCOUNT_STATES = ("active", "protected", "suspended", "deleted")

USERS_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("username", pa.string()),
        ("name", pa.string()),
        ("created_at", TIMESTAMP),
        ("description", pa.string()),
        ("protected", pa.bool_()),
        ("followers_count", pa.int64()),
        ("following_count", pa.int64()),
        ("tweet_count", pa.int64()),
        ("listed_count", pa.int64()),
        pa.field("state", pa.string(), metadata={"dwt": "hidden: one of ACCOUNT_STATES"}),
        pa.field("is_member", pa.bool_(), metadata={"dwt": "hidden: in the followed community"}),
        pa.field("community", pa.int32(), metadata={"dwt": "truth: sub-community, -1 outsider"}),
    ]
)

TWEETS_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("author_id", pa.string()),
        ("created_at", TIMESTAMP),
        ("text", pa.string()),
        pa.field("kind", pa.string(), metadata={"dwt": "tweet | retweet | quote | reply"}),
        pa.field("referenced_id", pa.string(), metadata={"dwt": "retweeted/quoted/replied-to"}),
        ("in_reply_to_user_id", pa.string()),
        ("conversation_id", pa.string()),
        pa.field("mentions", pa.list_(pa.string()), metadata={"dwt": "user ids, text order"}),
        ("hashtags", pa.list_(pa.string())),
        ("lang", pa.string()),
        ("retweet_count", pa.int64()),
        ("reply_count", pa.int64()),
        ("like_count", pa.int64()),
        ("quote_count", pa.int64()),
        ("impression_count", pa.int64()),
        pa.field("topic", pa.string(), metadata={"dwt": "truth: the topic it was written on"}),
        pa.field("burst", pa.int32(), metadata={"dwt": "truth: burst index, -1 if none"}),
    ]
)

FOLLOWS_SCHEMA = pa.schema([("source_id", pa.string()), ("target_id", pa.string())])

_TABLES = {"users": USERS_SCHEMA, "tweets": TWEETS_SCHEMA, "follows": FOLLOWS_SCHEMA}


class DatasetError(ValueError):
    """The path is not a readable dataset; the message says what is wrong."""


@dataclass
class Dataset:
    """A dataset in memory: three Arrow tables and the metadata (see the module doc)."""

    users: pa.Table
    tweets: pa.Table
    follows: pa.Table
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, schema in _TABLES.items():
            table = getattr(self, name)
            if not table.schema.equals(schema, check_metadata=False):
                raise DatasetError(
                    f"{name} table does not match the dataset schema:\n"
                    f"  expected {schema.names}\n  got      {table.schema.names}"
                )
        self.meta.setdefault("format", FORMAT)

    @property
    def now(self) -> datetime | None:
        """The instant the dataset was generated 'at' (its window ends there)."""
        value = self.meta.get("now")
        return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None

    @property
    def member_ids(self) -> list[str]:
        mask = self.users.column("is_member")
        return self.users.filter(mask).column("id").to_pylist()

    def save(self, path: str | Path) -> Path:
        """Write the dataset directory (created if missing, files replaced)."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        for name in _TABLES:
            pq.write_table(getattr(self, name), path / f"{name}.parquet", compression="zstd")
        (path / "meta.json").write_text(json.dumps(self.meta, indent=1, sort_keys=True))
        return path

    @classmethod
    def load(cls, path: str | Path) -> Dataset:
        path = Path(path)
        if not (path / "meta.json").is_file():
            raise DatasetError(f"{path} is not a dataset directory (no meta.json)")
        try:
            meta = json.loads((path / "meta.json").read_text())
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{path / 'meta.json'} is not JSON: {exc}") from exc
        if meta.get("format") != FORMAT:
            raise DatasetError(f"{path} is not a {FORMAT} dataset (format={meta.get('format')!r})")
        try:
            tables = {
                name: pq.read_table(path / f"{name}.parquet", schema=schema)
                for name, schema in _TABLES.items()
            }
        except (OSError, pa.ArrowInvalid) as exc:
            raise DatasetError(f"cannot read dataset {path}: {exc}") from exc
        return cls(meta=meta, **tables)
