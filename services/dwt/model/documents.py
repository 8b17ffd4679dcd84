"""Store documents built from X API v2 objects.

A tweet document is the v2 tweet as the API sent it (only the fields it sent), keyed by its
id, plus a ``dwt`` sub-document holding the derived interaction record, so that stages read
flat columns without re-parsing entities.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from dwt.model.interactions import IncludesIndex, TweetFormatError, normalise_tweet, parse_time


def tweet_documents(
    page: Mapping[str, Any], tweet_fields: Collection[str] = ()
) -> list[dict[str, Any]]:
    """Documents for the ``tweets`` collection from one response page (``data`` + ``includes``).

    ``created_at`` becomes a real datetime so the store can index and range-query it.
    """
    data = page.get("data") or []
    if isinstance(data, Mapping):
        data = [data]
    index = IncludesIndex(page.get("includes"))
    docs = []
    for tweet in data:
        record = normalise_tweet(tweet, index, tweet_fields)
        doc = dict(tweet)
        doc["_id"] = doc["id"] = record.tweet_id
        if "created_at" in doc:
            doc["created_at"] = record.created_at
        doc["dwt"] = {
            "kind": record.kind.value if record.kind else None,
            "directed_at": list(record.directed_at),
            "referenced_id": record.referenced_id,
            "hashtags": list(record.hashtags),
            "unknown": list(record.unknown),
        }
        docs.append(doc)
    return docs


def user_document(user: Mapping[str, Any]) -> dict[str, Any]:
    """A document for the ``accounts`` collection from a v2 user object."""
    if not isinstance(user.get("id"), str | int) or not user.get("username"):
        raise TweetFormatError(f"not an X API v2 user (needs id and username): {dict(user)!r}")
    doc = dict(user)
    doc["_id"] = doc["id"] = str(user["id"])
    doc["username_lower"] = str(user["username"]).lower()
    if "created_at" in doc:
        doc["created_at"] = parse_time(doc["created_at"])
    return doc
