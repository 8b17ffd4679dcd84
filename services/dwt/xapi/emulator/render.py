"""Build X API v2 JSON objects (tweets, users, ``includes``) for the rows of one page.

Only requested fields are returned, plus the defaults X always sends; empty fields are left
out as X does (a tweet without mentions or hashtags has no ``entities``). Entity offsets are
found in the text, where the generator wrote ``@username`` and ``#tag``; they count Unicode
code points, like X's.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from . import problems
from .store import ACTIVE, DELETED, PROTECTED, QUOTE, REPLY, RETWEET, SUSPENDED, DataIndex

#: Every value X accepts in ``tweet.fields`` (unknown ones are a 400).
TWEET_FIELDS = (
    "article", "attachments", "author_id", "card_uri", "community_id", "context_annotations",
    "conversation_id", "created_at", "display_text_range", "edit_controls",
    "edit_history_tweet_ids", "entities", "geo", "id", "in_reply_to_user_id", "lang",
    "media_metadata", "non_public_metrics", "note_tweet", "organic_metrics", "possibly_sensitive",
    "promoted_metrics", "public_metrics", "referenced_tweets", "reply_settings", "scopes",
    "source", "text", "withheld",
)  # fmt: skip
#: Every value X accepts in ``user.fields``.
USER_FIELDS = (
    "affiliation", "connection_status", "created_at", "description", "entities", "id",
    "is_identity_verified", "location", "most_recent_tweet_id", "name", "parody",
    "pinned_tweet_id", "profile_banner_url", "profile_image_url", "protected", "public_metrics",
    "receives_your_dm", "subscription", "subscription_type", "url", "username", "verified",
    "verified_followers_count", "verified_type", "withheld",
)  # fmt: skip
#: Expansions of endpoints answering tweets.
TWEET_EXPANSIONS = (
    "attachments.media_keys", "attachments.media_source_tweet", "attachments.poll_ids",
    "author_id", "edit_history_tweet_ids", "entities.mentions.username", "geo.place_id",
    "in_reply_to_user_id", "entities.note.mentions.username", "referenced_tweets.id",
    "referenced_tweets.id.attachments.media_keys", "referenced_tweets.id.author_id",
)  # fmt: skip
#: Expansions of endpoints answering users.
USER_EXPANSIONS = ("affiliation.user_id", "most_recent_tweet_id", "pinned_tweet_id")
MEDIA_FIELDS = (
    "alt_text", "duration_ms", "height", "media_key", "non_public_metrics", "organic_metrics",
    "preview_image_url", "promoted_metrics", "public_metrics", "type", "url", "variants", "width",
)  # fmt: skip
POLL_FIELDS = ("duration_minutes", "end_datetime", "id", "options", "voting_status")
PLACE_FIELDS = (
    "contained_within", "country", "country_code", "full_name", "geo", "id", "name", "place_type",
)  # fmt: skip

_REF_TYPES = {RETWEET: "retweeted", QUOTE: "quoted", REPLY: "replied_to"}
_USERNAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")


def format_time(ms: int) -> str:
    """X's timestamp format: ``2026-11-28T10:00:00.000Z``."""
    moment = datetime.fromtimestamp(ms // 1000, tz=UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{ms % 1000:03d}Z"


def find_entity(text: str, lowered: str, marker: str, word: str, start: int) -> int:
    """Offset of ``marker+word`` in ``text`` at or after ``start`` as a whole token, or -1."""
    needle = marker + word.lower()
    i = lowered.find(needle, start)
    while i >= 0:
        end = i + len(needle)
        before_ok = i == 0 or text[i - 1] not in _USERNAME_CHARS
        after_ok = end >= len(text) or text[end] not in _USERNAME_CHARS
        if before_ok and after_ok:
            return i
        i = lowered.find(needle, i + 1)
    return -1


@dataclass
class Expanded:
    """``includes`` and the partial ``errors`` of one answer, built up in request order."""

    users: dict[int, dict] = field(default_factory=dict)
    tweets: dict[int, dict] = field(default_factory=dict)
    errors: dict[tuple[str, str], dict] = field(default_factory=dict)

    def includes(self) -> dict[str, list[dict]]:
        out: dict[str, list[dict]] = {}
        if self.users:
            out["users"] = list(self.users.values())
        if self.tweets:
            out["tweets"] = list(self.tweets.values())
        return out


class Renderer:
    """Turns index rows into v2 objects."""

    def __init__(self, index: DataIndex) -> None:
        self.index = index

    # --- users ---------------------------------------------------------------------------
    def user(self, pos: int, fields: Iterable[str]) -> dict[str, Any]:
        ix = self.index
        obj: dict[str, Any] = {
            "id": ix.user_ids[pos],
            "name": ix.names[pos] or "",
            "username": ix.usernames[pos],
        }
        wanted = set(fields)
        if "created_at" in wanted:
            obj["created_at"] = format_time(int(ix.user_created_ms[pos]))
        if "description" in wanted:
            obj["description"] = ix.descriptions[pos] or ""
        if "protected" in wanted:
            obj["protected"] = bool(ix.protected_flag[pos] or ix.user_state[pos] == PROTECTED)
        if "public_metrics" in wanted:
            obj["public_metrics"] = {
                name: int(values[pos] or 0) for name, values in ix.user_metrics.items()
            }
        return obj

    def users(self, positions: Sequence[int], fields: Iterable[str]) -> list[dict[str, Any]]:
        fields = tuple(fields)
        return [self.user(int(p), fields) for p in positions]

    # --- tweets --------------------------------------------------------------------------
    def tweets(
        self, rows: np.ndarray, fields: Iterable[str], want_mentions: bool = False
    ) -> tuple[list[dict[str, Any]], list[list[tuple[str, int | None]]]]:
        """Tweet objects of ``rows`` and, per tweet, its located mentions (username, user pos).

        Mentions are located when ``entities`` is requested or ``want_mentions`` is set (the
        ``entities.mentions.username`` expansion needs them even without the field).
        """
        ix = self.index
        wanted = set(fields)
        rows = np.asarray(rows, dtype=np.int64)
        cols = ix.tweet_columns(rows) if len(rows) else {}
        texts = cols.get("text", [])
        ids = cols.get("id", [])
        need_entities = "entities" in wanted or want_mentions
        mention_lists = cols["mentions"] if need_entities else [None] * len(rows)
        tag_lists = cols["hashtags"] if "entities" in wanted else [None] * len(rows)
        langs = cols["lang"] if "lang" in wanted else None
        convs = cols["conversation_id"] if "conversation_id" in wanted else None
        reply_ids = cols["in_reply_to_user_id"] if "in_reply_to_user_id" in wanted else None
        ref_ids = cols["referenced_id"] if "referenced_tweets" in wanted else None
        metrics = {k: cols[k] for k in ix.tweet_metrics} if "public_metrics" in wanted else None
        impressions = cols["impression_count"] if metrics is not None else None

        out: list[dict[str, Any]] = []
        located: list[list[tuple[str, int | None]]] = []
        for i, row in enumerate(rows):
            text = texts[i] or ""
            obj: dict[str, Any] = {"id": ids[i], "text": text, "edit_history_tweet_ids": [ids[i]]}
            if "author_id" in wanted and ix.author_pos[row] >= 0:
                obj["author_id"] = ix.user_ids[ix.author_pos[row]]
            if "created_at" in wanted:
                obj["created_at"] = format_time(int(ix.created_ms[row]))
            if convs is not None:
                obj["conversation_id"] = convs[i] or ids[i]
            mentions: list[tuple[str, int | None]] = []
            if need_entities:
                entities, mentions = self._entities(text, mention_lists[i] or [], tag_lists[i])
                if "entities" in wanted and entities:
                    obj["entities"] = entities
            located.append(mentions)
            if reply_ids is not None and reply_ids[i]:
                obj["in_reply_to_user_id"] = reply_ids[i]
            if langs is not None and langs[i]:
                obj["lang"] = langs[i]
            if metrics is not None and impressions is not None:
                pm = {k: int(v[i] or 0) for k, v in metrics.items()}
                pm["impression_count"] = int(impressions[i] or 0)
                obj["public_metrics"] = pm
            if ref_ids is not None and ref_ids[i] and int(ix.kind[row]) in _REF_TYPES:
                obj["referenced_tweets"] = [
                    {"type": _REF_TYPES[int(ix.kind[row])], "id": ref_ids[i]}
                ]
            out.append(obj)
        return out, located

    def _entities(
        self, text: str, mention_ids: list[str], tags: list[str] | None
    ) -> tuple[dict[str, list[dict]], list[tuple[str, int | None]]]:
        ix = self.index
        lowered = text.lower()
        entities: dict[str, list[dict]] = {}
        located: list[tuple[str, int | None]] = []
        mentions: list[dict] = []
        cursor = 0
        for uid in mention_ids:
            pos = ix.find_user(uid)
            if pos is None or ix.user_state[pos] == DELETED:
                continue  # the account does not exist: X links no mention to it
            username = ix.usernames[pos]
            start = find_entity(text, lowered, "@", username, cursor)
            if start < 0:
                start = find_entity(text, lowered, "@", username, 0)
                if start < 0:
                    continue
            end = start + 1 + len(username)
            mentions.append(
                {"start": start, "end": end, "username": text[start + 1 : end], "id": uid}
            )
            located.append((text[start + 1 : end], pos))
            cursor = end
        hashtags: list[dict] = []
        cursor = 0
        for tag in tags or ():
            start = find_entity(text, lowered, "#", tag, cursor)
            if start < 0:
                continue
            end = start + 1 + len(tag)
            hashtags.append({"start": start, "end": end, "tag": text[start + 1 : end]})
            cursor = end
        if hashtags:
            entities["hashtags"] = sorted(hashtags, key=lambda e: e["start"])
        if mentions:
            entities["mentions"] = sorted(mentions, key=lambda e: e["start"])
        return entities, located

    # --- expansions ----------------------------------------------------------------------
    def expand_tweets(
        self,
        rows: np.ndarray,
        located: list[list[tuple[str, int | None]]],
        expansions: Iterable[str],
        tweet_fields: Iterable[str],
        user_fields: Iterable[str],
    ) -> Expanded:
        """``includes`` (users, tweets) and partial errors for the data tweets ``rows``."""
        ix = self.index
        wanted = set(expansions)
        user_fields = tuple(user_fields)
        tweet_fields = tuple(tweet_fields)
        out = Expanded()

        for i, row in enumerate(np.asarray(rows, dtype=np.int64)):
            if "author_id" in wanted and ix.author_pos[row] >= 0:
                pos = int(ix.author_pos[row])
                self._include_user(out, pos, "author_id", ix.user_ids[pos], user_fields)
            if "entities.mentions.username" in wanted:
                for username, pos in located[i]:
                    self._include_user(
                        out, pos, "entities.mentions.username", username, user_fields
                    )
            if "in_reply_to_user_id" in wanted and ix.reply_to_pos[row] >= 0:
                pos = int(ix.reply_to_pos[row])
                self._include_user(out, pos, "in_reply_to_user_id", ix.user_ids[pos], user_fields)
            elif "in_reply_to_user_id" in wanted:
                reply_id = ix.reply_to_id[int(row)].as_py()
                if reply_id:
                    self._include_user(out, None, "in_reply_to_user_id", reply_id, user_fields)

        want_refs = "referenced_tweets.id" in wanted
        want_ref_authors = "referenced_tweets.id.author_id" in wanted
        if want_refs or want_ref_authors:
            served: list[int] = []
            for row in np.asarray(rows, dtype=np.int64):
                if int(ix.kind[row]) not in _REF_TYPES or ix.ref_id[row] == 0:
                    continue
                ref_row = int(ix.ref_row[row])
                ref_id = str(int(ix.ref_id[row]))
                state = DELETED if ref_row < 0 else int(ix.tweet_author_state[ref_row])
                key = ("referenced_tweets.id", ref_id)
                if state == DELETED:
                    out.errors.setdefault(
                        key, problems.not_found("tweet", "referenced_tweets.id", ref_id, "includes")
                    )
                elif state in (PROTECTED, SUSPENDED):
                    out.errors.setdefault(
                        key,
                        problems.not_authorized(
                            "tweet", "referenced_tweets.id", ref_id, section="includes"
                        ),
                    )
                elif ref_row not in served:
                    served.append(ref_row)
            if want_refs and served:
                objs, _ = self.tweets(np.array(served, dtype=np.int64), tweet_fields)
                for ref_row, obj in zip(served, objs, strict=True):
                    out.tweets.setdefault(ref_row, obj)
            if want_ref_authors:
                for ref_row in served:
                    pos = int(ix.author_pos[ref_row])
                    self._include_user(
                        out, pos, "referenced_tweets.id.author_id", ix.user_ids[pos], user_fields
                    )
        return out

    def _include_user(
        self, out: Expanded, pos: int | None, parameter: str, value: str, fields: tuple[str, ...]
    ) -> None:
        state = self.index.user_state_of(pos)
        if state in (ACTIVE, PROTECTED) and pos is not None:
            if pos not in out.users:
                out.users[pos] = self.user(pos, fields)
        elif state == SUSPENDED:
            out.errors.setdefault(
                (parameter, value), problems.suspended(parameter, value, section="includes")
            )
        else:
            out.errors.setdefault(
                (parameter, value), problems.not_found("user", parameter, value, "includes")
            )
