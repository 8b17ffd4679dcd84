"""The recent-search query language, the part the product uses, evaluated as numpy masks.

Supported: ``from:user``, ``to:user``, ``conversation_id:ID``, ``@user``, ``#tag``,
``is:retweet|reply|quote``, ``lang:xx``, ``retweets_of:user``, keywords and
``"exact phrases"`` (case-insensitive substring match, a simplification of X's tokenised
match), negation with ``-``, grouping with parentheses, implicit AND between terms and
``OR`` (AND binds tighter, as on X). Anything else is refused with X's error for an unknown
operator rather than silently matching nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np
import pyarrow.compute as pc

from .problems import InvalidRequest
from .store import QUOTE, REPLY, RETWEET, DataIndex

_TOKEN = re.compile(r'\(|\)|-?"[^"]*"|[^\s()]+')
_OPERATOR = re.compile(r"^(-?)([a-z_]+):(.+)$")
Mask = Callable[[DataIndex], np.ndarray]


class QueryError(ValueError):
    pass


def _invalid(query: str, reason: str) -> InvalidRequest:
    return InvalidRequest.one(
        "query", query, f"There were errors processing your request: {reason}"
    )


def compile_query(query: str) -> Mask:
    """Parse ``query`` into a function from the index to a boolean mask over all tweets.

    Raises :class:`InvalidRequest` (400) with X's wording for syntax errors.
    """
    if not query.strip():
        raise InvalidRequest.one("query", query, "The `query` query parameter can not be empty")
    if len(query) > 512:
        raise _invalid(query, "Rules must be no longer than 512 characters (at position 1)")
    tokens = _TOKEN.findall(query)
    try:
        parser = _Parser(tokens)
        mask = parser.parse_or()
        if parser.pos != len(tokens):
            raise QueryError(f"Unexpected '{tokens[parser.pos]}'")
    except QueryError as exc:
        raise _invalid(query, str(exc)) from None
    return mask


class _Parser:
    def __init__(self, tokens: list[str]) -> None:
        self.tokens = tokens
        self.pos = 0

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def parse_or(self) -> Mask:
        parts = [self.parse_and()]
        while self.peek() == "OR":
            self.pos += 1
            parts.append(self.parse_and())
        if len(parts) == 1:
            return parts[0]
        return lambda ix: np.logical_or.reduce([p(ix) for p in parts])

    def parse_and(self) -> Mask:
        parts: list[Mask] = []
        while self.peek() not in (None, ")", "OR"):
            parts.append(self.parse_unary())
        if not parts:
            raise QueryError("Ambiguous use of OR or an empty group")
        if len(parts) == 1:
            return parts[0]
        return lambda ix: np.logical_and.reduce([p(ix) for p in parts])

    def parse_unary(self) -> Mask:
        token = self.tokens[self.pos]
        if token == "(":
            self.pos += 1
            inner = self.parse_or()
            if self.peek() != ")":
                raise QueryError("Missing closing parenthesis")
            self.pos += 1
            return inner
        if token == "-" or token == "-(":
            raise QueryError("Negation must be followed by a term")
        self.pos += 1
        negate = token.startswith("-") and len(token) > 1
        mask = _atom(token[1:] if negate else token)
        if negate:
            return lambda ix: ~mask(ix)
        return mask


def _user_pos(ix: DataIndex, value: str) -> int | None:
    value = value.lstrip("@")
    if value.isdigit() and value in ix.user_pos:
        return ix.user_pos[value]
    return ix.find_username(value)


def _rows_mask(ix: DataIndex, rows: np.ndarray) -> np.ndarray:
    mask = np.zeros(ix.n_tweets, dtype=bool)
    mask[rows] = True
    return mask


def _atom(token: str) -> Mask:
    match = _OPERATOR.match(token)
    if token.startswith('"'):
        phrase = token.strip('"')
        return lambda ix: _contains(ix, phrase)
    if match is None:
        if token.startswith("#") and len(token) > 1:
            tag = token[1:]
            return lambda ix: _rows_mask(ix, ix.rows_with_tag(tag))
        if token.startswith("@") and len(token) > 1:
            name = token[1:]
            return lambda ix: _mentions(ix, name)
        return lambda ix: _contains(ix, token)
    _, operator, value = match.groups()
    if operator == "from":
        return lambda ix: _user_match(ix, ix.author_pos, value)
    if operator == "to":
        return lambda ix: _user_match(ix, ix.reply_to_pos, value)
    if operator == "conversation_id":
        if not value.isdigit():
            raise QueryError(f"Invalid value for operator 'conversation_id': '{value}'")
        return lambda ix: ix.conversation == int(value)
    if operator == "retweets_of":
        return lambda ix: (ix.kind == RETWEET) & _ref_author(ix, value)
    if operator == "is":
        kinds = {"retweet": RETWEET, "reply": REPLY, "quote": QUOTE}
        if value not in kinds:
            raise QueryError(f"Reference to invalid operator 'is:{value}'")
        return lambda ix: ix.kind == kinds[value]
    if operator == "lang":
        return lambda ix: np.asarray(
            pc.fill_null(pc.equal(ix.lang, value), False).to_numpy(zero_copy_only=False), dtype=bool
        )
    raise QueryError(
        f"Reference to invalid operator '{operator}'. Operator is not available in current "
        f"product or product packaging. Please refer to complete available operator list at "
        f"https://developer.twitter.com/en/docs/twitter-api/tweets/search/integrate/build-a-query#list."
    )


def _user_match(ix: DataIndex, column: np.ndarray, user: str) -> np.ndarray:
    pos = _user_pos(ix, user)
    if pos is None:
        return np.zeros(ix.n_tweets, dtype=bool)
    return column == pos


def _ref_author(ix: DataIndex, user: str) -> np.ndarray:
    pos = _user_pos(ix, user)
    if pos is None:
        return np.zeros(ix.n_tweets, dtype=bool)
    ref = ix.ref_row
    authors = np.where(ref >= 0, ix.author_pos[np.maximum(ref, 0)], -1)
    return authors == pos


def _mentions(ix: DataIndex, user: str) -> np.ndarray:
    pos = _user_pos(ix, user)
    if pos is None:
        return np.zeros(ix.n_tweets, dtype=bool)
    return _rows_mask(ix, ix.mention_rows[ix.mention_pos == pos])


def _contains(ix: DataIndex, needle: str) -> np.ndarray:
    if ix.n_tweets == 0:
        return np.zeros(0, dtype=bool)
    hit = pc.match_substring(ix.text, needle, ignore_case=True)
    return np.asarray(pc.fill_null(hit, False).to_numpy(zero_copy_only=False), dtype=bool)
