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
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
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
        """Read a dataset directory; anything that is not one raises :class:`DatasetError`
        with a message that names the file (and the column) at fault — never a dataset
        with silently empty columns (a missing ``author_id`` once served empty timelines)."""
        path = Path(path)
        if not (path / "meta.json").is_file():
            raise DatasetError(f"{path} is not a dataset directory (no meta.json)")
        meta = _read_meta(path / "meta.json")
        tables = {
            name: _read_table(path / f"{name}.parquet", schema) for name, schema in _TABLES.items()
        }
        for name, table in tables.items():
            _check_columns(f"{name}.parquet", table)
        return cls(meta=meta, **tables)


#: Low bits of an X snowflake id below its milliseconds (``id = ms_since_epoch << 22 | …``).
SNOWFLAKE_TIME_SHIFT = 22
#: ``meta`` keys holding instants (ISO) and tweet ids, wherever they are nested.
_META_TIMES = frozenset({"now", "start", "end"})
_META_TWEET_IDS = frozenset({"conversation_id", "tweet_ids"})


def shift_time(dataset: Dataset, ms: int) -> Dataset:
    """The same world ``ms`` milliseconds later, as X would have recorded it then.

    Every timestamp moves by ``ms`` and every tweet id by ``ms << 22``: the time an X id
    carries (its snowflake) keeps agreeing with the served ``created_at``, ids stay unique
    and keep their order, and replies, quotes and conversations still point at their tweets.
    The truth in ``meta`` (windows, bursts and their tweet ids) moves with them. User ids
    are not moved: an account is as old as it was.
    """
    if ms == 0:
        return dataset
    step = ms << SNOWFLAKE_TIME_SHIFT
    tweets = dataset.tweets
    for name in ("id", "referenced_id", "conversation_id"):
        tweets = _set_column(tweets, name, _shift_ids(tweets.column(name), step))
    tweets = _set_column(tweets, "created_at", _shift_times(tweets.column("created_at"), ms))
    users = _set_column(
        dataset.users, "created_at", _shift_times(dataset.users.column("created_at"), ms)
    )
    meta = _shift_meta(dataset.meta, ms, step)
    return Dataset(users=users, tweets=tweets, follows=dataset.follows, meta=meta)


def _set_column(table: pa.Table, name: str, values: pa.ChunkedArray) -> pa.Table:
    return table.set_column(table.schema.get_field_index(name), table.schema.field(name), values)


def _shift_ids(ids: pa.ChunkedArray, step: int) -> pa.ChunkedArray:
    numbers = pc.cast(ids, pa.int64())
    bounds = pc.min_max(numbers)
    low, high = bounds["min"], bounds["max"]
    if low.is_valid and (low.as_py() + step <= 0 or high.as_py() + step >= 2**63):
        raise DatasetError(f"tweet ids cannot move by {step:,}: they would leave X's id range")
    return pc.cast(pc.add(numbers, pa.scalar(step, pa.int64())), pa.string())


def _shift_times(times: pa.ChunkedArray, ms: int) -> pa.ChunkedArray:
    return pc.add(times, pa.scalar(timedelta(milliseconds=ms), pa.duration("ms")))


def _shift_meta(value: Any, ms: int, step: int, key: str | None = None) -> Any:
    if isinstance(value, dict):
        return {k: _shift_meta(v, ms, step, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_shift_meta(v, ms, step, key) for v in value]
    if key in _META_TIMES and isinstance(value, str):
        moved = datetime.fromisoformat(value.replace("Z", "+00:00")) + timedelta(milliseconds=ms)
        return moved.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if key in _META_TWEET_IDS and isinstance(value, str) and value.isdigit():
        return str(int(value) + step)
    return value


#: Columns every row must have (the emulator keys its indexes on them).
_REQUIRED = {
    "users": ("id", "username"),
    "tweets": ("id", "author_id", "created_at"),
    "follows": ("source_id", "target_id"),
}
#: Columns holding X ids: decimal snowflakes (the emulator compares them as numbers).
_ID_COLUMNS = {
    "users": ("id",),
    "tweets": ("id", "author_id", "referenced_id", "in_reply_to_user_id", "conversation_id"),
    "follows": ("source_id", "target_id"),
}
_ID = r"^[0-9]{1,19}$"


def _read_meta(file: Path) -> dict[str, Any]:
    try:
        meta = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"cannot read {file}: {exc}") from exc
    except (json.JSONDecodeError, RecursionError) as exc:
        raise DatasetError(f"{file} is not JSON: {exc}") from exc
    if not isinstance(meta, dict):
        raise DatasetError(f"{file} must hold a JSON object, not {type(meta).__name__}")
    if meta.get("format") != FORMAT:
        raise DatasetError(
            f"{file.parent} is not a {FORMAT} dataset (format={meta.get('format')!r})"
        )
    now = meta.get("now")
    if now is not None:
        try:
            moment = datetime.fromisoformat(str(now).replace("Z", "+00:00"))
        except ValueError:
            raise DatasetError(f"{file}: 'now' is not an ISO time: {now!r}") from None
        if moment.tzinfo is None:
            raise DatasetError(f"{file}: 'now' needs a time zone (…Z), got {now!r}")
    return meta


def _read_table(file: Path, schema: pa.Schema) -> pa.Table:
    try:
        found = pq.read_schema(file)
    except (OSError, ValueError, pa.ArrowException) as exc:  # ValueError: undecodable names
        raise DatasetError(f"cannot read {file}: {exc}") from exc
    missing = [name for name in schema.names if name not in found.names]
    if missing:
        raise DatasetError(
            f"{file} has no column {', '.join(repr(m) for m in missing)} "
            f"(a {FORMAT} {file.stem} table has {', '.join(schema.names)})"
        )
    try:
        table = pq.read_table(file, schema=schema)
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise DatasetError(f"cannot read {file} as the dataset's {file.stem} table: {exc}") from exc
    try:
        table.validate(full=True)  # Parquet does not check, e.g., that text is UTF-8
    except pa.ArrowException as exc:
        raise DatasetError(f"{file} is damaged: {exc}") from exc
    return table


def _check_columns(file: str, table: pa.Table) -> None:
    name = file.removesuffix(".parquet")
    for column in _REQUIRED[name]:
        nulls = table.column(column).null_count
        if nulls:
            raise DatasetError(f"{file}: column {column!r} is empty in {nulls} row(s)")
    for column in _ID_COLUMNS[name]:
        values = pc.drop_null(table.column(column))
        bad = pc.invert(pc.match_substring_regex(values, _ID))
        if pc.any(bad).as_py():
            example = values.filter(bad)[0].as_py()
            raise DatasetError(
                f"{file}: column {column!r} holds {example!r}, not an X id (decimal digits)"
            )
        try:  # the emulator compares ids as int64 numbers
            pc.cast(values, pa.int64())
        except pa.ArrowInvalid:
            raise DatasetError(f"{file}: column {column!r} holds an id above 2^63") from None
