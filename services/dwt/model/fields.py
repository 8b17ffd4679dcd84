"""The X API v2 fields and expansions the product asks for: one list, used by the client,
the emulator's defaults and the normaliser (which needs to know what was requested)."""

from __future__ import annotations

TWEET_FIELDS: tuple[str, ...] = (
    "author_id",
    "created_at",
    "conversation_id",
    "entities",
    "in_reply_to_user_id",
    "lang",
    "public_metrics",
    "referenced_tweets",
)
USER_FIELDS: tuple[str, ...] = ("created_at", "name", "protected", "public_metrics", "username")
EXPANSIONS: tuple[str, ...] = (
    "author_id",
    "entities.mentions.username",
    "in_reply_to_user_id",
    "referenced_tweets.id",
    "referenced_tweets.id.author_id",
)
#: Fields every v2 tweet carries whatever was requested.
DEFAULT_TWEET_FIELDS: tuple[str, ...] = ("id", "text", "edit_history_tweet_ids")
#: Fields every v2 user carries whatever was requested.
DEFAULT_USER_FIELDS: tuple[str, ...] = ("id", "name", "username")

#: What X accepts as a username (1–15 letters, digits or underscores).
USERNAME_PATTERN = r"^[A-Za-z0-9_]{1,15}$"
