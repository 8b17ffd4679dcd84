"""Turn an X API v2 tweet (with its response's ``includes``) into an interaction record.

The interaction record is what every later stage needs from a tweet: its kind, its author,
the accounts it is *directed at*, its hashtags, conversation and time. Tweets fetched with
few ``tweet.fields`` (the real API's default is id and text only) are accepted: whatever
cannot be derived is listed in :attr:`Interaction.unknown` instead of being guessed.
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


class TweetKind(enum.StrEnum):
    """How a tweet relates to others; the bonds stage weighs each kind differently."""

    TWEET = "tweet"
    RETWEET = "retweet"
    QUOTE = "quote"
    REPLY = "reply"


class TweetFormatError(ValueError):
    """The object is not an X API v2 tweet (no string ``id``)."""


@dataclass(frozen=True, slots=True)
class Interaction:
    """What a tweet says about who talks to whom.

    ``kind`` is ``None`` only when the tweet came without ``referenced_tweets`` *and* without
    any other field from which the kind follows; ``unknown`` names every such gap.
    """

    tweet_id: str
    author_id: str | None
    kind: TweetKind | None
    directed_at: tuple[str, ...]
    hashtags: tuple[str, ...]
    conversation_id: str | None
    created_at: datetime | None
    referenced: Mapping[str, str] = field(default_factory=dict)
    unknown: tuple[str, ...] = ()

    @property
    def complete(self) -> bool:
        return not self.unknown

    @property
    def referenced_id(self) -> str | None:
        """The tweet this one retweets, replies to or quotes (the one its kind comes from)."""
        ref_type = {"retweet": "retweeted", "reply": "replied_to", "quote": "quoted"}.get(
            self.kind.value if self.kind else ""
        )
        return self.referenced.get(ref_type) if ref_type else None


def parse_time(value: Any) -> datetime | None:
    """Parse the API's ISO-8601 ``created_at`` (``2022-10-05T15:03:52.000Z``)."""
    if value is None or isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise TweetFormatError(f"created_at must be an ISO-8601 string, got {value!r}")
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise TweetFormatError(f"created_at is not ISO-8601: {value!r}") from exc


class IncludesIndex:
    """Lookups into a response's ``includes`` (users by username, tweets by id)."""

    def __init__(self, includes: Mapping[str, Any] | None = None) -> None:
        includes = includes or {}
        self.user_ids = {
            u["username"].lower(): str(u["id"])
            for u in includes.get("users", ())
            if "username" in u and "id" in u
        }
        self.tweets = {str(t["id"]): t for t in includes.get("tweets", ()) if "id" in t}

    def author_of(self, tweet_id: str) -> str | None:
        author = self.tweets.get(tweet_id, {}).get("author_id")
        return str(author) if author is not None else None


def normalise_tweet(
    tweet: Mapping[str, Any],
    includes: Mapping[str, Any] | IncludesIndex | None = None,
    tweet_fields: Collection[str] = (),
) -> Interaction:
    """Derive the interaction record of one v2 tweet.

    ``includes`` is the response's ``includes`` object (or a prepared :class:`IncludesIndex`
    when normalising a whole page). ``tweet_fields`` are the ``tweet.fields`` the request
    asked for: the API omits empty fields, so a requested field that is absent is known to be
    empty, while an absent field that was not requested is reported in ``unknown``.
    Mentions are resolved to user ids through the mention's own ``id`` (recent API versions)
    or ``includes.users``; referenced authors through ``in_reply_to_user_id`` or
    ``includes.tweets``.
    """
    if not isinstance(tweet, Mapping) or not isinstance(tweet.get("id"), str | int):
        raise TweetFormatError(f"not an X API v2 tweet (no id): {str(tweet)[:120]!r}")
    index = includes if isinstance(includes, IncludesIndex) else IncludesIndex(includes)
    unknown: list[str] = []

    author = tweet.get("author_id")
    author = str(author) if author is not None else None
    if author is None:
        unknown.append("author_id")

    refs = {r["type"]: str(r["id"]) for r in tweet.get("referenced_tweets") or () if "type" in r}
    kind = _kind(tweet, refs, requested=set(tweet_fields))
    if kind is None:
        unknown.append("kind")

    targets: list[str] = []
    entities = tweet.get("entities")
    for mention in (entities or {}).get("mentions", ()):
        uid = mention.get("id") or index.user_ids.get(str(mention.get("username", "")).lower())
        if uid is None:
            unknown.append(f"mention:@{mention.get('username', '?')}")
        else:
            targets.append(str(uid))
    if "replied_to" in refs or tweet.get("in_reply_to_user_id") is not None:
        replied = tweet.get("in_reply_to_user_id") or index.author_of(refs.get("replied_to", ""))
        targets.append(str(replied)) if replied else unknown.append("replied_to_author")
    for ref_type in ("quoted", "retweeted"):
        if ref_type in refs:
            ref_author = index.author_of(refs[ref_type])
            targets.append(ref_author) if ref_author else unknown.append(f"{ref_type}_author")
    if entities is None and "entities" not in tweet_fields:
        unknown.append("entities")

    conversation = tweet.get("conversation_id")
    if conversation is None:
        unknown.append("conversation_id")
    created = parse_time(tweet.get("created_at"))
    if created is None:
        unknown.append("created_at")

    hashtags = tuple(
        dict.fromkeys(h["tag"].lower() for h in (entities or {}).get("hashtags", ()) if "tag" in h)
    )
    return Interaction(
        tweet_id=str(tweet["id"]),
        author_id=author,
        kind=kind,
        directed_at=tuple(t for t in dict.fromkeys(targets) if t != author),
        hashtags=hashtags,
        conversation_id=str(conversation) if conversation is not None else None,
        created_at=created,
        referenced=refs,
        unknown=tuple(unknown),
    )


def _kind(
    tweet: Mapping[str, Any], refs: Mapping[str, str], requested: set[str]
) -> TweetKind | None:
    # A reply that quotes is a reply: it is addressed to someone, the heavier bond.
    if "retweeted" in refs:
        return TweetKind.RETWEET
    if "replied_to" in refs or tweet.get("in_reply_to_user_id") is not None:
        return TweetKind.REPLY
    if "quoted" in refs:
        return TweetKind.QUOTE
    if "referenced_tweets" in tweet or "referenced_tweets" in requested:
        return TweetKind.TWEET  # requested, and it references nothing we weigh
    return None  # without referenced_tweets a plain tweet and a retweet look alike


def normalise_page(
    page: Mapping[str, Any], tweet_fields: Collection[str] = ()
) -> list[Interaction]:
    """Normalise every tweet of one v2 response page (``data`` + ``includes``)."""
    data = page.get("data") or []
    if isinstance(data, Mapping):  # single-tweet lookups answer with an object
        data = [data]
    index = IncludesIndex(page.get("includes"))
    return [normalise_tweet(t, index, tweet_fields) for t in data]


def unknown_summary(records: Iterable[Interaction]) -> dict[str, int]:
    """Count, per underivable field, how many records missed it (for clear reporting)."""
    counts: dict[str, int] = {}
    for record in records:
        for gap in record.unknown:
            key = gap.split(":", 1)[0]
            counts[key] = counts.get(key, 0) + 1
    return counts
