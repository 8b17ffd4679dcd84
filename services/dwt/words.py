"""Counts in words a person reads: "1 member", "3,000 members" (never "member(s)")."""

from __future__ import annotations


def plural(count: int, word: str, many: str | None = None) -> str:
    """``count`` and ``word``, in the plural (``many``, else ``word`` + "s") unless one."""
    return f"{count:,} {word if count == 1 else many or word + 's'}"


def span(page: int, size: int, shown: int, total: int) -> str:
    """Which items of a list page ``page`` (of ``size`` each) shows: "21–40 of 57"."""
    first = page * size + 1
    return f"{first:,}–{first + shown - 1:,} of {total:,}"
