"""Documents as JSON text for the embedded store, with MongoDB's types kept.

Datetimes travel as ``{"$date": "2026-11-30T03:20:19.123Z"}`` (MongoDB extended JSON,
millisecond precision and UTC, as a MongoDB server keeps them), bytes as ``{"$binary":
{"base64": …, "subType": "00"}}``, so a document read back is
the document a server would return: tz-aware UTC datetimes, lists, nested dicts. The text is
compact and its date strings share one format, so SQLite compares and sorts dates as text
in the order of time.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

DATE_KEY = "$date"
BINARY_KEY = "$binary"


def encode_date(moment: datetime) -> str:
    """``2026-11-30T03:20:19.123Z``: UTC, milliseconds (naive datetimes are taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return {DATE_KEY: encode_date(value)}
    if isinstance(value, bytes):  # MongoDB extended JSON's binary, subtype 0
        return {BINARY_KEY: {"base64": base64.b64encode(value).decode(), "subType": "00"}}
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"cannot store a value of type {type(value).__name__}: {value!r:.80}")


def _hook(obj: dict[str, Any]) -> Any:
    if len(obj) == 1 and DATE_KEY in obj:
        return datetime.fromisoformat(obj[DATE_KEY])
    if len(obj) == 1 and BINARY_KEY in obj and isinstance(obj[BINARY_KEY], dict):
        return base64.b64decode(obj[BINARY_KEY]["base64"])
    return obj


def dumps(value: Any) -> str:
    """Compact JSON text (the form SQLite's JSON functions print), dates tagged.

    NaN and infinities are refused: JSON has no spelling for them."""
    return json.dumps(
        value, default=_default, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def loads(text: str) -> Any:
    return json.loads(text, object_hook=_hook)


def sql_value(value: Any) -> Any:
    """A Python value as SQLite sees the same value inside a stored document when it reads it
    with ``json_extract``: text, numbers, 1/0 for booleans, and a date's tagged JSON text."""
    if isinstance(value, datetime):
        return dumps(value)
    if isinstance(value, bool):
        return int(value)
    if value is None or isinstance(value, str | int | float):
        return value
    raise TypeError(f"cannot compare with a value of type {type(value).__name__}")
