"""The X API v2 data model: field lists, interaction records and store documents."""

from dwt.model.documents import tweet_documents, user_document
from dwt.model.interactions import (
    IncludesIndex,
    Interaction,
    TweetFormatError,
    TweetKind,
    normalise_page,
    normalise_tweet,
    unknown_summary,
)

__all__ = [
    "IncludesIndex",
    "Interaction",
    "TweetFormatError",
    "TweetKind",
    "normalise_page",
    "normalise_tweet",
    "tweet_documents",
    "unknown_summary",
    "user_document",
]
