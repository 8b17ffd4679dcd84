"""What an action answers a person: a sentence that is either a success or an error.

A :class:`Reply` is a ``str`` (tests and callers compare its text) that also says whether it
reports a problem and, optionally, where to fix it (``link``: text and a path of this site).
Pages render it with :func:`dwt_dashboard.components.notice`, so an error never looks like a
success. :func:`usernames_from` reads what people paste into "add a member".
"""

from __future__ import annotations

import re
from typing import Self
from urllib.parse import urlsplit

#: Hosts whose profile links name an account in the path's first segment.
X_HOSTS = {"x.com", "twitter.com", "mobile.twitter.com", "mobile.x.com", "www.x.com",
           "www.twitter.com"}  # fmt: skip


class Reply(str):
    """A message for a person; ``error`` marks a refusal or a failure."""

    error: bool
    link: tuple[str, str] | None

    def __new__(
        cls, text: str, *, error: bool = False, link: tuple[str, str] | None = None
    ) -> Self:
        made = super().__new__(cls, text)
        made.error = error
        made.link = link
        return made

    @classmethod
    def fail(cls, text: str, link: tuple[str, str] | None = None) -> Reply:
        return cls(text, error=True, link=link)

    def __add__(self, other: str) -> Reply:  # joining keeps the worst outcome and a link
        error = self.error or bool(getattr(other, "error", False))
        link = self.link or getattr(other, "link", None)
        return Reply(str.__add__(self, other), error=error, link=link)


def is_error(message: object) -> bool:
    """Whether ``message`` reports a problem (a plain string is not)."""
    return bool(getattr(message, "error", False))


_SEPARATORS = re.compile(r"[\s,;]+")


def usernames_from(text: str | None) -> list[str]:
    """The usernames in what a person typed or pasted: ``name``, ``@name``,
    ``https://x.com/name`` (``twitter.com``, query strings and trailing paths too),
    separated by spaces, commas or new lines; duplicates dropped, order kept. Anything
    else is passed on as typed, for the lookup to call it invalid."""
    found: list[str] = []
    for word in _SEPARATORS.split(text or ""):
        if not word:
            continue
        candidate = word
        if "/" in word:
            parts = urlsplit(word if "://" in word else f"https://{word}")
            host = (parts.hostname or "").lower()
            segments = [s for s in parts.path.split("/") if s]
            if host in X_HOSTS and segments:
                candidate = segments[0]
        candidate = candidate.lstrip("@")
        if candidate and candidate.lower() not in {f.lower() for f in found}:
            found.append(candidate)
    return found
